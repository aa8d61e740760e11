/**
 * Peer: piscina, one task per 64-byte copy on SharedArrayBuffers. The pool gets the buffers
 * once as workerData, so a task is just its slot number; completions come back as piscina's
 * promises and are fed to the driver (small-copy-peer.ts) that pushes them to a subscriber.
 *
 * Threads: one by default, the worker count of epdma's one channel in the small-ops and latency
 * scenarios (on 2 cores a second pool thread only competes with the main thread that feeds it).
 * piscina keeps every thread alive for the whole measurement (minThreads = maxThreads).
 *
 * Concurrency 64 is piscina's own: concurrentTasksPerWorker = 64, so the pool posts up to 64
 * tasks to its thread without waiting for each answer, the way epdma fills a ring. With the
 * default of 1 a pool thread gets its next task only after the previous answer came back, which
 * measured 2-4x slower here; the bench gives each peer its best honest setting.
 */
import { Piscina } from 'piscina';
import { smallCopyBuffers, type SmallCopyPeer } from './small-copy-peer.js';

export const PISCINA = 'piscina';
/** Tasks in flight in the small-ops scenario (the concurrency for piscina). */
export const PISCINA_CONCURRENCY = 64;

const TASK_URL = new URL('./workers/piscina-copy-task.js', import.meta.url).href;

export interface PiscinaPeerOptions {
  /** Slots in the shared buffers (>= the tasks in flight). Default 64. */
  slots?: number;
  threads?: number;
  /** Tasks piscina hands to one thread at a time. Default PISCINA_CONCURRENCY. */
  concurrentTasksPerWorker?: number;
}

export function createPiscinaPeer(options: PiscinaPeerOptions = {}): SmallCopyPeer {
  const slots = options.slots ?? PISCINA_CONCURRENCY;
  const threads = options.threads ?? 1;
  const pool = new Piscina<number, number>({
    filename: TASK_URL,
    workerData: smallCopyBuffers(slots),
    minThreads: threads,
    maxThreads: threads,
    concurrentTasksPerWorker: options.concurrentTasksPerWorker ?? PISCINA_CONCURRENCY,
    // Never let a thread retire between repetitions: a restart would land inside a measurement.
    idleTimeout: 60_000,
    // maxQueue stays unbounded (the default): 64 tasks in flight must queue, not be rejected.
  });
  let done: (slot: number) => void = () => undefined;
  let fail: (err: unknown) => void = () => undefined;
  let closing: Promise<void> | undefined;
  return {
    name: PISCINA,
    slots,
    listen(onDone, onFail) {
      done = onDone;
      fail = onFail;
    },
    submit(slot) {
      pool.run(slot).then(done, fail);
    },
    close() {
      closing ??= pool.destroy();
      return closing;
    },
  };
}
