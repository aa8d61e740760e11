import { EngineFault } from '../../device/engine/engine-fault.js';
import type { CompletionRing } from '../rings/completion-ring.js';
import { Reason, RESULT_ABORTED, RESULT_OK } from '../rings/completion-ring.js';
import type { SubmissionRing } from '../rings/submission-ring.js';
import { CHANNEL_BUSY, CHANNEL_IDLE, CHANNEL_PAUSED, type ChannelControlBlock } from '../channel-control-block.js';
import { STATUS_ABORT, STATUS_NONE, type ChannelOps } from './channel-ops.js';
import type { TraceRing } from '../rings/trace-ring.js';

export type Direction = 'mem-to-dev' | 'dev-to-mem';

/** Something to Atomics.wait on for a short nap. */
const napCell = new Int32Array(new SharedArrayBuffer(4));

const REQ_NONE = 0;
const REQ_STOP = 1;
const REQ_PAUSE = 2;

/** Where a channel may run: e.g. the host's view of READY (metadata CTRL bit 31). */
export interface LinkGate {
  readonly view: Int32Array;
  readonly index: number;
  readonly mask: number;
}

export interface ChannelCoreCounters {
  descriptors: number;
  aborted: number;
  terminated: number;
  chunks: number;
  bytes: number;
  gateWaits: number;
}

const FAULT_REASON: Record<number, number> = {
  [EngineFault.SOURCE_UNMAPPED]: Reason.SOURCE_NOT_MAPPED,
  [EngineFault.DESTINATION_UNMAPPED]: Reason.DESTINATION_NOT_MAPPED,
  [EngineFault.LL_OUTSIDE_REGION]: Reason.LL_ELEMENT_OUTSIDE_REGION,
  [EngineFault.LL_LOOP]: Reason.LL_ELEMENT_OUTSIDE_REGION,
  [EngineFault.CHANNEL_DISABLED]: Reason.ENGINE_DISABLED,
  [EngineFault.STOPPED]: Reason.TERMINATED,
};

/**
 * The generic dw-edma channel core for one channel (dw-edma-core.c, reference 6.4-6.5), fed
 * from the submission ring and reporting to the completion ring:
 *
 * descriptor (bursts = segments) -> chunks of at most ll_max bursts, CB alternating per
 * chunk from 1 -> LL written, started (first chunk programs the channel) -> DONE: next chunk,
 * or the cookie completes and the next descriptor starts -> ABORT: the cookie completes
 * 'aborted' and the channel goes IDLE until the next issuePending, as in the kernel.
 * Pause and stop requests take effect at chunk boundaries. Residue is descriptor-granular
 * (alloc_sz - xfer_sz, xfer_sz growing as chunks start).
 *
 * Only the descriptor in flight is taken out of the submission ring, so after a worker crash
 * the main thread knows exactly which cookie was in flight (the ring's tail says so) and the
 * queued ones are still in the ring for the restarted worker.
 */
export class ChannelCore {
  readonly counters: ChannelCoreCounters = { descriptors: 0, aborted: 0, terminated: 0, chunks: 0, bytes: 0, gateWaits: 0 };

  private readonly ops: ChannelOps;
  private readonly memToDev: boolean;
  private readonly sub: SubmissionRing;
  private readonly comp: CompletionRing;
  private readonly ctl: ChannelControlBlock;
  private readonly gate: LinkGate | null;
  private readonly faultOf: () => { code: number; addr: number };
  private readonly onPublish: () => void;
  /** Chunk records for the trace file; null (one branch per chunk) when tracing is off. */
  private readonly trace: TraceRing | null;

  private status = CHANNEL_IDLE;
  private request = REQ_NONE;
  /** After an ABORT the kernel goes IDLE; the next issue_pending restarts the queue. */
  private abortIssueSeq = -1;

  // The descriptor in flight, copied out of the ring (preallocated, nothing per descriptor).
  private cookie = 0;
  private deviceAddr = 0;
  private nseg = 0;
  private readonly segAddr: Float64Array;
  private readonly segLen: Float64Array;
  private alloc = 0;
  private xfer = 0;
  private done = 0;
  private nextSeg = 0;
  private chunksAlloc = 0;
  private deviceCursor = 0;
  private chunkBytes = 0;
  private chunkRunning = false;

  constructor(options: {
    ops: ChannelOps;
    direction: Direction;
    submissions: SubmissionRing;
    completions: CompletionRing;
    control: ChannelControlBlock;
    gate: LinkGate | null;
    lastFault: () => { code: number; addr: number };
    /** Called after completion records were published (rings the side's completion doorbell). */
    onPublish: () => void;
    trace?: TraceRing | null;
  }) {
    this.ops = options.ops;
    this.memToDev = options.direction === 'mem-to-dev';
    this.sub = options.submissions;
    this.comp = options.completions;
    this.ctl = options.control;
    this.gate = options.gate;
    this.faultOf = options.lastFault;
    this.onPublish = options.onPublish;
    this.trace = options.trace ?? null;
    this.segAddr = new Float64Array(this.sub.maxSegments);
    this.segLen = new Float64Array(this.sub.maxSegments);
  }

  get busy(): boolean {
    return this.status !== CHANNEL_IDLE;
  }

  /** A chunk is on the hardware: the loop must keep polling the status register. */
  get waitingForHardware(): boolean {
    return this.chunkRunning;
  }

  /** Work the loop could do right now without hardware progress. */
  hasWork(): boolean {
    if (this.chunkRunning) return true;
    if (this.status === CHANNEL_BUSY) return this.gateOpen();
    if (this.status === CHANNEL_IDLE) return this.sub.available() > 0 && (this.abortIssueSeq < 0 || this.ctl.issueSeq() !== this.abortIssueSeq);
    return false;
  }

  private gateOpen(): boolean {
    const g = this.gate;
    return g === null || (Atomics.load(g.view, g.index) & g.mask) !== 0;
  }

  /** One step of the channel. True if it did something. */
  poll(): boolean {
    if (this.chunkRunning) return this.pollChunk();
    if (this.status === CHANNEL_BUSY) {
      // Between chunks of a descriptor, waiting for the link to come back.
      if (!this.gateOpen()) return false;
      this.startChunk(false);
      return true;
    }
    if (this.status !== CHANNEL_IDLE) return false;
    return this.takeNext();
  }

  private pollChunk(): boolean {
    const st = this.ops.status();
    if (st === STATUS_NONE) return false;
    this.ops.clear(st);
    this.chunkRunning = false;
    if (st === STATUS_ABORT) {
      const fault = this.faultOf();
      this.complete(RESULT_ABORTED, FAULT_REASON[fault.code] ?? Reason.NONE, fault.addr);
      this.request = REQ_NONE;
      this.setStatus(CHANNEL_IDLE);
      this.abortIssueSeq = this.ctl.issueSeq();
      return true;
    }
    this.done += this.chunkBytes;
    this.counters.chunks++;
    if (this.request === REQ_STOP) {
      this.finishStop();
      return true;
    }
    if (this.request === REQ_PAUSE) {
      this.request = REQ_NONE;
      this.setStatus(CHANNEL_PAUSED);
      return true;
    }
    if (this.nextSeg < this.nseg) {
      if (this.gateOpen()) this.startChunk(false);
      else this.counters.gateWaits++;
      return true;
    }
    this.complete(RESULT_OK, Reason.NONE, 0);
    this.setStatus(CHANNEL_IDLE);
    this.takeNext();
    return true;
  }

  private takeNext(): boolean {
    if (this.abortIssueSeq >= 0) {
      if (this.ctl.issueSeq() === this.abortIssueSeq) return false;
      this.abortIssueSeq = -1;
    }
    if (!this.gateOpen()) return false;
    const sub = this.sub;
    if (!sub.peekHeader()) return false;
    const n = sub.nseg();
    this.cookie = sub.cookie();
    this.deviceAddr = sub.deviceAddr();
    this.nseg = n;
    let alloc = 0;
    for (let k = 0; k < n; k++) {
      const len = sub.segLength(k);
      this.segAddr[k] = sub.segAddr(k);
      this.segLen[k] = len;
      alloc += len;
    }
    // Current before consumed: a main thread that sees the descriptor taken (tail past it)
    // and then a different current cookie knows it has finished (txStatus relies on this).
    this.ctl.setCurrent(this.cookie, alloc, 0);
    sub.consume();
    this.alloc = alloc;
    this.xfer = 0;
    this.done = 0;
    this.nextSeg = 0;
    this.chunksAlloc = 0;
    this.deviceCursor = this.deviceAddr;
    this.setStatus(CHANNEL_BUSY);
    this.startChunk(true);
    return true;
  }

  private startChunk(first: boolean): void {
    const ops = this.ops;
    const count = Math.min(ops.llMax, this.nseg - this.nextSeg);
    const cb = this.chunksAlloc % 2 === 0;
    let bytes = 0;
    for (let i = 0; i < count; i++) {
      const k = this.nextSeg + i;
      const size = this.segLen[k]!;
      const local = this.segAddr[k]!;
      // The device-side address advances linearly: EP memory is not a FIFO.
      if (this.memToDev) ops.writeElement(i, cb, i === count - 1, size, local, this.deviceCursor);
      else ops.writeElement(i, cb, i === count - 1, size, this.deviceCursor, local);
      this.deviceCursor += size;
      bytes += size;
    }
    ops.writeLink(count, cb);
    this.nextSeg += count;
    this.chunksAlloc++;
    this.chunkBytes = bytes;
    this.xfer += bytes;
    this.ctl.setXfer(this.xfer);
    this.chunkRunning = true;
    if (this.trace !== null) this.trace.chunk(this.cookie, bytes, first);
    ops.start(first);
  }

  private complete(result: number, reason: number, faultAddr: number): void {
    const residue = result === RESULT_OK ? 0 : this.alloc - this.xfer;
    const bytes = result === RESULT_OK ? this.alloc : this.done;
    if (result === RESULT_OK) {
      this.counters.descriptors++;
      this.counters.bytes += bytes;
    } else if (reason === Reason.TERMINATED) this.counters.terminated++;
    else this.counters.aborted++;
    this.push(this.cookie, result, reason, faultAddr, residue, bytes);
    this.ctl.clearCurrent();
    this.cookie = 0;
  }

  private push(cookie: number, result: number, reason: number, faultAddr: number, residue: number, bytes: number): void {
    const now = process.hrtime.bigint();
    while (!this.comp.push(cookie, result, reason, faultAddr, residue, bytes, now)) {
      // Full: let the main thread drain. It does so asynchronously, so this ends.
      this.flush();
      Atomics.wait(napCell, 0, 0, 1);
    }
  }

  /** Publishes pushed records (one doorbell ring per batch). True if anything was published. */
  flush(): boolean {
    if (this.comp.unpublished() === 0) return false;
    this.comp.publish();
    this.onPublish();
    return true;
  }

  unpublished(): number {
    return this.comp.unpublished();
  }

  private setStatus(s: number): void {
    this.status = s;
    this.ctl.setStatus(s);
  }

  /** dmaengine_pause: needs BUSY and no pending request (else EPERM); acts at the chunk end. */
  pause(): 'ok' | 'EPERM' {
    if (this.status !== CHANNEL_BUSY || this.request !== REQ_NONE) return 'EPERM';
    this.request = REQ_PAUSE;
    return 'ok';
  }

  /** True once a requested pause has taken effect. */
  get paused(): boolean {
    return this.status === CHANNEL_PAUSED;
  }

  /** dmaengine_resume: only a paused channel (else EPERM). */
  resume(): 'ok' | 'EPERM' {
    if (this.status !== CHANNEL_PAUSED) return 'EPERM';
    this.setStatus(CHANNEL_BUSY);
    if (this.nextSeg >= this.nseg) {
      // The pause landed on the descriptor's last chunk: it is complete (the kernel would
      // leave it hanging, as start_transfer finds no chunk; completing it is what a client expects).
      this.complete(RESULT_OK, Reason.NONE, 0);
      this.setStatus(CHANNEL_IDLE);
      this.takeNext();
    } else if (this.gateOpen()) {
      this.startChunk(false);
    }
    return 'ok';
  }

  /**
   * dmaengine_terminate_async: nothing in flight or paused -> IDLE at once; busy -> STOP at
   * the chunk end. Every descriptor not completed, in flight or still queued, is reported
   * 'terminated' (the main thread resolves it without a callback, per DMAengine).
   * Returns true when the channel is already idle.
   */
  terminate(): boolean {
    if (this.chunkRunning) {
      this.request = REQ_STOP;
      return false;
    }
    this.finishStop();
    return true;
  }

  private finishStop(): void {
    if (this.cookie !== 0) this.complete(RESULT_ABORTED, Reason.TERMINATED, 0);
    this.ctl.setTerminatePending(false);
    this.request = REQ_NONE;
    this.abortIssueSeq = -1;
    this.setStatus(CHANNEL_IDLE);
    const sub = this.sub;
    while (sub.peekHeader()) {
      this.push(sub.cookie(), RESULT_ABORTED, Reason.TERMINATED, 0, this.segmentBytes(), 0);
      this.counters.terminated++;
      sub.consume();
    }
    this.flush();
  }

  private segmentBytes(): number {
    let sum = 0;
    for (let k = 0; k < this.sub.nseg(); k++) sum += this.sub.segLength(k);
    return sum;
  }
}
