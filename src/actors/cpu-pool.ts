/**
 * The piscina pool for short CPU jobs beside the channel actors: the NTB transport's CPU copy
 * below its copy threshold.
 *
 * It never hosts an actor. An actor is a long-lived loop that owns its worker (register state,
 * polling, a submission ring); a pool thread is borrowed per task, may be retired when idle, and
 * a task that never returns would block every copy queued behind it. Actors get their own
 * workers (src/actors); this pool only ever runs tasks that finish.
 *
 * Buffers are SharedArrayBuffers so the worker copies within the very memory the DMA
 * engines move: a posted SAB is shared, not copied, so there is nothing to transfer back.
 */
import { Piscina } from 'piscina';
import { EpdmaError } from '../device/errors.js';
import type { CopyTask, CpuTask } from '../protocol/cpu-task.js';

type Shared<T> = { [K in keyof T]: T[K] extends ArrayBufferLike ? SharedArrayBuffer : T[K] extends ArrayBufferLike | undefined ? SharedArrayBuffer | undefined : T[K] };

type PoolCopyTask = Shared<Omit<CopyTask, 'op'>>;

export interface CpuPoolOptions {
  /**
   * Default 1: on the 2-core machines this runs on, the channel actors own the cores; a second
   * copy thread would only steal time from the engines being measured.
   */
  maxThreads?: number;
  /** A thread idle this long exits (no thread is kept when nothing runs). Default 2000 ms. */
  idleTimeoutMs?: number;
}

export interface CpuPool {
  /** CPU copy of `length` bytes; resolves to the length. */
  copy(task: PoolCopyTask): Promise<number>;
  /** Threads currently alive (0 when idle long enough). */
  readonly threads: number;
  /** Tasks completed so far. */
  readonly completed: number;
  /** Stops the threads; tasks still queued reject. Idempotent. */
  close(): Promise<void>;
}

/** URL of the built task file next to this module (dist/workers/cpu-tasks.js). */
const CPU_TASKS_URL: string = new URL('../workers/cpu-tasks.js', import.meta.url).href;

export function createCpuPool(options: CpuPoolOptions = {}): CpuPool {
  const maxThreads = options.maxThreads ?? 1;
  if (!Number.isSafeInteger(maxThreads) || maxThreads < 1) {
    throw new EpdmaError('EINVAL', `maxThreads: ${String(maxThreads)} is not a positive integer`);
  }
  const idleTimeout = options.idleTimeoutMs ?? 2000;
  const piscina = new Piscina<CpuTask, number>({
    filename: CPU_TASKS_URL,
    minThreads: 0,
    maxThreads,
    idleTimeout,
  });
  let closing: Promise<void> | undefined;
  // Piscina emits 'error' for a result that arrives after destroy() dropped its task (a close
  // while tasks run) and for a thread that died idle. Unhandled, that event kills the process;
  // the tasks concerned were already rejected, so after close it is noise, before it a warning.
  piscina.on('error', (err: unknown) => {
    if (closing === undefined) process.emitWarning(`cpu pool: ${err instanceof Error ? err.message : String(err)}`);
  });
  const run = <R>(task: CpuTask): Promise<R> => {
    if (closing) return Promise.reject(new EpdmaError('ESHUTDOWN', `cpu pool: ${task.op} after close`));
    return piscina.run(task) as Promise<R>;
  };
  return {
    copy: (task) => run<number>({ ...task, op: 'copy' }),
    get threads() { return piscina.threads.length; },
    get completed() { return piscina.completed; },
    close() {
      closing ??= piscina.destroy();
      return closing;
    },
  };
}
