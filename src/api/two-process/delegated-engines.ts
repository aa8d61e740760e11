import { Worker } from 'node:worker_threads';
import { EpdmaError } from '../../device/errors.js';
import { MmioRegisterFile } from '../../device/regs/register-file.js';
import { crossProcessWake } from '../../native/native-addon.js';
import { BACKOFF } from '../../protocol/backoff.js';
import { ENGINE_CTL, ENGINE_CTL_BYTES, type EngineWorkerData } from '../../protocol/engine-worker-data.js';
import { waitUntil } from '../../protocol/wait-until.js';

const WORKER_URL = new URL('../../workers/engine-worker.js', import.meta.url);
const MAX_RESTARTS = 3;
const JOIN_TIMEOUT_MS = 2000;

/**
 * The endpoint process's main-thread side of the engine worker that runs the delegated
 * channels' engines. Restarts the worker if it dies (at most a few times: the engines reset
 * and a host's chunk in flight never completes, which is why the crash is logged loudly).
 * Every reset of the engines, on request or by a restart, is counted in `resets` (control.mem
 * EP_RESETS) once it is done: the attached host reports it and gives the chunks it had in
 * flight a deadline instead of waiting forever.
 */
export class DelegatedEngines {
  private readonly data: EngineWorkerData;
  private readonly ctl: Int32Array;
  private readonly wakeView: Int32Array;
  private readonly log: (line: string) => void;
  private worker: Worker | undefined;
  private exited: Promise<void> = Promise.resolve();
  private closing = false;
  private restarts = 0;

  private readonly resets: { readonly view: Int32Array; readonly index: number };

  constructor(data: Omit<EngineWorkerData, 'control'>, log: (line: string) => void, resets: { view: Int32Array; index: number }) {
    const control = new SharedArrayBuffer(ENGINE_CTL_BYTES);
    this.data = { ...data, control };
    this.ctl = new Int32Array(control);
    this.wakeView = new MmioRegisterFile(data.registers, data.mapFormat).shadowWords;
    this.log = log;
    this.resets = resets;
  }

  get sleeps(): number {
    return Atomics.load(this.ctl, ENGINE_CTL.SLEEPS);
  }

  start(): void {
    const w = new Worker(WORKER_URL, { workerData: this.data, name: 'epdma delegated engines' });
    this.worker = w;
    let reason = '';
    w.once('error', (err) => {
      reason = err instanceof Error ? err.message : String(err);
    });
    this.exited = new Promise((resolve) => {
      w.once('exit', (code) => {
        if (this.worker === w) this.worker = undefined;
        // A reset waiting for this worker's acknowledgement re-checks now, not at its timeout.
        Atomics.notify(this.ctl, ENGINE_CTL.RESET_ACK);
        resolve();
        if (this.closing) return;
        this.log(`engine worker exited unexpectedly (${reason !== '' ? reason : `code ${code}`})`);
        if (this.restarts++ < MAX_RESTARTS) {
          this.start();
          this.reset().catch((err: unknown) => this.log(`engine reset after the restart failed: ${err instanceof Error ? err.message : String(err)}`));
        }
      });
    });
  }

  private wake(): void {
    Atomics.add(this.wakeView, MmioRegisterFile.ENGINE_WAKE_INDEX, 1);
    crossProcessWake(this.wakeView, MmioRegisterFile.ENGINE_WAKE_INDEX);
  }

  /**
   * Resets every delegated engine (the host that used them is gone); resolves when done. A
   * later reset's acknowledgement covers this one too (the worker acknowledges the latest request).
   */
  async reset(timeoutMs = 2000): Promise<void> {
    const req = Atomics.add(this.ctl, ENGINE_CTL.RESET_REQ, 1) + 1;
    this.wake();
    await waitUntil(() => {
      if (((Atomics.load(this.ctl, ENGINE_CTL.RESET_ACK) - req) | 0) >= 0) return true;
      if (this.worker === undefined) throw new EpdmaError('ESHUTDOWN', 'delegated engines: the engine worker is not running');
      return false;
    }, BACKOFF.engineResetAck, {
      word: { view: this.ctl, index: ENGINE_CTL.RESET_ACK },
      timeoutMs,
      what: 'delegated engines: reset acknowledgement',
    });
    Atomics.add(this.resets.view, this.resets.index, 1);
  }

  /** Stops the worker and joins it. Idempotent. */
  async close(): Promise<void> {
    this.closing = true;
    Atomics.store(this.ctl, ENGINE_CTL.EXIT, 1);
    this.wake();
    const w = this.worker;
    if (w === undefined) return this.exited;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), JOIN_TIMEOUT_MS);
    });
    const late = await Promise.race([this.exited.then(() => false), timedOut]);
    clearTimeout(timer);
    if (late) await w.terminate();
    await this.exited;
  }
}
