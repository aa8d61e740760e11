/**
 * Peer: plain worker threads doing TypedArray.prototype.set on shared memory, one and two in
 * parallel. With the main-thread copy this is the machine's limit for JS copies on shared
 * memory, the ceiling any worker-based copier (epdma's channel workers included) can approach.
 *
 * The workers are started once per scenario and driven by Atomics (set-worker.ts), so a
 * measurement contains the copies and one wake-up, never a thread start or a postMessage. Each
 * worker copies its own `depth` slots of `size` bytes, like one channel with its own buffers.
 *
 * The same parked workers are the floor of the idle scenario: threads blocked in Atomics.wait.
 */
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { processCpuTimeUs, sleep } from '../harness.js';
import {
  SetWorkerCommand,
  SetWorkerControl,
  controlBytes,
  type SetWorkerCommandCode,
  type SetWorkerConfig,
  type SetWorkerData,
} from './workers/set-worker-protocol.js';

export const workerSetName = (workers: number): string => `worker-set-${workers}`;
export const PARKED_WORKERS = 'parked-workers';

const SET_WORKER_URL = new URL('./workers/set-worker.js', import.meta.url);
/** A failure deadline, not a measurement: thread starts take seconds on a loaded machine. */
const COMMAND_TIMEOUT_MS = 30_000;

export class WorkerCopyGroup {
  readonly workers: readonly Worker[];
  private readonly ctl: Int32Array;
  private failure: Error | undefined;
  private size = 0;

  private constructor(count: number) {
    this.ctl = new Int32Array(new SharedArrayBuffer(controlBytes(count)));
    const workers: Worker[] = [];
    for (let index = 0; index < count; index++) {
      const workerData: SetWorkerData = { control: this.ctl.buffer as SharedArrayBuffer, index };
      const worker = new Worker(SET_WORKER_URL, { workerData });
      worker.on('error', (err) => {
        this.failure ??= err;
      });
      workers.push(worker);
    }
    this.workers = workers;
  }

  /** Starts `count` workers and returns once every one of them is up and parked. */
  static async start(count: number): Promise<WorkerCopyGroup> {
    const group = new WorkerCopyGroup(count);
    try {
      await group.command(SetWorkerCommand.Ping);
    } catch (err) {
      await group.close();
      throw err;
    }
    return group;
  }

  /** Gives every worker its own `depth` slots of `size` bytes (pages touched before timing). */
  async configure(size: number, depth: number): Promise<void> {
    for (const worker of this.workers) {
      const src = new SharedArrayBuffer(size * depth);
      const dst = new SharedArrayBuffer(size * depth);
      new Uint8Array(src).fill(0x5a);
      new Uint8Array(dst).fill(0);
      const config: SetWorkerConfig = { src, dst, size, depth };
      worker.postMessage(config);
    }
    this.size = size;
    await this.command(SetWorkerCommand.Configure);
  }

  /** All workers copy in parallel for about `durationMs`; returns their summed bytes/s. */
  async bandwidth(durationMs: number): Promise<number> {
    if (this.size === 0) throw new Error('worker-set: bandwidth() before configure()');
    Atomics.store(this.ctl, SetWorkerControl.Stop, 0);
    const t0 = performance.now();
    const done = this.command(SetWorkerCommand.Run);
    await sleep(durationMs);
    Atomics.store(this.ctl, SetWorkerControl.Stop, 1);
    await done;
    const wallMs = performance.now() - t0;
    let copies = 0;
    for (let i = 0; i < this.workers.length; i++) copies += Atomics.load(this.ctl, SetWorkerControl.Copies + i);
    return ((copies * this.size) / wallMs) * 1000;
  }

  /** Bumps the generation with `code` and waits until every worker has answered it. */
  private async command(code: SetWorkerCommandCode): Promise<void> {
    const { ctl } = this;
    const count = this.workers.length;
    Atomics.store(ctl, SetWorkerControl.Done, 0);
    Atomics.store(ctl, SetWorkerControl.Command, code);
    Atomics.add(ctl, SetWorkerControl.Generation, 1);
    Atomics.notify(ctl, SetWorkerControl.Generation);
    const deadline = performance.now() + COMMAND_TIMEOUT_MS;
    for (;;) {
      if (this.failure) throw this.failure;
      const done = Atomics.load(ctl, SetWorkerControl.Done);
      if (done === count) return;
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`worker-set: ${count - done} of ${count} workers did not answer command ${code}`);
      // A bounded wait so an 'error' event (a worker that died) is seen between waits.
      const wait = Atomics.waitAsync(ctl, SetWorkerControl.Done, done, Math.min(left, 100));
      if (wait.async) await wait.value;
    }
  }

  /** Asks the workers to return, then terminates any that did not; idempotent. */
  async close(): Promise<void> {
    Atomics.store(this.ctl, SetWorkerControl.Command, SetWorkerCommand.Exit);
    Atomics.add(this.ctl, SetWorkerControl.Generation, 1);
    Atomics.notify(this.ctl, SetWorkerControl.Generation);
    await Promise.all(this.workers.map((worker) => worker.terminate()));
  }
}

/**
 * CPU used by the whole process, in % of one core, while `count` plain workers sit parked in
 * Atomics.wait for `durationMs`: what an idle set of worker threads costs at best.
 */
export async function measureParkedWorkersCpu(count: number, durationMs: number, reps: number): Promise<number[]> {
  const group = await WorkerCopyGroup.start(count);
  try {
    const values: number[] = [];
    for (let rep = 0; rep < reps; rep++) {
      const cpu0 = processCpuTimeUs();
      const t0 = performance.now();
      await sleep(durationMs);
      const wallUs = (performance.now() - t0) * 1000;
      values.push(((processCpuTimeUs() - cpu0) / wallUs) * 100);
    }
    return values;
  } finally {
    await group.close();
  }
}
