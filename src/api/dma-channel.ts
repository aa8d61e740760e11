import { HrClock } from '../protocol/hr-clock.js';
import { Observable } from 'rxjs';
import { EpdmaError, hex } from '../device/errors.js';
import type { ChannelActor } from '../actors/channel-actor.js';
import {
  CHANNEL_BUSY, CHANNEL_IDLE, CHANNEL_PAUSED, REQUEST_MASK, REQUEST_NONE, REQUEST_PAUSE, REQUEST_STOP, STATE_HALTED,
  STATE_HOLD, STATE_RUNNING, stateRequest, stateStatus, TERMINATE_ALL, TERMINATE_FREE, withState,
} from '../protocol/channel-control-block.js';
import { descriptorResidue } from '../protocol/driver-quirks.js';
import {
  COMPLETION_REASON_CODES, COMPLETION_REASONS, COMPLETION_RESULTS, Reason, RESULT_ABORTED, RESULT_OK, type CompletionRing,
} from '../protocol/completion-ring.js';
import { DescriptorQueue } from './descriptor-queue.js';
import { HotStream } from './hot-stream.js';
import { DESC_CYCLIC, DESC_INTERLEAVED, DESC_SG, SUBMISSION_FLAG_INTERRUPT } from '../protocol/submission-ring.js';
import { llMax } from '../device/ll/ll-codec.js';
import { cyclicShape, interleavedShape, type InterleavedShape, type PrepScope } from './cyclic-interleaved-prep.js';
import type {
  ChannelInfo, ChannelStats, Completion, DmaBuffer, DmaChannel, DmaSlaveCaps, Direction, InterleavedTemplate, PrepOptions, Segment,
  TransferRequest, TxDescriptor,
} from './types.js';
import { checkAddress, checkBoolean, checkDmaBuffer, checkLength, checkObject, checkOptions, isAddress, isPlainObject, show } from './validate.js';

const MAX_SEGMENT_BYTES = 0xffff_ffff; // transfer_size is 32-bit (dma_set_max_seg_size(U32_MAX))
const COOKIE_MAX = 0x7fff_ffff; // dma_cookie_t is s32; cookies wrap back to 1
const ERROR_HISTORY = 1024;
const NO_PREP_OPTIONS: PrepOptions = Object.freeze({});

/**
 * Submit times are kept as performance.now() numbers (no allocation) and turned into the
 * contract's hrtime `bigint` only when a Completion is built.
 */
const clock = new HrClock();

/** The process.hrtime.bigint() reading at performance.now() `ms`. */
function hrNsAt(ms: number): bigint {
  return BigInt(clock.atNs(ms));
}

/** What a channel needs from its side. */
export interface ChannelSideHooks {
  /** True if [addr, addr + length) is this side's memory. */
  contains(addr: number, length: number): boolean;
  /** EPERM for a freed DmaBuffer, EINVAL for a foreign one or one shorter than `length`. */
  checkBuffer(buffer: DmaBuffer, length: number, what: string): void;
  readonly sideName: 'endpoint' | 'host';
  /** True if a completion handed to emit() reaches anyone (a side or testbed stream is subscribed). */
  observed(): boolean;
  /** A completion for the side and testbed streams (batched there). */
  emit(completion: Completion): void;
  /** Drains every completion ring of the side now. */
  drainNow(): void;
}

/**
 * A prepared descriptor: the client's handle (one object per prep, like the kernel's
 * dma_async_tx_descriptor) and the channel's record of it. A one-segment descriptor carries
 * its segment inline, so prepSlaveSingle allocates nothing else. Once settled, its outcome is
 * kept as plain values and the Completion object is built only when someone wants it: a
 * subscriber, or `done`.
 */
class Descriptor implements TxDescriptor {
  cookie = 0;
  /** Submission ring sequence number of its header once in the ring (as int32: a Smi). */
  seq = -1;
  /** DESC_SG unless set after construction; a cyclic descriptor's segment is {buffer, burst}. */
  kind = DESC_SG;
  /** Cyclic: periods or bursts; interleaved: frames. */
  count = 0;
  interleaved: InterleavedShape | undefined = undefined;
  /** A running cyclic descriptor that was terminated: its late period records are dropped. */
  silenced = false;
  /** performance.now() at submit. */
  submittedMs = 0;

  // The outcome once settled, in small integers where they fit (a double field costs a box).
  /** RESULT_* once settled; -1 before. */
  result = -1;
  /** A Reason index (NONE: no reason). */
  reason = 0;
  residue = 0;
  movedBytes = 0;
  /** The completion record's hrtime ns as int32 halves, kept until a Completion is built. */
  completedHigh = 0;
  completedLow = 0;
  private built: Completion | undefined = undefined;
  private resolveDone: ((c: Completion) => void) | undefined = undefined;
  private donePromise: Promise<Completion> | undefined = undefined;

  constructor(
    private readonly owner: ChannelHandle,
    /** The first (for one-segment, cyclic: the only) segment. */
    readonly addr: number,
    readonly length: number,
    /** Two or more segments (a copy of the prep's list); null for one. */
    readonly segments: readonly Segment[] | null,
    readonly deviceAddr: number,
    readonly flags: number,
    readonly bytes: number,
  ) {}

  /** Submission ring entries it takes: the header and one per segment or interleaved chunk. */
  get entries(): number {
    return 1 + (this.interleaved !== undefined ? this.interleaved.sizes.length : this.segments !== null ? this.segments.length : 1);
  }

  submit(): number {
    return this.owner.submitDescriptor(this);
  }

  /** Created on first use: most high-rate clients watch completions$ instead. */
  get done(): Promise<Completion> {
    if (this.donePromise === undefined) {
      this.donePromise = this.result >= 0
        ? Promise.resolve(this.completion())
        : new Promise((resolve) => { this.resolveDone = resolve; });
    }
    return this.donePromise;
  }

  /** True if `done` was asked for before the descriptor settled: it needs the Completion now. */
  get awaited(): boolean {
    return this.resolveDone !== undefined;
  }

  /** Settled: resolves a `done` that is waiting. */
  resolve(): void {
    if (this.resolveDone !== undefined) this.resolveDone(this.completion());
  }

  /** The Completion of a settled descriptor, built once (from the halves kept at settle). */
  completion(): Completion {
    return this.built ?? this.build((BigInt(this.completedHigh >>> 0) << 32n) | BigInt(this.completedLow >>> 0), undefined);
  }

  /** Builds the Completion of a settled descriptor; `reasonText` replaces the reason's standard text. */
  build(completedNs: bigint, reasonText: string | undefined): Completion {
    const reason = this.reason;
    const result = COMPLETION_RESULTS[this.result]!;
    const submittedNs = hrNsAt(this.submittedMs);
    this.built = reason === Reason.NONE
      ? { cookie: this.cookie, channel: this.owner.info, result, residue: this.residue, bytes: this.movedBytes, submittedNs, completedNs }
      : {
          cookie: this.cookie, channel: this.owner.info, result, residue: this.residue, bytes: this.movedBytes, submittedNs, completedNs,
          reason: reasonText ?? COMPLETION_REASONS[reason] ?? 'unknown', reasonCode: COMPLETION_REASON_CODES[reason] as Completion['reasonCode'],
        };
    return this.built;
  }

  /** Bytes of the descriptor's first chunk (its first `llMax` segments). */
  firstChunkBytes(llMax: number): number {
    if (this.segments === null) return this.interleaved !== undefined ? 0 : this.length;
    let sum = 0;
    for (let i = 0; i < this.segments.length && i < llMax; i++) sum += this.segments[i]!.length;
    return sum;
  }
}

/**
 * A DMAengine-style channel (API.md "Channels") over one channel actor. Prep checks every
 * argument against this side's memory and the channel; submit hands out cookies; issuePending
 * moves submitted descriptors into the worker's submission ring (and kicks it once); the
 * side's completion pump hands records back here, where they settle `done` and are emitted.
 */
export class ChannelHandle implements DmaChannel {
  readonly info: ChannelInfo;
  readonly actor: ChannelActor;
  private readonly hooks: ChannelSideHooks;
  private readonly stream = new HotStream<Completion>();
  readonly completions$: Observable<Completion> = this.stream.observable;

  /** 'dw-edma' quirks: the kernel driver's behaviour where it departs from the DMAengine contract. */
  private readonly kernel: boolean;
  private configured = false;
  /** Bumped by every configure(): a terminate unconfigures only the config it terminated. */
  private configEpoch = 0;
  /** The config epoch a terminate in progress unconfigures when its STOP takes effect, or -1. */
  private stopEpoch = -1;
  private slaveAddr = 0;
  private nextCookie = 1;
  /** The cookie counter has wrapped past COOKIE_MAX: every cookie in 1..COOKIE_MAX was handed out. */
  private cookiesWrapped = false;
  private lastCompleted = 0;
  /** Submitted, not issued (oldest first). */
  private readonly submitted = new DescriptorQueue<Descriptor>();
  /** Issued, waiting for room in the ring (oldest first). */
  private readonly overflow = new DescriptorQueue<Descriptor>();
  /**
   * In the ring or in flight, in ring order: records come back in that order, so the one a
   * record answers is the head (a cyclic descriptor stays there while it reports periods).
   */
  private readonly inRing = new DescriptorQueue<Descriptor>();
  private readonly errors = new Map<number, number>(); // cookie -> residue, for txStatus
  private terminating: Promise<void> | undefined;
  private stoppedReason: string | undefined;
  private isRequested = false;
  // stats(): plain counters the main thread keeps anyway, so reading them costs no round trip.
  private submittedCount = 0;
  private completedCount = 0;
  private errorCount = 0;
  private byteCount = 0;
  /** Ring entries the submitted and overflow descriptors will take once they go in. */
  private pendingEntries = 0;
  /** The testbed closed: every call is ESHUTDOWN. */
  private closed = false;
  /** A microtask that drops STATE_HOLD is queued. */
  private holdQueued = false;
  /**
   * Drops STATE_HOLD once the code that called issuePending has run (allocated once), and
   * kicks the worker: one whose chunk finished meanwhile idles on its kick word rather than
   * spinning for this (a load when it is awake).
   */
  private readonly releaseHold = (): void => {
    this.holdQueued = false;
    const ctl = this.actor.control;
    for (;;) {
      const s = ctl.state();
      if ((s & STATE_HOLD) === 0) return;
      if (ctl.compareAndSwapState(s, s & ~STATE_HOLD)) break;
    }
    this.actor.kickWorker();
  };
  private readonly queuedInRing = (): number => this.actor.submissions.available();
  /** One visitor for the pump, allocated once. */
  readonly visit: (ring: CompletionRing, slot: number) => void;
  /** What the cyclic and interleaved checks need from this channel. */
  private readonly scope: PrepScope;

  constructor(info: ChannelInfo, actor: ChannelActor, hooks: ChannelSideHooks) {
    this.info = info;
    this.actor = actor;
    this.hooks = hooks;
    this.kernel = actor.quirks === 'dw-edma';
    this.visit = (ring, slot) => this.onRecord(ring, slot);
    this.scope = { name: info.name, sideName: hooks.sideName, contains: (addr, length) => hooks.contains(addr, length) };
  }

  /** Requested by a client; a new request starts the stats from zero. */
  get requested(): boolean {
    return this.isRequested;
  }

  set requested(value: boolean) {
    if (value && !this.isRequested) {
      this.submittedCount = 0;
      this.completedCount = 0;
      this.errorCount = 0;
      this.byteCount = 0;
    }
    this.isRequested = value;
  }

  private get quirks(): 'contract' | 'dw-edma' {
    return this.actor.spec.quirks ?? 'contract';
  }

  // ---- slave config and prep ----

  configure(config: { deviceAddr: number; direction?: Direction }): void {
    this.checkUsable('configure');
    if (config === null || typeof config !== 'object' || !Number.isSafeInteger(config.deviceAddr) || config.deviceAddr < 0) {
      throw new EpdmaError('EINVAL', `${this.info.name}: configure: deviceAddr ${String(config?.deviceAddr)} is not a bus address`);
    }
    this.checkDirection(config.direction, 'configure');
    this.slaveAddr = config.deviceAddr;
    this.configured = true;
    this.configEpoch++;
  }

  prepSlaveSingle(addr: number, length: number, options?: PrepOptions): TxDescriptor {
    this.checkUsable('prep');
    if (!this.configured) throw new EpdmaError('EINVAL', `${this.info.name}: prep before configure (dmaengine_slave_config), or after a terminate took effect`);
    return this.prepOne(addr, length, this.slaveAddr, options);
  }

  prepSlaveSg(segments: readonly Segment[], options?: PrepOptions): TxDescriptor {
    this.checkUsable('prep');
    if (!this.configured) throw new EpdmaError('EINVAL', `${this.info.name}: prep before configure (dmaengine_slave_config), or after a terminate took effect`);
    return this.prep(segments, this.slaveAddr, options);
  }

  prepDmaCyclic(addr: number, bufferBytes: number, periodBytes: number, options?: PrepOptions): TxDescriptor {
    this.checkUsable('prep');
    if (!this.configured) throw new EpdmaError('EINVAL', `${this.info.name}: prepDmaCyclic before configure (dmaengine_slave_config), or after terminate`);
    this.checkDirection(options?.direction, 'prepDmaCyclic');
    const shape = cyclicShape(this.scope, this.quirks, addr, bufferBytes, periodBytes);
    // The device side moves over the buffer's length too (contract) or one burst (dw-edma).
    if (!Number.isSafeInteger(this.slaveAddr + bufferBytes)) {
      throw new EpdmaError('EINVAL', `${this.info.name}: prepDmaCyclic: device range ${hex(this.slaveAddr)}+${hex(bufferBytes)} passes 2^53`);
    }
    const d = new Descriptor(this, addr, shape.length, null, this.slaveAddr, this.flags(options), shape.bytes);
    d.kind = shape.kind;
    d.count = shape.count;
    return d;
  }

  prepInterleavedDma(template: InterleavedTemplate, options?: PrepOptions): TxDescriptor {
    this.checkUsable('prep');
    // dw-edma refuses every prep on an unconfigured channel; the contract needs no slave
    // config here (the template carries both addresses).
    if (this.quirks === 'dw-edma' && !this.configured) {
      throw new EpdmaError('EINVAL', `${this.info.name}: prepInterleavedDma before configure (dw-edma refuses any prep on an unconfigured channel)`);
    }
    this.checkDirection(options?.direction, 'prepInterleavedDma');
    const shape = interleavedShape(this.scope, this.info.direction, this.actor.submissions.maxSegments, template);
    const d = new Descriptor(this, 0, 0, null, shape.srcStart, this.flags(options), shape.bytes);
    d.kind = DESC_INTERLEAVED;
    d.count = shape.numFrames;
    d.interleaved = shape;
    return d;
  }

  private flags(options: PrepOptions | undefined): number {
    return options?.interrupt === false ? 0 : SUBMISSION_FLAG_INTERRUPT;
  }

  caps(): DmaSlaveCaps {
    return {
      directions: [this.info.direction],
      maxSgBurst: llMax(this.actor.spec.ll.size),
      residueGranularity: 'descriptor',
      cmdPause: true,
      cmdResume: true,
      cmdTerminate: true,
      hwId: this.info.hwChannel,
      cyclic: true,
      interleaved: true,
    };
  }

  /**
   * DPDK dmadev-style counters since the channel was requested. submitted: descriptors
   * submitted; completed: descriptors that completed 'ok'; errors: descriptors that completed
   * otherwise with a callback (engine abort, crash, link down; a terminated descriptor gets no
   * callback and counts in neither); bytes: bytes of completed descriptors and of every
   * finished cyclic period; burstCapacity: one-segment descriptors the submission ring still
   * takes after what is submitted or issued but not yet in it (rte_dma_burst_capacity).
   */
  stats(): ChannelStats {
    const free = this.actor.submissions.freeEntries() - this.pendingEntries;
    return {
      submitted: this.submittedCount,
      completed: this.completedCount,
      errors: this.errorCount,
      bytes: this.byteCount,
      burstCapacity: free > 0 ? free >>> 1 : 0,
    };
  }

  /**
   * The prep options' flags. Checked with predicates first: a valid prep builds no message
   * string (hot path).
   */
  private prepFlags(options: PrepOptions | undefined): number {
    if (options !== undefined && !isPlainObject(options)) checkOptions(options, `${this.info.name}: prep: options`);
    const o: PrepOptions = options ?? NO_PREP_OPTIONS;
    this.checkDirection(o.direction, 'prep');
    if (o.interrupt !== undefined && typeof o.interrupt !== 'boolean') checkBoolean(o.interrupt, `${this.info.name}: prep: options.interrupt`);
    return this.flags(o);
  }

  /** Segment `i` is a transfer_size-sized range of this side's memory. */
  private checkSegment(i: number, addr: number, length: number): void {
    if (!isAddress(addr)) checkAddress(addr, `${this.info.name}: prep: segment ${i} addr`);
    if (!Number.isSafeInteger(length) || length <= 0 || length > MAX_SEGMENT_BYTES) {
      throw new EpdmaError('EINVAL', `${this.info.name}: prep: segment ${i} length ${show(length)} (must be 1..${hex(MAX_SEGMENT_BYTES)})`);
    }
    if (!this.hooks.contains(addr, length)) {
      throw new EpdmaError('EINVAL', `${this.info.name}: prep: segment ${i} ${hex(addr)}+${hex(length)} is outside ${this.hooks.sideName} memory`);
    }
  }

  private checkDeviceRange(deviceAddr: number, total: number): void {
    if (!Number.isSafeInteger(deviceAddr + total)) throw new EpdmaError('EINVAL', `${this.info.name}: prep: device range ${hex(deviceAddr)}+${hex(total)} passes 2^53`);
  }

  /** A one-segment descriptor: no segment list at all. */
  private prepOne(addr: number, length: number, deviceAddr: number, options?: PrepOptions): Descriptor {
    const flags = this.prepFlags(options);
    this.checkSegment(0, addr, length);
    this.checkDeviceRange(deviceAddr, length);
    return new Descriptor(this, addr, length, null, deviceAddr, flags, length);
  }

  private prep(segments: readonly Segment[], deviceAddr: number, options?: PrepOptions): Descriptor {
    const flags = this.prepFlags(options);
    if (!Array.isArray(segments) || segments.length === 0) throw new EpdmaError('EINVAL', `${this.info.name}: prep: empty segment list (or not an array): ${show(segments)}`);
    const max = this.actor.submissions.maxSegments;
    if (segments.length > max) throw new EpdmaError('EINVAL', `${this.info.name}: prep: ${segments.length} segments, more than the ${max} one transfer can carry`);
    let total = 0;
    for (let i = 0; i < segments.length; i++) {
      const s = segments[i]!;
      if (!isPlainObject(s)) checkObject(s as Segment | null, `${this.info.name}: prep: segment ${i}`);
      this.checkSegment(i, s.addr, s.length);
      total += s.length;
    }
    this.checkDeviceRange(deviceAddr, total);
    const first = segments[0]!;
    // The list is copied: the client may reuse its array once prep returns (so may the kernel's).
    return new Descriptor(this, first.addr, first.length, segments.length === 1 ? null : segments.map(copySegment), deviceAddr, flags, total);
  }

  submitDescriptor(d: Descriptor): number {
    if (d.cookie !== 0) throw new EpdmaError('EINVAL', `${this.info.name}: descriptor already submitted as cookie ${d.cookie}`);
    this.checkUsable('submit');
    d.cookie = this.nextCookie;
    if (this.nextCookie === COOKIE_MAX) {
      this.nextCookie = 1;
      this.cookiesWrapped = true;
    } else this.nextCookie++;
    // A cookie handed out again (after a wrap) starts without the old one's error.
    if (this.errors.size !== 0) this.errors.delete(d.cookie);
    d.submittedMs = performance.now();
    this.submitted.push(d);
    this.submittedCount++;
    this.pendingEntries += d.entries;
    return d.cookie;
  }

  issuePending(): void {
    this.checkOpen('issuePending');
    if (this.stoppedReason !== undefined) {
      this.failPending(this.submitted, Reason.CHANNEL_STOPPED, this.stoppedReason);
      return;
    }
    // dw-edma: issue_pending does nothing on a channel that is not configured.
    if (this.kernel && !this.configured) return;
    this.submitted.moveAllTo(this.overflow);
    // A terminate in progress drains the whole ring when the worker runs it; what was
    // submitted after terminateAsync() waits here until it has (DMAengine terminates only
    // descriptors submitted before the call).
    if (this.terminating !== undefined) return;
    this.fillRing();
    this.startIssued(true);
  }

  /**
   * The rest of issue_pending (ChannelControlBlock.issue): the channel is BUSY with its first
   * chunk started before this returns, as in the kernel, so an immediate pause is accepted;
   * that chunk's DONE waits until the code that called this has run (one microtask). The
   * worker does the starting; one kick, no message.
   *
   * What the hold costs: it is set only when this issue starts an IDLE channel (a channel
   * already BUSY takes new work at its next boundary, nothing to hold), and it holds only that
   * first chunk's DONE, never its copy. It is dropped by the microtask queued here, which runs
   * before the completion pump's next pass (a later task, or a reaction queued after it) could
   * deliver that DONE anyway, so delivery is normally not delayed; the worker meanwhile idles on
   * its kick word instead of taking a core from the main thread it waits for (with more
   * channels than cores, held workers spinning starved the main thread that releases them). A
   * pause or terminate in the same synchronous code lands on that chunk's boundary, as in the
   * kernel.
   */
  private startIssued(fromIssue: boolean): void {
    if (this.actor.control.issue(this.queuedInRing, fromIssue) && !this.holdQueued) {
      this.holdQueued = true;
      queueMicrotask(this.releaseHold);
    }
    this.actor.kickWorker();
  }

  /** Moves issued descriptors into the ring while it has room. */
  private fillRing(): void {
    const ring = this.actor.submissions;
    const overflow = this.overflow;
    for (let d = overflow.at(0); d !== undefined; d = overflow.at(0)) {
      const il = d.interleaved;
      const seq = il !== undefined
        ? ring.pushInterleaved(d.cookie, d.flags, il.srcStart, il.dstStart, il.numFrames, il.sizes, il.srcGaps, il.dstGaps, il.sizes.length)
        : d.kind !== DESC_SG
          ? ring.pushCyclic(d.cookie, d.flags, d.kind as typeof DESC_CYCLIC, d.deviceAddr, d.addr, d.length, d.count)
          : d.segments === null
            ? ring.pushSingle(d.cookie, d.flags, d.deviceAddr, d.addr, d.length)
            : ring.pushSegments(d.cookie, d.flags, d.deviceAddr, d.segments);
      if (seq < 0) break;
      overflow.shift();
      d.seq = seq | 0;
      this.pendingEntries -= d.entries;
      this.inRing.push(d);
    }
  }

  // ---- completions ----

  private onRecord(ring: CompletionRing, slot: number): void {
    const cookie = ring.cookieAt(slot);
    const inRing = this.inRing;
    // The head, unless the record answers a descriptor already settled (crash reconciliation
    // raced a late record) or the order was broken some other way: then look it up.
    let at = 0;
    let d = inRing.at(0);
    if (d === undefined || d.cookie !== cookie) {
      at = inRing.indexOfCookie(cookie);
      if (at < 0) return;
      d = inRing.at(at)!;
    }
    const period = ring.periodAt(slot);
    if (period >= 0) {
      this.onPeriod(d, ring, slot, period);
      return;
    }
    if (at === 0) inRing.shift();
    else inRing.removeAt(at);
    const reason = ring.reasonAt(slot);
    const faultAddr = ring.faultAddrAt(slot);
    const result = ring.resultAt(slot);
    d.result = result <= RESULT_ABORTED ? result : RESULT_ABORTED;
    d.residue = ring.residueAt(slot);
    d.movedBytes = ring.bytesAt(slot);
    d.reason = reason;
    const silent = reason === Reason.TERMINATED || reason === Reason.CHANNEL_RELEASED;
    const deliver = this.delivers(d, silent);
    if (deliver || faultAddr !== 0 || d.awaited) {
      d.build(ring.completedNsAt(slot), faultAddr !== 0 ? `${COMPLETION_REASONS[reason]} at ${hex(faultAddr)}` : undefined);
    } else {
      // Nobody wants it now: no Completion, no bigint; `done` builds it if asked later.
      d.completedHigh = ring.completedNsHighAt(slot) | 0;
      d.completedLow = ring.completedNsLowAt(slot) | 0;
    }
    this.settle(d, silent, deliver);
    if (this.overflow.length > 0 && this.terminating === undefined) {
      this.fillRing();
      this.startIssued(false);
    }
  }

  /** A cyclic descriptor finished a period and runs on: a callback, unless it was terminated. */
  private onPeriod(d: Descriptor, ring: CompletionRing, slot: number, period: number): void {
    if (d.silenced) return;
    const bytes = ring.bytesAt(slot);
    this.byteCount += bytes;
    if (!this.stream.observed && !this.hooks.observed()) return;
    const c: Completion = {
      cookie: d.cookie, channel: this.info, result: 'ok', residue: ring.residueAt(slot), bytes,
      submittedNs: hrNsAt(d.submittedMs), completedNs: ring.completedNsAt(slot), period,
    };
    this.stream.next(c);
    this.hooks.emit(c);
  }

  /**
   * True if the settling `d` gets a callback that reaches someone. DMAengine: a terminated
   * descriptor gets no callback (only its `done` learns why), nor does one prepared without
   * DMA_PREP_INTERRUPT (dw-edma ignores the flag: virt-dma runs every descriptor's callback).
   */
  private delivers(d: Descriptor, silent: boolean): boolean {
    return !silent && (this.kernel || (d.flags & SUBMISSION_FLAG_INTERRUPT) !== 0) && (this.stream.observed || this.hooks.observed());
  }

  /**
   * `d` has its outcome: settle `done`, count it and, if `deliver`, hand its Completion (built
   * by then) to the subscribers.
   */
  private settle(d: Descriptor, silent: boolean, deliver: boolean): void {
    this.lastCompleted = d.cookie;
    if (d.result !== RESULT_OK) {
      this.errors.set(d.cookie, d.residue);
      if (this.errors.size > ERROR_HISTORY) this.errors.delete(this.errors.keys().next().value!);
    }
    d.resolve();
    if (silent) return;
    if (d.result === RESULT_OK) {
      this.completedCount++;
      this.byteCount += d.movedBytes;
    } else this.errorCount++;
    if (!deliver) return;
    const c = d.completion();
    this.stream.next(c);
    this.hooks.emit(c);
  }

  /** Settles `d` 'aborted' for a reason the main thread knows (the worker will never report it). */
  private settleHere(d: Descriptor, reason: number, text: string | undefined, now: bigint, silent: boolean): void {
    d.result = RESULT_ABORTED;
    d.residue = d.bytes;
    d.movedBytes = 0;
    d.reason = reason;
    d.build(now, text);
    this.settle(d, silent, this.delivers(d, silent));
  }

  /** Empties a submitted or overflow queue: each completes 'aborted' for `reason`. */
  private failPending(queue: DescriptorQueue<Descriptor>, reason: number, text: string | undefined, silent = false): void {
    const now = process.hrtime.bigint();
    for (let d = queue.shift(); d !== undefined; d = queue.shift()) {
      this.pendingEntries -= d.entries;
      this.settleHere(d, reason, text, now, silent);
    }
  }

  /**
   * The worker died: drain what it published, then the descriptor it had taken out of the
   * ring (seq before the ring's tail) completes 'aborted'; later ones stay for the restart.
   */
  onWorkerCrash(): void {
    this.actor.completions.drain(this.visit);
    const tail = this.actor.submissions.tail();
    const now = process.hrtime.bigint();
    // Ring order: the taken ones are a prefix.
    for (let d = this.inRing.at(0); d !== undefined && ((tail - d.seq) | 0) > 0; d = this.inRing.at(0)) {
      this.inRing.shift();
      this.settleHere(d, Reason.WORKER_CRASHED, undefined, now, false);
    }
  }

  /** The testbed closed: what is left completes aborted, and every call is ESHUTDOWN after. */
  onClosed(): void {
    this.closed = true;
    this.onStopped('testbed closed');
  }

  /** Restart intensity exceeded: nothing will run here again. */
  onStopped(reason: string): void {
    this.stoppedReason = `channel stopped: ${reason}`;
    this.actor.completions.drain(this.visit);
    const now = process.hrtime.bigint();
    for (let d = this.inRing.shift(); d !== undefined; d = this.inRing.shift()) this.settleHere(d, Reason.CHANNEL_STOPPED, this.stoppedReason, now, false);
    this.failPending(this.overflow, Reason.CHANNEL_STOPPED, this.stoppedReason);
    this.failPending(this.submitted, Reason.CHANNEL_STOPPED, this.stoppedReason);
  }

  // ---- status and control ----

  txStatus(cookie: number): { status: 'complete' | 'in-progress' | 'paused' | 'error'; residue: number } {
    this.checkOpen('txStatus');
    if (!Number.isSafeInteger(cookie) || cookie < 1 || cookie > COOKIE_MAX || (!this.cookiesWrapped && cookie >= this.nextCookie)) {
      throw new EpdmaError('EINVAL', `${this.info.name}: txStatus: cookie ${show(cookie)} was never submitted (next is ${this.nextCookie})`);
    }
    // dw-edma: a cookie completed by an ABORT is DMA_COMPLETE with residue 0 like any other.
    if (!this.kernel) {
      const err = this.errors.get(cookie);
      if (err !== undefined) return { status: 'error', residue: err };
    }
    // A client polling txStatus in a loop (dma_sync_wait) has finished issuing.
    if (this.holdQueued) this.releaseHold();
    const residue = this.residueOf(cookie);
    if (residue < 0) return { status: 'complete', residue: 0 };
    // dma_cookie_status says IN_PROGRESS; on a PAUSED channel every such cookie is DMA_PAUSED,
    // queued ones too.
    return { status: this.actor.control.status() === CHANNEL_PAUSED ? 'paused' : 'in-progress', residue };
  }

  /**
   * alloc_sz - xfer_sz of the descriptor `cookie` not completed yet, as dw-edma's tx_status
   * finds it; -1 if it is complete.
   */
  private residueOf(cookie: number): number {
    const at = this.inRing.indexOfCookie(cookie);
    if (at < 0) {
      // Submitted (or issued but held back for room in the ring): nothing started. dw-edma
      // searches only the issued list, so a submitted one has residue 0 there.
      const queued = this.overflow.at(this.overflow.indexOfCookie(cookie));
      if (queued !== undefined) return descriptorResidue(this.kernel, queued.bytes, 0);
      const submitted = this.submitted.at(this.submitted.indexOfCookie(cookie));
      if (submitted === undefined) return -1;
      return this.kernel ? 0 : descriptorResidue(this.kernel, submitted.bytes, 0);
    }
    const d = this.inRing.at(at)!;
    const ring = this.actor.submissions;
    const ctl = this.actor.control;
    // The worker names a descriptor current, with its first chunk's residue, just before it
    // consumes the ring entry: named counts as taken. (Read before the tail: named, then
    // consumed. Counted as not taken in between, the residue went back up to the full size.)
    const current = ctl.currentCookie();
    if (current !== d.cookie && !ring.isTaken(d.seq)) {
      // The next descriptor of a channel that issuePending marked BUSY with its first chunk
      // started: the worker is about to take it, the kernel had started that chunk already.
      const s = ctl.state();
      const starting = ((d.seq - ring.tail()) | 0) === 0 && current === 0 && stateStatus(s) === CHANNEL_BUSY && (s & STATE_RUNNING) !== 0;
      return descriptorResidue(this.kernel, d.bytes, starting ? d.firstChunkBytes(this.actor.llMax) : 0);
    }
    // Taken: in flight (alloc_sz - xfer_sz from the worker), or finished with its record on
    // the way (every chunk started: 0, not the full size again until the pump drains it).
    const r = ctl.currentResidue(d.cookie);
    return r >= 0 ? r : 0;
  }

  /**
   * dw_edma_device_pause: a configured, BUSY channel with no request pending (else EPERM)
   * takes the PAUSE request at once; it acts at the next chunk boundary, which this awaits.
   * Right after issuePending the channel is already BUSY, so the pause is accepted.
   */
  async pause(): Promise<void> {
    this.checkUsable('pause');
    if (!this.configured) throw new EpdmaError('EPERM', `${this.info.name}: pause: channel not configured`);
    const ctl = this.actor.control;
    for (;;) {
      const s = ctl.state();
      if (stateStatus(s) !== CHANNEL_BUSY || stateRequest(s) !== REQUEST_NONE) {
        throw new EpdmaError('EPERM', `${this.info.name}: pause: channel is ${describeState(s)}`);
      }
      if (ctl.compareAndSwapState(s, s | REQUEST_PAUSE)) break;
    }
    this.actor.kickWorker();
    await this.actor.call('waitPaused');
  }

  /** dw_edma_device_resume: a configured, PAUSED channel with no request pending (else EPERM) is BUSY again at once. */
  async resume(): Promise<void> {
    this.checkUsable('resume');
    if (!this.configured) throw new EpdmaError('EPERM', `${this.info.name}: resume: channel not configured`);
    const ctl = this.actor.control;
    for (;;) {
      const s = ctl.state();
      if (stateStatus(s) !== CHANNEL_PAUSED || stateRequest(s) !== REQUEST_NONE) {
        throw new EpdmaError('EPERM', `${this.info.name}: resume: channel is ${describeState(s)}, not paused`);
      }
      // start_transfer: the next chunk of the paused descriptor, or the next issued one.
      const inFlight = ctl.currentCookie() !== 0;
      const chunk = inFlight ? ctl.currentHasChunksLeft() : this.actor.submissions.available() > 0;
      if (ctl.compareAndSwapState(s, withState(s, CHANNEL_BUSY | (chunk ? STATE_RUNNING : 0)))) break;
    }
    this.actor.kickWorker();
  }

  /**
   * dw_edma_device_terminate_all's state change, the same in both modes: PAUSED, IDLE, or
   * BUSY with nothing on the hardware -> IDLE at once (true); a chunk running -> request STOP,
   * honoured at that chunk's DONE (false). A pending PAUSE is replaced by the STOP.
   */
  private requestStop(): boolean {
    const ctl = this.actor.control;
    for (;;) {
      const s = ctl.state();
      const status = stateStatus(s);
      if (status === CHANNEL_IDLE) return true;
      if (status === CHANNEL_PAUSED || (s & STATE_RUNNING) === 0) {
        if (ctl.compareAndSwapState(s, withState(s, CHANNEL_IDLE | STATE_HALTED))) return true;
      } else if (ctl.compareAndSwapState(s, (s & ~REQUEST_MASK) | REQUEST_STOP)) {
        return false;
      }
    }
  }

  terminateAsync(): void {
    this.checkOpen('terminateAsync');
    if (this.kernel) {
      // dw-edma: a state change only. Nothing completes, nothing is freed: the queue stays and
      // runs at the next issuePending after a new configure; a STOP's descriptor completes
      // through the normal DONE path.
      if (!this.configured) return;
      if (this.requestStop()) this.configured = false;
      this.actor.kickWorker();
      return;
    }
    // Never issued (or held back by a terminate in progress): they never reached the worker;
    // no callback (DMAengine), done learns why.
    this.settleHeldBack(Reason.TERMINATED);
    if (this.terminating !== undefined) {
      this.stopEpoch = this.configEpoch;
      return;
    }
    this.actor.control.setTerminatePending(TERMINATE_ALL);
    // The channel stays configured until the STOP takes effect (a prep meanwhile is accepted).
    if (this.requestStop()) this.configured = false;
    else this.stopEpoch = this.configEpoch;
    this.actor.kickWorker();
    this.terminating = this.workerTerminated().finally(() => {
      this.terminating = undefined;
      if (this.stopEpoch === this.configEpoch) this.configured = false;
      this.stopEpoch = -1;
      // Work issued while the terminate ran goes to the worker now.
      if (this.overflow.length > 0 && this.stoppedReason === undefined) {
        this.fillRing();
        this.startIssued(true);
      }
    });
  }

  /**
   * Completes what never reached the worker (submitted, or issued and held back) without a
   * callback, oldest cookie first: everything held back was issued before anything still only
   * submitted, and each `done` settles in that order.
   */
  private settleHeldBack(reason: number): void {
    this.failPending(this.overflow, reason, undefined, true);
    this.failPending(this.submitted, reason, undefined, true);
    // A cyclic descriptor still running reports periods until the worker stops it: no more
    // callbacks from the moment of the terminate.
    for (let i = 0; i < this.inRing.length; i++) {
      const d = this.inRing.at(i)!;
      if (d.kind === DESC_CYCLIC) d.silenced = true;
    }
  }

  /**
   * Resolves once the worker finished the terminate pending in the control block, its records
   * drained. If the worker dies meanwhile, crash reconciliation settles what it had in flight,
   * and the restarted worker finishes the terminate (the pending word survives the crash)
   * before it runs anything: so ask the restarted worker, once the supervisor's restart has
   * answered. A channel stopped for good (or closed) failed everything it held: nothing is left
   * to terminate.
   */
  private async workerTerminated(): Promise<void> {
    for (;;) {
      try {
        await this.actor.call('terminate');
        break;
      } catch (err) {
        if (!(err instanceof EpdmaError && err.code === 'ESHUTDOWN')) throw err;
      }
      const restarted = await this.actor.whenRunning().then(() => true, () => false);
      if (!restarted) break;
    }
    this.hooks.drainNow();
  }

  async synchronize(): Promise<void> {
    // dw-edma: vchan_synchronize waits for callbacks only, never for a pending STOP.
    if (this.kernel) this.hooks.drainNow();
    else await this.terminating;
  }

  async terminateSync(): Promise<void> {
    this.terminateAsync();
    await this.synchronize();
  }

  async release(): Promise<void> {
    this.checkOpen('release');
    if (!this.requested) return;
    if (this.kernel) {
      // dw_edma_free_chan_resources: terminate_all, then vchan_free_chan_resources drops every
      // descriptor without a callback. The worker drops its own at the next chunk boundary.
      this.terminateAsync();
      this.settleHeldBack(Reason.CHANNEL_RELEASED);
      this.actor.control.setTerminatePending(TERMINATE_FREE);
      this.actor.kickWorker();
      await this.workerTerminated();
    } else {
      await this.terminateSync();
    }
    this.requested = false;
  }

  // ---- transfer() ----

  transfer(request: TransferRequest): Observable<Completion> {
    return new Observable<Completion>((subscriber) => {
      let active = true;
      try {
        this.checkUsable('transfer');
        const d = this.prepTransfer(request);
        // dw-edma issues only on a configured channel: transfer() is the slave config, prep,
        // submit and issue a kernel client would do.
        if (this.kernel) this.configure({ deviceAddr: 'segments' in request ? request.deviceAddr : request.remote });
        this.submitDescriptor(d);
        this.issuePending();
        d.done.then((c) => {
          if (!active) return;
          if (c.result === 'ok') {
            subscriber.next(c);
            subscriber.complete();
          } else {
            subscriber.error(new EpdmaError('EIO', `${this.info.name}: transfer cookie ${c.cookie} ${c.result}${c.reason !== undefined ? `: ${c.reason}` : ''}`, c, { completion: c }));
          }
        });
      } catch (err) {
        subscriber.error(err);
      }
      return () => {
        active = false;
      };
    });
  }

  /** Checks a transfer() request (a DmaBuffer against its own length and liveness) and preps it. */
  private prepTransfer(request: TransferRequest): Descriptor {
    const what = `${this.info.name}: transfer`;
    const r = checkObject(request, `${what}: request`);
    if ('segments' in r) return this.prep(r.segments, checkAddress(r.deviceAddr, `${what}: deviceAddr`));
    const length = checkLength(r.length, `${what}: length`, 1, MAX_SEGMENT_BYTES);
    const remote = checkAddress(r.remote, `${what}: remote`);
    if (typeof r.local === 'number') return this.prepOne(r.local, length, remote);
    const buffer = checkDmaBuffer(r.local, `${what}: local`);
    this.hooks.checkBuffer(buffer, length, `${what}: local`);
    return this.prepOne(buffer.addr, length, remote);
  }

  // ---- checks ----

  private checkOpen(what: string): void {
    if (this.closed) throw new EpdmaError('ESHUTDOWN', `${this.info.name}: ${what} after the testbed closed`);
  }

  private checkUsable(what: string): void {
    this.checkOpen(what);
    if (!this.requested) throw new EpdmaError('EPERM', `${this.info.name}: ${what} on a channel that is not requested (released?)`);
    if (this.stoppedReason !== undefined) throw new EpdmaError('ESHUTDOWN', `${this.info.name}: ${what}: ${this.stoppedReason}`);
  }

  private checkDirection(direction: Direction | undefined, what: string): void {
    if (direction !== undefined && direction !== this.info.direction) {
      throw new EpdmaError('EINVAL', `${this.info.name}: ${what}: direction '${direction}' but this ${this.info.kind} channel is '${this.info.direction}' on the ${this.info.side} side`);
    }
  }

  /** Descriptors in the ring or on the channel: their records are due. */
  get inRingCount(): number {
    return this.inRing.length;
  }

  /** Descriptors not yet completed (for close and tests). */
  get outstanding(): number {
    return this.inRing.length + this.overflow.length + this.submitted.length;
  }

  completeStreams(): void {
    this.stream.complete();
  }

  /** Cookie of the last descriptor that completed (any result). */
  get lastCompletedCookie(): number {
    return this.lastCompleted;
  }
}

function copySegment(s: Segment): Segment {
  return { addr: s.addr, length: s.length };
}

function describeState(s: number): string {
  const status = ['idle', 'busy', 'paused', 'in an unknown state'][stateStatus(s)]!;
  const request = stateRequest(s) === REQUEST_STOP ? ' with a terminate pending' : stateRequest(s) === REQUEST_PAUSE ? ' with a pause pending' : '';
  return `${status}${request}`;
}
