import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { parentPort, type MessagePort, type Worker } from 'node:worker_threads';
import { EpdmaError, type EpdmaErrorCode } from '../device/errors.js';

/**
 * The control plane between an actor handle and its worker: configure, pause, resume,
 * terminate, stats, register dumps. Rare calls, so comlink's message round trip is fine here;
 * the data plane never goes through it.
 *
 * Plain comlink waits forever when the worker dies or never answers. This wrapper makes every
 * call settle: ESHUTDOWN when the worker exits first (or had already exited), ETIMEDOUT after
 * the deadline, and an EpdmaError thrown in the worker comes back as an EpdmaError with its code.
 */

const DEFAULT_CONTROL_TIMEOUT_MS = 5000;
const DEFAULT_BOOT_TIMEOUT_MS = 60_000;

type AnyFunction = (...args: never[]) => unknown;

/** The method names of T (properties that are functions). */
type ControlMethod<T> = {
  [K in keyof T]-?: T[K] extends AnyFunction ? K : never;
}[keyof T] &
  string;
type ControlArgs<F> = F extends (...args: infer A) => unknown ? A : never;
type ControlResult<F> = F extends (...args: never[]) => infer R ? Awaited<R> : never;

export interface ControlClientOptions {
  /** Names the worker in error messages, e.g. 'host/rd0'. */
  readonly name: string;
  /** Deadline of each call in ms (default 5000). */
  readonly timeoutMs?: number;
  /**
   * Deadline of calls made before the worker first answered (default 60000): a new worker
   * thread loads its modules first, which on a loaded 2-core machine takes more than a call.
   */
  readonly bootTimeoutMs?: number;
  /**
   * Called after every request is posted. A channel worker parked in Atomics.wait does not run
   * its event loop, so pass its KickWord.kick here to make it come back and read the request.
   */
  readonly wake?: () => void;
}

export interface ControlClient<T> {
  readonly name: string;
  /** Calls `method` in the worker. Arguments and result must be structured-cloneable. */
  call<K extends ControlMethod<T>>(method: K, ...args: ControlArgs<T[K]>): Promise<ControlResult<T[K]>>;
  /** Calls in flight. */
  readonly pending: number;
  /**
   * Detaches from the worker: calls in flight reject with ESHUTDOWN, later calls too, and the
   * listeners this client put on the worker are removed. The worker itself keeps running.
   */
  dispose(): void;
}

interface PendingCall {
  readonly method: string;
  readonly reject: (error: unknown) => void;
  timer: NodeJS.Timeout | undefined;
}

/**
 * An EpdmaError as it crosses the worker boundary. comlink sends a thrown Error as { name,
 * message, stack } only, so the worker side throws this plain object instead (structured clone
 * keeps every field) and this side rebuilds the EpdmaError from its fields: the code travels as
 * data, never parsed out of the message.
 */
interface WireError {
  readonly epdmaError: { readonly code: EpdmaErrorCode; readonly text: string; readonly stack: string | undefined };
}

function toWire(error: unknown): unknown {
  return error instanceof EpdmaError ? { epdmaError: { code: error.code, text: error.text, stack: error.stack } } satisfies WireError : error;
}

function fromRemoteError(error: unknown): unknown {
  const wire = (error as Partial<WireError> | null)?.epdmaError;
  if (wire === undefined) return error;
  const rebuilt = new EpdmaError(wire.code, wire.text);
  if (wire.stack !== undefined) rebuilt.stack = wire.stack;
  return rebuilt;
}

type Listener = Parameters<Comlink.Endpoint['addEventListener']>[1];

export function createControlClient<T>(worker: Worker, options: ControlClientOptions): ControlClient<T> {
  const { name } = options;
  let wake = options.wake;
  const timeoutMs = options.timeoutMs ?? DEFAULT_CONTROL_TIMEOUT_MS;
  const bootTimeoutMs = options.bootTimeoutMs ?? DEFAULT_BOOT_TIMEOUT_MS;
  if (!(timeoutMs > 0) || !(bootTimeoutMs > 0)) {
    throw new EpdmaError('EINVAL', `${name}: control timeoutMs ${timeoutMs} / bootTimeoutMs ${bootTimeoutMs} must be > 0`);
  }
  /** Until the worker answered once, calls wait for it to boot. */
  let booted = false;

  // Track the listeners comlink adds so dispose() can take them off the worker again.
  const base = nodeEndpoint(worker);
  let disposed = false;
  const added: Listener[] = [];
  const endpoint: Comlink.Endpoint = {
    postMessage: (message, transfer) => {
      // Once disposed nothing reaches the worker: not even comlink's RELEASE (below), which
      // would make the worker stop serving every other client too.
      if (!disposed) base.postMessage(message, transfer);
    },
    addEventListener: (type, listener, opts) => {
      added.push(listener);
      base.addEventListener(type, listener, opts);
    },
    removeEventListener: (type, listener, opts) => {
      const i = added.indexOf(listener);
      if (i >= 0) added.splice(i, 1);
      base.removeEventListener(type, listener, opts);
    },
  };
  const remote = Comlink.wrap<Record<string, (...args: unknown[]) => Promise<unknown>>>(endpoint);

  const calls = new Set<PendingCall>();
  // Node keeps no exit code on a Worker, only threadId -1 once its thread is gone; a worker that
  // exited before this client existed therefore reports 'code unknown'.
  let exitCode: number | undefined;

  const settle = (call: PendingCall): boolean => {
    if (!calls.delete(call)) return false;
    if (call.timer !== undefined) clearTimeout(call.timer);
    return true;
  };

  const shutdownError = (method: string): EpdmaError =>
    disposed
      ? new EpdmaError('ESHUTDOWN', `${name}: control client disposed during ${method}`)
      : new EpdmaError(
          'ESHUTDOWN',
          `${name}: worker exited (code ${exitCode ?? 'unknown'}) during ${method}`,
          exitCode,
        );

  const failAll = (): void => {
    for (const call of [...calls]) {
      settle(call);
      call.reject(shutdownError(call.method));
    }
  };

  const onExit = (code: number): void => {
    exitCode = code;
    failAll();
  };
  worker.on('exit', onExit);

  return {
    name,
    get pending() {
      return calls.size;
    },
    call(method, ...args) {
      if (disposed || exitCode !== undefined || worker.threadId === -1) {
        return Promise.reject(shutdownError(method));
      }
      return new Promise((resolve, reject) => {
        const call: PendingCall = { method, reject, timer: undefined };
        calls.add(call);
        const deadline = booted ? timeoutMs : bootTimeoutMs;
        call.timer = setTimeout(() => {
          if (settle(call)) {
            reject(new EpdmaError('ETIMEDOUT', `${name}: ${method} did not answer within ${deadline} ms${booted ? '' : ' (worker start)'}`));
          }
        }, deadline);
        // comlink's proxy turns any property into a remote call; an unknown method fails in
        // the worker (TypeError) and comes back as a rejection.
        let answer: Promise<unknown>;
        try {
          answer = remote[method]!(...(args as unknown[]));
        } catch (error) {
          settle(call);
          throw error;
        }
        answer.then(
          (value) => {
            booted = true;
            if (settle(call)) resolve(value as ControlResult<T[typeof method]>);
          },
          (error: unknown) => {
            booted = true;
            if (settle(call)) reject(fromRemoteError(error));
          },
        );
        wake?.();
      });
    },
    dispose() {
      if (disposed) return;
      disposed = true;
      failAll();
      worker.off('exit', onExit);
      // comlink registers every proxy in a FinalizationRegistry whose held value is the
      // endpoint, and the endpoint reaches the proxy again (postMessage -> worker, wake ->
      // actor -> this client): the registry would keep the actor, its rings and the whole
      // testbed alive forever. Releasing unregisters it (its RELEASE message is dropped by
      // the endpoint above); `wake` is dropped so nothing here points back at the actor.
      remote[Comlink.releaseProxy]();
      for (const listener of [...added]) endpoint.removeEventListener('message', listener);
      wake = undefined;
    },
  };
}

/**
 * Worker side: serves `obj`'s methods to the control client over `port` (the worker's
 * parentPort by default). Methods may return values or promises; a thrown EpdmaError reaches
 * the caller with its code.
 */
export function exposeControl(obj: object, port: MessagePort | null = parentPort): void {
  if (port === null) {
    throw new EpdmaError('EINVAL', 'exposeControl: not in a worker thread (parentPort is null)');
  }
  // Every method's EpdmaError leaves the worker as a WireError (see toWire).
  const api: Record<string, unknown> = {};
  for (let o: object | null = obj; o !== null && o !== Object.prototype; o = Object.getPrototypeOf(o)) {
    for (const key of Object.getOwnPropertyNames(o)) {
      const value = (obj as Record<string, unknown>)[key];
      if (key === 'constructor' || key in api || typeof value !== 'function') continue;
      api[key] = async (...args: unknown[]): Promise<unknown> => {
        try {
          return await (value as (...a: unknown[]) => unknown).apply(obj, args);
        } catch (error) {
          throw toWire(error);
        }
      };
    }
  }
  Comlink.expose(api, nodeEndpoint(port));
}
