import { EngineFault } from '../device/engine/engine-fault.js';
import { doubleCounter } from '../device/double-counter.js';
import type { CompletionRing } from '../protocol/completion-ring.js';
import { Reason, RESULT_ABORTED, RESULT_OK, RESULT_READ_FAILED, RESULT_WRITE_FAILED } from '../protocol/completion-ring.js';
import { DESC_INTERLEAVED, DESC_SG, type SubmissionRing } from '../protocol/submission-ring.js';
import {
  CHANNEL_BUSY, CHANNEL_IDLE, CHANNEL_PAUSED, REQUEST_MASK, REQUEST_NONE, REQUEST_PAUSE, REQUEST_STOP, STATE_HALTED, STATE_HOLD, STATE_RUNNING,
  stateRequest, stateStatus, TERMINATE_FREE, TERMINATE_NONE, withState, type ChannelControlBlock,
} from '../protocol/channel-control-block.js';
import { STATUS_ABORT, STATUS_DONE, STATUS_NONE, type ChunkHardware } from './channel-ops.js';
import { Backoff, BACKOFF } from '../protocol/backoff.js';
import type { BurstPlan } from './burst-plan.js';
import { CyclicPlan } from './cyclic.js';
import { InterleavedPlan } from './interleaved.js';
import { descriptorResidue, type DriverQuirks } from '../protocol/driver-quirks.js';
import { lower32 } from '../device/wordpart.js';
import type { TraceRing } from '../protocol/trace-ring.js';
import { HrClock } from '../protocol/hr-clock.js';
import { DEFAULT_LINK_DOWN_TIMEOUT_MS, type LinkGate } from '../protocol/channel-worker-data.js';
import type { Direction } from '../device/direction.js';


/**
 * The longest the DONE of a chunk started by issuePending waits for the main thread's issuing
 * code to finish (STATE_HOLD): only a main thread that blocks right after issuePending (a
 * synchronous spin on memory) ever reaches it. While held, the worker idles like on an empty
 * ring (spins while the core budget allows, then parks on its kick word) instead of spinning
 * on the status register: the main thread it waits for needs the core, and it kicks the
 * worker when it drops the hold.
 */
const HOLD_MAX_MS = 20;


export type { ChunkHardware } from './channel-ops.js';


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
 * The side that faulted, as DMAengine names it. The kernel driver only ever says ABORTED; the
 * engine model knows which address it could not reach, so 'contract' mode says so.
 */
const FAULT_RESULT: Record<number, number> = {
  [EngineFault.SOURCE_UNMAPPED]: RESULT_READ_FAILED,
  [EngineFault.DESTINATION_UNMAPPED]: RESULT_WRITE_FAILED,
};

/**
 * The generic dw-edma channel core for one channel (dw-edma-core.c, reference 6.4-6.5 and
 * 13.5), fed from the submission ring and reporting to the completion ring:
 *
 * descriptor (bursts = segments, or from a BurstPlan for cyclic and interleaved descriptors; a
 * contract cyclic one reports every period and runs until stopped) -> chunks of at most ll_max bursts, CB alternating per
 * chunk from 1 -> LL written, started (the first chunk programs the channel) -> DONE: next
 * chunk, or the cookie completes and the next issued descriptor starts -> ABORT: the cookie
 * completes with the fault and the channel goes IDLE until the next issuePending.
 *
 * The channel state (status, request) lives in the control block's STATE word, shared with
 * the main thread: issuePending marks the channel BUSY with its first chunk started (the
 * kernel starts it before issue_pending returns), pause/resume/terminate change it there at
 * once, and this core acts on it at chunk boundaries. Every transition of either thread is
 * one compare-and-swap, and the core makes its side effects only after its swap succeeded.
 * The DONE of the chunk an issuePending started waits until the main thread's issuing code
 * has run (STATE_HOLD), as the kernel's interrupt comes after issue_pending's caller.
 *
 * Where dw-edma departs from the DMAengine contract, `quirks` picks the behaviour (see
 * driver-quirks.ts): a STOP completes the in-flight descriptor NOERROR with residue 0 and
 * keeps the queue, a pause that landed on the last chunk hangs after resume, byte counts are
 * u32 ('dw-edma'); or the contract: a terminate completes everything unfinished as
 * 'terminated', the last-chunk pause resumes to completion, counts are exact ('contract').
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
  /** Completion times: hrtime ns without a BigInt per record. */
  private readonly clock = new HrClock();
  readonly counters: ChannelCoreCounters = doubleCounter({ descriptors: 0, periods: 0, aborted: 0, terminated: 0, chunks: 0, bytes: 0, gateWaits: 0 }, 'bytes');

  private readonly ops: ChunkHardware;
  private readonly memToDev: boolean;
  /** 'dw-edma' quirks: the kernel driver's behaviour where it departs from the contract. */
  private readonly kernel: boolean;
  private readonly sub: SubmissionRing;
  private readonly comp: CompletionRing;
  private readonly ctl: ChannelControlBlock;
  /** The gate's word (null: always open), its index and mask, resolved once. */
  private readonly gateView: Int32Array | null;
  private readonly gateIndex: number;
  private readonly gateMask: number;
  private readonly faultOf: () => { code: number; addr: number };
  private readonly onPublish: () => void;
  private readonly ringFull = new Backoff(BACKOFF.ringFull);
  private readonly ringHasRoom = (): boolean => !this.comp.full();
  /** Chunk records for the trace file; null (one branch per chunk) when tracing is off. */
  private readonly trace: TraceRing | null;

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
  /** When a DONE was first found held by STATE_HOLD, or -1. */
  private holdSince = -1;
  /** The running chunk's DONE is up and held by STATE_HOLD: nothing to do until it is dropped. */
  private held = false;
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
    ops: ChunkHardware;
    direction: Direction;
    quirks: DriverQuirks;
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
    /** Chunk records for the trace file (only when tracing). */
    trace?: TraceRing | null;
  }) {
    this.ops = options.ops;
    this.memToDev = options.direction === 'mem-to-dev';
    this.kernel = options.quirks === 'dw-edma';
    this.sub = options.submissions;
    this.comp = options.completions;
    this.ctl = options.control;
    const gate = options.gate;
    this.gateView = gate === null ? null : new Int32Array(gate.buffer, gate.byteOffset);
    this.gateIndex = gate?.index ?? 0;
    this.gateMask = gate?.mask ?? 0;
    this.faultOf = options.lastFault;
    this.onPublish = options.onPublish;
    this.trace = options.trace ?? null;
    this.segAddr = new Float64Array(this.sub.maxSegments);
    this.segLen = new Float64Array(this.sub.maxSegments);
    this.linkDownTimeoutMs = options.linkDownTimeoutMs ?? DEFAULT_LINK_DOWN_TIMEOUT_MS;
    this.resets = options.resets ?? null;
    this.cyclic = new CyclicPlan(this.memToDev);
    this.interleaved = new InterleavedPlan(this.sub.maxSegments);
  }

  get busy(): boolean {
    return this.ctl.status() !== CHANNEL_IDLE;
  }

  /** A chunk is on the hardware: the loop must keep polling the status register. */
  get waitingForHardware(): boolean {
    return this.chunkRunning && !this.held;
  }

  /**
   * A worker restarted after a crash: the descriptor the old one had in flight was completed
   * 'aborted' by the main thread, its request died with it. Continue the issued queue (a
   * pending terminate is finished by the next poll before anything runs).
   */
  recoverAfterCrash(): void {
    this.ctl.clearCurrent();
    for (;;) {
      const s = this.ctl.state();
      if (this.swap(s, this.sub.available() > 0 ? CHANNEL_BUSY : CHANNEL_IDLE)) return;
    }
  }

  /** One transition: `s` still current, replaced by `bits` (the issue count kept). */
  private swap(s: number, bits: number): boolean {
    return this.ctl.compareAndSwapState(s, withState(s, bits));
  }

  /** Work the loop could do right now without hardware progress. */
  hasWork(): boolean {
    if (this.chunkRunning) return !this.held || !this.holdStands(this.ctl.state());
    if (this.ctl.terminatePending() !== TERMINATE_NONE) return true;
    const s = this.ctl.state();
    if (stateStatus(s) !== CHANNEL_BUSY) return false;
    if (this.cookie === 0) return this.sub.available() === 0 || this.gateOpen() || stateRequest(s) !== 0;
    if (this.moreBursts()) return this.gateOpen() || stateRequest(s) !== 0;
    // Resumed after a pause on the last chunk: the contract completes it; dw-edma hangs.
    return !this.kernel;
  }

  private gateOpen(): boolean {
    const view = this.gateView;
    return view === null || (Atomics.load(view, this.gateIndex) & this.gateMask) !== 0;
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

  /** One step of the channel. True if it did something (or must look again at once). */
  poll(): boolean {
    if (this.chunkRunning) return this.pollChunk();
    const s = this.ctl.state();
    const pending = this.ctl.terminatePending(); // after the state: see chunkDone
    if (pending !== TERMINATE_NONE) {
      // Nothing on the hardware: the terminate takes effect now.
      this.haltIdle();
      this.finishTerminate(pending);
      return true;
    }
    // IDLE and PAUSED channels wait for the main thread (issuePending, resume).
    if (stateStatus(s) !== CHANNEL_BUSY) return false;
    if (this.cookie === 0) return this.startNextDescriptor(s);
    if (this.moreBursts()) {
      // Between chunks: the first chunk after issuePending/resume, or waiting for the link.
      // A request that came meanwhile acts at this chunk's DONE, as the kernel had started it.
      if (this.gateOpen()) {
        if (this.ctl.compareAndSwapState(s, s | STATE_RUNNING)) this.startChunk();
        return true;
      }
      return this.stopBetweenChunks(s);
    }
    if (this.kernel) return false; // start_transfer finds no chunk: BUSY with nothing running
    // The contract: resumed after a pause on its last chunk, the descriptor is complete. A
    // request still pending applies to the next descriptor.
    const next = this.sub.available() > 0 ? (s & REQUEST_MASK) | CHANNEL_BUSY | STATE_RUNNING : CHANNEL_IDLE;
    if (!this.swap(s, next)) return true;
    this.complete(RESULT_OK, Reason.NONE, 0, 0, this.alloc);
    return true;
  }

  /** The link is down between chunks: a pending request takes effect without a chunk. */
  private stopBetweenChunks(s: number): boolean {
    const request = stateRequest(s);
    if (request === REQUEST_PAUSE) return this.swap(s, CHANNEL_PAUSED);
    if (request === REQUEST_STOP) {
      if (!this.swap(s, CHANNEL_IDLE | STATE_HALTED)) return true;
      this.complete(RESULT_OK, Reason.NONE, 0, 0, this.done);
      return true;
    }
    if (this.linkDownExpired()) {
      // Waited long enough for the link: the descriptor fails, queued work after it too.
      if (!this.swap(s, this.sub.available() > 0 ? CHANNEL_BUSY : CHANNEL_IDLE)) return true;
      this.complete(RESULT_ABORTED, Reason.LINK_DOWN, 0, descriptorResidue(this.kernel, this.alloc, this.xfer), this.done);
      return true;
    }
    if ((s & STATE_RUNNING) !== 0 && this.ctl.compareAndSwapState(s, s & ~STATE_RUNNING)) this.counters.gateWaits++;
    return false;
  }

  /** start_transfer with no descriptor in flight: the next issued one, or IDLE. */
  private startNextDescriptor(s: number): boolean {
    if (this.sub.available() === 0) return this.swap(s, CHANNEL_IDLE);
    if (!this.gateOpen()) {
      const request = stateRequest(s);
      if (request === REQUEST_PAUSE) return this.swap(s, CHANNEL_PAUSED);
      if (request === REQUEST_STOP) return this.swap(s, CHANNEL_IDLE | STATE_HALTED);
      if ((s & STATE_RUNNING) !== 0) this.ctl.compareAndSwapState(s, s & ~STATE_RUNNING);
      // Queued work waits for the link, for a while; once that is over, it fails one by one.
      if (!this.linkDownExpired()) return false;
      const sub = this.sub;
      sub.peekHeader();
      this.push(sub.cookie(), RESULT_ABORTED, Reason.LINK_DOWN, 0, descriptorResidue(this.kernel, sub.descriptorBytes(), 0), 0);
      this.counters.aborted++;
      sub.consume();
      return true;
    }
    if (!this.ctl.compareAndSwapState(s, s | STATE_RUNNING)) return true;
    this.take();
    this.startChunk();
    return true;
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
    this.held = st === STATUS_DONE && this.heldByIssue();
    if (this.held) return false;
    this.ops.clear(st);
    this.chunkRunning = false;
    if (st === STATUS_ABORT) {
      this.haltIdle();
      const fault = this.faultOf();
      const result = this.kernel ? RESULT_ABORTED : FAULT_RESULT[fault.code] ?? RESULT_ABORTED;
      this.complete(result, FAULT_REASON[fault.code] ?? Reason.NONE, fault.addr, descriptorResidue(this.kernel, this.alloc, this.xfer), this.done);
      return true;
    }
    this.done += this.chunkBytes;
    this.counters.chunks++;
    if (this.plan !== null && this.plan.chunkPeriod >= 0 && this.ctl.terminatePending() === TERMINATE_NONE) this.completePeriod(this.plan.chunkPeriod);
    this.chunkDone();
    return true;
  }

  /** Completes the descriptor whose chunk the hardware never finished (see pollChunk). */
  private abandonChunk(reason: number): void {
    this.chunkRunning = false;
    this.staleStatus = true;
    const pending = this.ctl.terminatePending();
    if (pending !== TERMINATE_NONE) {
      this.haltIdle();
      this.finishTerminate(pending);
      return;
    }
    for (;;) {
      const s = this.ctl.state();
      if (this.swap(s, this.sub.available() > 0 ? CHANNEL_BUSY : CHANNEL_IDLE)) break;
    }
    this.complete(RESULT_ABORTED, reason, 0, descriptorResidue(this.kernel, this.alloc, this.xfer), this.done);
  }

  /** dw_edma_done_interrupt: act on the request, then the next chunk or descriptor. */
  private chunkDone(): void {
    for (;;) {
      // The pending word after the state: the contract's terminateAsync stores it before it
      // requests the STOP, so a STOP seen in `s` comes with its word. Read the other way round,
      // a terminate landing between the reads looked like a bare STOP (dw-edma's: NOERROR, with
      // a callback).
      const s = this.ctl.state();
      const pending = this.ctl.terminatePending();
      if (pending !== TERMINATE_NONE) {
        this.haltIdle();
        this.finishTerminate(pending);
        return;
      }
      const request = stateRequest(s);
      if (request === REQUEST_STOP) {
        // dw-edma: the STOP completes the descriptor with the result virt-dma set at prep
        // (NOERROR, residue 0), chunks left or not; the queue stays for the next issuePending.
        if (!this.swap(s, CHANNEL_IDLE | STATE_HALTED)) continue;
        this.complete(RESULT_OK, Reason.NONE, 0, 0, this.done);
        return;
      }
      if (request === REQUEST_PAUSE) {
        // The descriptor stays in flight, even if this was its last chunk.
        if (this.swap(s, CHANNEL_PAUSED)) return;
        continue;
      }
      if (this.moreBursts()) {
        if (this.gateOpen()) {
          if (!this.ctl.compareAndSwapState(s, s | STATE_RUNNING)) continue;
          this.startChunk();
        } else {
          if (!this.ctl.compareAndSwapState(s, s & ~STATE_RUNNING)) continue;
          this.counters.gateWaits++;
        }
        return;
      }
      // The swap fails if the main thread put work into the ring since `s` was read.
      const next = this.sub.available() > 0 && this.gateOpen();
      if (!this.swap(s, next ? CHANNEL_BUSY | STATE_RUNNING : this.sub.available() > 0 ? CHANNEL_BUSY : CHANNEL_IDLE)) continue;
      this.complete(RESULT_OK, Reason.NONE, 0, descriptorResidue(this.kernel, this.alloc, this.xfer), this.alloc);
      if (next) {
        this.take();
        this.startChunk();
      }
      return;
    }
  }

  /**
   * True while the DONE of a chunk issuePending started waits for the main thread's issuing
   * code to finish (STATE_HOLD) with no request pending; past HOLD_MAX_MS the hold is dropped.
   */
  private heldByIssue(): boolean {
    const s = this.ctl.state();
    if (!this.holdStands(s)) {
      this.holdSince = -1;
      return false;
    }
    const now = performance.now();
    if (this.holdSince < 0) this.holdSince = now;
    if (now - this.holdSince < HOLD_MAX_MS) return true;
    this.holdSince = -1;
    this.ctl.compareAndSwapState(s, s & ~STATE_HOLD);
    return false;
  }

  /** STATE_HOLD is set and no request overrides it. */
  private holdStands(s: number): boolean {
    return (s & STATE_HOLD) !== 0 && stateRequest(s) === REQUEST_NONE;
  }

  /** IDLE and halted (after an ABORT or a STOP), the request and RUNNING cleared. */
  private haltIdle(): void {
    for (;;) {
      const s = this.ctl.state();
      if (this.swap(s, CHANNEL_IDLE | STATE_HALTED)) return;
    }
  }

  /** Copies the descriptor at the ring's tail out and consumes it (it is now in flight). */
  private take(): void {
    const sub = this.sub;
    sub.peekHeader();
    const kind = sub.kind();
    const n = kind === DESC_SG ? sub.nseg() : 0;
    this.cookie = sub.cookie();
    this.deviceAddr = sub.deviceAddr();
    this.nseg = n;
    this.plan = kind === DESC_SG ? null : kind === DESC_INTERLEAVED ? this.interleaved : this.cyclic;
    let alloc = this.plan === null ? 0 : this.plan.load(sub);
    // A plan's first chunk is known once written: its residue is published at that start.
    let first = 0;
    for (let k = 0; k < n; k++) {
      const len = sub.segLength(k);
      this.segAddr[k] = sub.segAddr(k);
      this.segLen[k] = len;
      alloc += len;
      if (k < this.ops.llMax) first += len;
    }
    // Current before consumed: a main thread that sees the descriptor taken (tail past it)
    // and then a different current cookie knows it has finished (txStatus relies on this).
    // Its first chunk starts right after (issuePending had started it), so the residue
    // published is already the one after that start: it never goes up on the way.
    this.ctl.setCurrent(this.cookie, descriptorResidue(this.kernel, alloc, first), this.plan !== null || n > this.ops.llMax);
    sub.consume();
    this.alloc = alloc;
    this.xfer = 0;
    this.done = 0;
    this.nextSeg = 0;
    this.chunksAlloc = 0;
    this.deviceCursor = this.deviceAddr;
  }

  private moreBursts(): boolean {
    return this.plan === null ? this.nextSeg < this.nseg : this.plan.hasMore();
  }

  private startChunk(): void {
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
    // dw-edma starts a chunk as the descriptor's first (programming the channel) when its
    // u32 xfer_sz is 0, which a wrapped count also is.
    const first = this.kernel ? lower32(this.xfer) === 0 : this.chunksAlloc === 0;
    const bytes = this.plan !== null ? this.plan.writeChunk(ops, cb) : this.writeSgChunk(cb);
    this.chunksAlloc++;
    this.chunkBytes = bytes;
    this.xfer += bytes;
    // Only a cyclic ring passes its buffer's end: its position wraps with it.
    if (this.xfer > this.alloc) this.xfer -= this.alloc;
    this.ctl.setProgress(descriptorResidue(this.kernel, this.alloc, this.xfer), this.moreBursts());
    this.chunkRunning = true;
    if (this.trace !== null) this.trace.chunk(this.cookie, bytes, first);
    ops.start(first);
  }

  /** The next chunk of a scatter-gather descriptor into the LL region; returns its bytes. */
  private writeSgChunk(cb: boolean): number {
    const ops = this.ops;
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
    return bytes;
  }

  /** A cyclic period ended: one record for it; the descriptor runs on. */
  private completePeriod(period: number): void {
    const bytes = this.chunkBytes;
    this.counters.periods++;
    this.counters.bytes += bytes;
    this.push(this.cookie, RESULT_OK, Reason.NONE, 0, this.alloc - (period + 1) * bytes, bytes, period);
  }

  private complete(result: number, reason: number, faultAddr: number, residue: number, bytes: number): void {
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
    const now = this.clock.nowNs();
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

  /** True while a pause the main thread requested has not taken effect (nor been overtaken). */
  get pausePending(): boolean {
    return stateRequest(this.ctl.state()) === REQUEST_PAUSE;
  }

  /** True once a requested pause has taken effect. */
  get paused(): boolean {
    return this.ctl.status() === CHANNEL_PAUSED;
  }

  /**
   * A terminate the main thread asked for, now that nothing is on the hardware: TERMINATE_ALL
   * (the contract) completes the descriptor in flight and every queued one 'terminated' (the
   * main thread resolves them without a callback); TERMINATE_FREE (a 'dw-edma' release, as
   * vchan_free_chan_resources) drops them all as 'channel released'.
   */
  private finishTerminate(pending: number): void {
    const reason = pending === TERMINATE_FREE ? Reason.CHANNEL_RELEASED : Reason.TERMINATED;
    if (this.cookie !== 0) this.complete(RESULT_ABORTED, reason, 0, descriptorResidue(this.kernel, this.alloc, this.xfer), this.done);
    const sub = this.sub;
    while (sub.peekHeader()) {
      this.push(sub.cookie(), RESULT_ABORTED, reason, 0, descriptorResidue(this.kernel, sub.descriptorBytes(), 0), 0);
      this.counters.terminated++;
      sub.consume();
    }
    this.ctl.setTerminatePending(TERMINATE_NONE);
    this.flush();
  }
}
