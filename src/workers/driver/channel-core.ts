import { EngineFault } from '../../device/engine/engine-fault.js';
import type { CompletionRing } from '../rings/completion-ring.js';
import { Reason, RESULT_ABORTED, RESULT_OK } from '../rings/completion-ring.js';
import { DESC_INTERLEAVED, DESC_SG, type SubmissionRing } from '../rings/submission-ring.js';
import { CHANNEL_BUSY, CHANNEL_IDLE, CHANNEL_PAUSED, type ChannelControlBlock } from '../channel-control-block.js';
import { STATUS_ABORT, STATUS_DONE, STATUS_NONE, type ChannelOps } from './channel-ops.js';
import { Backoff, BACKOFF } from '../rings/backoff.js';
import type { BurstPlan } from './burst-plan.js';
import { CyclicPlan } from './cyclic.js';
import { InterleavedPlan } from './interleaved.js';

export type Direction = 'mem-to-dev' | 'dev-to-mem';

const REQ_NONE = 0;
const REQ_STOP = 1;
const REQ_PAUSE = 2;

/** Where a channel may run: e.g. the host's view of READY (metadata CTRL bit 31). */
export interface LinkGate {
  readonly view: Int32Array;
  readonly index: number;
  readonly mask: number;
}

/**
 * How long work may wait on a link that is down (or on a chunk the other side may have
 * dropped) before it completes 'aborted' with reason 'link down'. Long enough to ride out a
 * link flap or a slow retrain, short enough that nobody waits on a device that went away.
 */
export const DEFAULT_LINK_DOWN_TIMEOUT_MS = 5000;

export interface ChannelCoreCounters {
  descriptors: number;
  /** Periods a cyclic descriptor finished (each also counted in bytes). */
  periods: number;
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
 * descriptor (bursts = segments, or from a BurstPlan for cyclic and interleaved descriptors; a
 * cyclic one reports every period and runs until stopped)
 * -> chunks of at most ll_max bursts, CB alternating per
 * chunk from 1 -> LL written, started (first chunk programs the channel) -> DONE: next chunk,
 * or the cookie completes and the next descriptor starts -> ABORT: the cookie completes
 * 'aborted' and the channel goes IDLE until the next issuePending, as in the kernel.
 * Pause and stop requests take effect at chunk boundaries. Residue is descriptor-granular
 * (alloc_sz - xfer_sz, xfer_sz growing as chunks start).
 *
 * No wait on the other side is unbounded (the kernel has no such bound; a DMAengine client
 * such as dmatest brings its own): work held by a closed gate, or a chunk in flight while the
 * gate is closed or the other side reset the engine, waits at most linkDownTimeoutMs, then
 * completes 'aborted' with a 'link down' reason; while the gate stays closed after that,
 * queued work fails at once instead of waiting again.
 *
 * Only the descriptor in flight is taken out of the submission ring, so after a worker crash
 * the main thread knows exactly which cookie was in flight (the ring's tail says so) and the
 * queued ones are still in the ring for the restarted worker.
 */
export class ChannelCore {
  readonly counters: ChannelCoreCounters = { descriptors: 0, periods: 0, aborted: 0, terminated: 0, chunks: 0, bytes: 0, gateWaits: 0 };

  private readonly ops: ChannelOps;
  private readonly memToDev: boolean;
  private readonly sub: SubmissionRing;
  private readonly comp: CompletionRing;
  private readonly ctl: ChannelControlBlock;
  private readonly gate: LinkGate | null;
  private readonly faultOf: () => { code: number; addr: number };
  private readonly onPublish: () => void;
  private readonly ringFull = new Backoff(BACKOFF.ringFull);
  private readonly ringHasRoom = (): boolean => !this.comp.full();

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
  /** Cyclic and interleaved descriptors take their bursts from a plan; null: scatter-gather. */
  private plan: BurstPlan | null = null;
  private readonly cyclic: CyclicPlan;
  private readonly interleaved: InterleavedPlan;

  private readonly linkDownTimeoutMs: number;
  /** The other side's reset counter (two-process: control.mem EP_RESETS), sampled per chunk. */
  private readonly resets: { readonly view: Int32Array; readonly index: number } | null;
  private chunkResets = 0;
  /** performance.now() since when waiting work found the other side unusable; 0 = it is fine. */
  private suspectSince = 0;
  /** A chunk was given up on: the hardware may still raise its DONE/ABORT late. */
  private staleStatus = false;

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
    /** See DEFAULT_LINK_DOWN_TIMEOUT_MS. */
    linkDownTimeoutMs?: number;
    /** A counter the other side bumps after resetting this channel's engine (a chunk in flight may be lost). */
    resets?: { view: Int32Array; index: number } | null;
  }) {
    this.ops = options.ops;
    this.memToDev = options.direction === 'mem-to-dev';
    this.sub = options.submissions;
    this.comp = options.completions;
    this.ctl = options.control;
    this.gate = options.gate;
    this.faultOf = options.lastFault;
    this.onPublish = options.onPublish;
    this.linkDownTimeoutMs = options.linkDownTimeoutMs ?? DEFAULT_LINK_DOWN_TIMEOUT_MS;
    this.resets = options.resets ?? null;
    this.segAddr = new Float64Array(this.sub.maxSegments);
    this.segLen = new Float64Array(this.sub.maxSegments);
    this.cyclic = new CyclicPlan(this.memToDev);
    this.interleaved = new InterleavedPlan(this.sub.maxSegments);
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

  /**
   * Called while work waits on the other side (link down, or a chunk the other side may have
   * dropped): starts the clock on the first call, true once linkDownTimeoutMs have passed.
   * Any progress (a chunk starts, the hardware answers) stops the clock. No allocation.
   */
  private linkDownExpired(): boolean {
    const now = performance.now();
    if (this.suspectSince === 0) {
      this.suspectSince = now;
      return false;
    }
    return now - this.suspectSince >= this.linkDownTimeoutMs;
  }

  /** One step of the channel. True if it did something. */
  poll(): boolean {
    if (this.chunkRunning) return this.pollChunk();
    if (this.status === CHANNEL_BUSY) {
      // Between chunks of a descriptor, waiting for the link to come back, for a while.
      if (!this.gateOpen()) {
        if (!this.linkDownExpired()) return false;
        this.complete(RESULT_ABORTED, Reason.LINK_DOWN, 0);
        this.request = REQ_NONE;
        this.setStatus(CHANNEL_IDLE);
        return true;
      }
      this.startChunk(false);
      return true;
    }
    if (this.status !== CHANNEL_IDLE) return false;
    return this.takeNext();
  }

  private pollChunk(): boolean {
    const st = this.ops.status();
    if (st === STATUS_NONE) {
      const reset = this.resets !== null && Atomics.load(this.resets.view, this.resets.index) !== this.chunkResets;
      if (!reset && this.gateOpen()) return false;
      // The link went down, or the other side reset the engine, under this chunk: its DONE
      // may never come. Wait for it a while, then give the chunk up.
      if (!this.linkDownExpired()) return false;
      this.abandonChunk(reset ? Reason.ENDPOINT_RESET : Reason.LINK_DOWN);
      return true;
    }
    this.suspectSince = 0;
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
    if (this.plan !== null && this.plan.chunkPeriod >= 0) this.completePeriod(this.plan.chunkPeriod);
    if (this.request === REQ_PAUSE) {
      this.request = REQ_NONE;
      this.setStatus(CHANNEL_PAUSED);
      return true;
    }
    if (this.moreBursts()) {
      if (this.gateOpen()) this.startChunk(false);
      else this.counters.gateWaits++;
      return true;
    }
    this.complete(RESULT_OK, Reason.NONE, 0);
    this.setStatus(CHANNEL_IDLE);
    this.takeNext();
    return true;
  }

  /** Completes the descriptor whose chunk the hardware never finished (see pollChunk). */
  private abandonChunk(reason: number): void {
    this.chunkRunning = false;
    this.staleStatus = true;
    if (this.request === REQ_STOP) {
      this.finishStop();
      return;
    }
    this.complete(RESULT_ABORTED, reason, 0);
    this.request = REQ_NONE;
    this.setStatus(CHANNEL_IDLE);
  }

  private takeNext(): boolean {
    if (this.abortIssueSeq >= 0) {
      if (this.ctl.issueSeq() === this.abortIssueSeq) return false;
      this.abortIssueSeq = -1;
    }
    const sub = this.sub;
    if (!sub.peekHeader()) return false;
    if (!this.gateOpen()) {
      // Queued work waits for the link, for a while; once that is over, it fails one by one.
      if (!this.linkDownExpired()) return false;
      this.push(sub.cookie(), RESULT_ABORTED, Reason.LINK_DOWN, 0, sub.descriptorBytes(), 0);
      this.counters.aborted++;
      sub.consume();
      return true;
    }
    const kind = sub.kind();
    const n = kind === DESC_SG ? sub.nseg() : 0;
    this.cookie = sub.cookie();
    this.deviceAddr = sub.deviceAddr();
    this.nseg = n;
    this.plan = kind === DESC_SG ? null : kind === DESC_INTERLEAVED ? this.interleaved : this.cyclic;
    let alloc = this.plan === null ? 0 : this.plan.load(sub);
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

  private moreBursts(): boolean {
    return this.plan === null ? this.nextSeg < this.nseg : this.plan.hasMore();
  }

  private startChunk(first: boolean): void {
    const ops = this.ops;
    this.suspectSince = 0;
    if (this.staleStatus) {
      // The chunk given up on may have finished after all: its status is not this chunk's.
      this.staleStatus = false;
      ops.clear(STATUS_DONE);
      ops.clear(STATUS_ABORT);
    }
    if (this.resets !== null) this.chunkResets = Atomics.load(this.resets.view, this.resets.index);
    const cb = this.chunksAlloc % 2 === 0;
    if (this.plan !== null) {
      this.chunkStarted(this.plan.writeChunk(ops, cb), first);
      return;
    }
    const count = Math.min(ops.llMax, this.nseg - this.nextSeg);
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
    this.chunkStarted(bytes, first);
  }

  private chunkStarted(bytes: number, first: boolean): void {
    this.chunksAlloc++;
    this.chunkBytes = bytes;
    this.xfer += bytes;
    // Only a cyclic ring passes its buffer's end: its position wraps with it.
    if (this.xfer > this.alloc) this.xfer -= this.alloc;
    this.ctl.setXfer(this.xfer);
    this.chunkRunning = true;
    this.ops.start(first);
  }

  /** A cyclic period ended: one record for it; the descriptor runs on. */
  private completePeriod(period: number): void {
    const bytes = this.chunkBytes;
    this.counters.periods++;
    this.counters.bytes += bytes;
    this.push(this.cookie, RESULT_OK, Reason.NONE, 0, this.alloc - (period + 1) * bytes, bytes, period);
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

  private push(cookie: number, result: number, reason: number, faultAddr: number, residue: number, bytes: number, period = -1): void {
    const now = process.hrtime.bigint();
    while (!this.comp.push(cookie, result, reason, faultAddr, residue, bytes, now, period)) {
      // Full: publish, so the main thread drains (asynchronously, so this ends), and park on the tail.
      this.flush();
      this.ringFull.idle(this.comp, this.ringHasRoom);
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
    if (!this.moreBursts()) {
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
      this.push(sub.cookie(), RESULT_ABORTED, Reason.TERMINATED, 0, sub.descriptorBytes(), 0);
      this.counters.terminated++;
      sub.consume();
    }
    this.flush();
  }
}
