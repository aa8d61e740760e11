/**
 * One channel with the real main-thread handle (ChannelHandle), the real worker-side core
 * (ChannelCore), the real rings and control block, all in this thread, over a scripted
 * hardware whose DONE and ABORT the test raises: so sequences of the issue's notation
 * (G P(n) I Z R T D A, ll_max 2) run step by step, the worker acting between steps as a fast
 * worker would.
 *
 * Notation: G = configure (slave_config), P(n) = prep of n segments of SEGMENT_BYTES and
 * submit (P = P(1); P[a,b,...] = segments of those sizes), I = issuePending, Z = pause,
 * R = resume, T = terminateAsync, D / A = the hardware finishes the running chunk with DONE /
 * ABORT (nothing if no chunk runs), Y = synchronize.
 */
import { ChannelHandle } from '../../dist/api/dma-channel.js';
import type { Completion } from '../../dist/api/types.js';
import { EngineFault } from '../../dist/device/engine/engine-fault.js';
import { ChannelControlBlock } from '../../dist/protocol/channel-control-block.js';
import { ChannelCore, type ChunkHardware } from '../../dist/dw-edma/channel-core.js';
import { STATUS_ABORT, STATUS_DONE, STATUS_NONE } from '../../dist/dw-edma/channel-ops.js';
import type { DriverQuirks } from '../../dist/protocol/driver-quirks.js';
import { CompletionRing } from '../../dist/protocol/completion-ring.js';
import { SubmissionRing } from '../../dist/protocol/submission-ring.js';
import { EpdmaError } from '../../dist/device/errors.js';

export const LL_MAX = 2;
export const SEGMENT_BYTES = 3;
/** Where the scripted engine says it faulted (a destination it could not reach). */
export const FAULT_ADDR = 0x4_0000;

/** A chunk the core started: whether it programmed the channel (first) and its bytes. */
export interface ChunkStart {
  readonly first: boolean;
  readonly bytes: number;
  readonly elements: number;
}

class ScriptedHardware implements ChunkHardware {
  readonly llMax = LL_MAX;
  readonly starts: ChunkStart[] = [];
  running = false;
  private pending = STATUS_NONE;
  private bytes = 0;
  private elements = 0;

  writeElement(_i: number, _cb: boolean, _last: boolean, size: number): void {
    this.bytes += size;
    this.elements++;
  }

  writeLink(): void {}

  start(first: boolean): void {
    if (this.running) throw new Error('chunk started while one runs');
    this.starts.push({ first, bytes: this.bytes, elements: this.elements });
    this.bytes = 0;
    this.elements = 0;
    this.running = true;
  }

  status(): number {
    return this.pending;
  }

  clear(): void {
    this.pending = STATUS_NONE;
  }

  /** The running chunk ends; false if none runs. */
  finish(status: typeof STATUS_DONE | typeof STATUS_ABORT): boolean {
    if (!this.running) return false;
    this.running = false;
    this.pending = status;
    return true;
  }
}

const macrotask = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export interface StepOutcome {
  readonly op: string;
  /** The error code the operation failed with, if it did. */
  readonly error?: string;
}

export class ScriptedChannel {
  readonly hw = new ScriptedHardware();
  readonly control = ChannelControlBlock.create();
  readonly submissions = SubmissionRing.create(64);
  readonly completions = CompletionRing.create(128);
  readonly core: ChannelCore;
  readonly handle: ChannelHandle;
  /** Emitted on the channel's completions$ (the callbacks). */
  readonly callbacks: Completion[] = [];
  /** Emitted to the side (must equal callbacks). */
  readonly sideEmits: Completion[] = [];
  /** Every descriptor's settled `done`, in settling order. */
  readonly settled: Completion[] = [];
  readonly outcomes: StepOutcome[] = [];
  private readonly waiters: { done: () => boolean; resolve: (v: unknown) => void }[] = [];
  private readonly descriptors = new Map<number, Promise<Completion>>();
  private nextAddr = 0x1000;

  constructor(readonly quirks: DriverQuirks) {
    const control = this.control;
    this.core = new ChannelCore({
      ops: this.hw,
      direction: 'mem-to-dev',
      quirks,
      submissions: this.submissions,
      completions: this.completions,
      control,
      gate: null,
      lastFault: () => ({ code: EngineFault.DESTINATION_UNMAPPED, addr: FAULT_ADDR }),
      onPublish: () => undefined,
    });
    const waitFor = (done: () => boolean): Promise<unknown> => new Promise((resolve) => this.waiters.push({ done, resolve }));
    const core = this.core;
    const actor = {
      name: 'endpoint/wr0',
      quirks,
      llMax: LL_MAX,
      submissions: this.submissions,
      completions: this.completions,
      control,
      alive: true,
      state: 'running',
      kickWorker: () => undefined,
      // The worker's control plane: the same conditions channel-worker.ts waits for.
      call: (method: string): Promise<unknown> => {
        control.bumpControl();
        if (method === 'waitPaused') return waitFor(() => !core.pausePending).then(() => core.paused);
        if (method === 'terminate') return waitFor(() => control.terminatePending() === 0).then(() => core.flush());
        return Promise.reject(new Error(`scripted worker: no ${method}`));
      },
    };
    this.handle = new ChannelHandle(
      { side: 'endpoint', kind: 'write', hwChannel: 0, direction: 'mem-to-dev', name: 'endpoint/wr0' },
      actor as never,
      {
        sideName: 'endpoint',
        contains: () => true,
        emit: (c: Completion) => this.sideEmits.push(c),
        drainNow: () => this.completions.drain(this.handle.visit),
      },
    );
    this.handle.requested = true;
    this.handle.completions$.subscribe((c) => this.callbacks.push(c));
  }

  /** Runs the worker and the main thread's pump until neither has anything left to do. */
  async settle(): Promise<void> {
    for (let round = 0; round < 100; round++) {
      let did = false;
      for (let i = 0; i < 1000 && this.core.poll(); i++) did = true;
      if (this.core.flush()) did = true;
      if (this.completions.drain(this.handle.visit) > 0) did = true;
      for (let i = this.waiters.length - 1; i >= 0; i--) {
        const w = this.waiters[i]!;
        if (w.done()) {
          this.waiters.splice(i, 1);
          w.resolve(undefined);
          did = true;
        }
      }
      await macrotask();
      if (!did) return;
    }
    throw new Error('scripted channel did not settle');
  }

  /** Prep + submit of `sizes` (one segment each); returns the cookie. */
  prep(sizes: readonly number[], options?: { interrupt?: boolean }): number {
    const d = this.handle.prepSlaveSg(sizes.map((length) => {
      const addr = this.nextAddr;
      this.nextAddr += 0x100;
      return { addr, length };
    }), options);
    const cookie = d.submit();
    this.descriptors.set(cookie, d.done);
    void d.done.then((c) => this.settled.push(c));
    return cookie;
  }

  /** Runs one step of the notation (then lets the worker act). */
  async step(op: string): Promise<void> {
    let error: string | undefined;
    const code = (err: unknown): string => (err instanceof EpdmaError ? err.code : String(err));
    const m = /^P(?:\((\d+)\)|\[([\d,]+)\])?$/.exec(op);
    try {
      if (m !== null) {
        const sizes = m[2] !== undefined ? m[2].split(',').map(Number) : Array.from({ length: Number(m[1] ?? 1) }, () => SEGMENT_BYTES);
        this.prep(sizes);
      } else if (op === 'G') this.handle.configure({ deviceAddr: 0x10_0000 });
      else if (op === 'IZ') {
        // issuePending and pause with no worker step in between.
        this.handle.issuePending();
        error = await this.refusal(this.handle.pause());
      }
      else if (op === 'I') this.handle.issuePending();
      else if (op === 'Z' || op === 'R' || op === 'Y') {
        // Accepted or refused at once; a pause resolves later, when it took effect.
        error = await this.refusal(op === 'Z' ? this.handle.pause() : op === 'R' ? this.handle.resume() : this.handle.synchronize());
      } else if (op === 'T') this.handle.terminateAsync();
      else if (op === 'D') this.hw.finish(STATUS_DONE);
      else if (op === 'A') this.hw.finish(STATUS_ABORT);
      else throw new Error(`unknown step ${op}`);
    } catch (err) {
      error = code(err);
    }
    this.outcomes.push(error === undefined ? { op } : { op, error });
    await this.settle();
  }

  /** The code a control call was refused with at once, or undefined (it may still be pending). */
  private async refusal(p: Promise<unknown>): Promise<string | undefined> {
    let failed: unknown;
    p.catch((err: unknown) => (failed = err));
    await macrotask();
    return failed === undefined ? undefined : failed instanceof EpdmaError ? failed.code : String(failed);
  }

  async run(sequence: string): Promise<void> {
    for (const op of sequence.split(/\s+/).filter((s) => s !== '')) await this.step(op);
  }

  /** txStatus of every cookie handed out so far, as 'cookie:status:residue'. */
  statuses(): string[] {
    return [...this.descriptors.keys()].map((cookie) => {
      const s = this.handle.txStatus(cookie);
      return `${cookie}:${s.status}:${s.residue}`;
    });
  }

  /** Failed steps as 'index:op:code' (index from 0). */
  errors(): string[] {
    return this.outcomes.flatMap((o, i) => (o.error === undefined ? [] : [`${i}:${o.op}:${o.error}`]));
  }

  /** Chunk starts as F (first: programs the channel) and N (next: doorbell only). */
  startKinds(): string {
    return this.hw.starts.map((s) => (s.first ? 'F' : 'N')).join('');
  }
}

/** 'cookie:result:residue' of completions (with the reason when not ok). */
export function brief(list: readonly Completion[]): string[] {
  return list.map((c) => `${c.cookie}:${c.result}:${c.residue}${c.reason !== undefined ? `:${c.reason}` : ''}`);
}
