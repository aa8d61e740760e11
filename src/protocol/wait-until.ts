import { EpdmaError } from '../device/errors.js';
import { Backoff, type BackoffPolicy } from './backoff.js';

/** A shared word the awaited side changes (and notifies, when it lives in this process). */
export interface AwaitedWord {
  readonly view: Int32Array;
  readonly index: number;
}

export interface WaitUntilOptions {
  /**
   * The word whose change ends a park early. Without one every park is a timer: the condition
   * is a register (hardware wakes nobody) or memory another process writes.
   */
  readonly word?: AwaitedWord;
  /** Deadline of the whole wait: ETIMEDOUT after one last check. */
  readonly timeoutMs: number;
  /** Aborting ends the wait with ESHUTDOWN. */
  readonly signal?: AbortSignal | undefined;
  /** Names the wait in the ETIMEDOUT / ESHUTDOWN message. */
  readonly what: string;
}

type ParkResult = 'ok' | 'not-equal' | 'timed-out' | 'aborted';

/**
 * One asynchronous park of at most `ms`. The timer is ref'd on purpose: Atomics.waitAsync
 * alone does not keep Node's event loop alive, and a program awaiting a probe must not exit
 * under it. Whatever ends the park first clears the rest.
 */
function park(word: AwaitedWord | undefined, sample: number, ms: number, signal: AbortSignal | undefined): Promise<ParkResult> {
  return new Promise<ParkResult>((resolve) => {
    let settled = false;
    const end = (result: ParkResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      resolve(result);
    };
    const onAbort = (): void => end('aborted');
    const timer = setTimeout(end, ms, 'timed-out');
    signal?.addEventListener('abort', onAbort, { once: true });
    if (word !== undefined) {
      const w = Atomics.waitAsync(word.view, word.index, sample, ms);
      if (w.async) void w.value.then(end);
      else end(w.value);
    }
  });
}

/**
 * The main thread's form of the one wait (it must never block, so it parks asynchronously):
 * resolves once `ready()` holds. `ready` runs at once and after every park; the word is
 * sampled before it, so a change between the check and the park ends the park at once. Parks
 * follow `policy`'s timeout ladder (doubling while nothing happens, reset by a wake), cut at
 * the deadline. A `ready` that throws ends the wait with its error (e.g. "the other side is
 * gone"). Rejects ETIMEDOUT naming `what` past the deadline, ESHUTDOWN on abort.
 */
export async function waitUntil(ready: () => boolean, policy: BackoffPolicy, o: WaitUntilOptions): Promise<void> {
  if (policy.spins !== 0) throw new EpdmaError('EINVAL', `${o.what}: a main-thread wait cannot spin (policy spins ${policy.spins})`);
  if (!(o.timeoutMs >= 0)) throw new EpdmaError('EINVAL', `${o.what}: timeoutMs ${o.timeoutMs} is not a duration`);
  const backoff = new Backoff(policy);
  const deadline = performance.now() + o.timeoutMs;
  for (;;) {
    if (o.signal?.aborted === true) throw new EpdmaError('ESHUTDOWN', `${o.what}: aborted`);
    const sample = o.word === undefined ? 0 : Atomics.load(o.word.view, o.word.index);
    if (ready()) return;
    const left = deadline - performance.now();
    if (left <= 0) throw new EpdmaError('ETIMEDOUT', `${o.what}: not within ${o.timeoutMs} ms`);
    const result = await park(o.word, sample, Math.min(backoff.currentParkMs, left), o.signal);
    if (result === 'aborted') throw new EpdmaError('ESHUTDOWN', `${o.what}: aborted`);
    backoff.parked(result);
  }
}
