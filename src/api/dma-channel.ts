import { Observable, Subject } from 'rxjs';
import { EpdmaError, hex } from '../device/errors.js';
import type { ChannelActor } from '../actors/channel-actor.js';
import { CHANNEL_PAUSED } from '../workers/channel-control-block.js';
import { COMPLETION_REASONS, COMPLETION_RESULTS, Reason, type CompletionRing } from '../workers/rings/completion-ring.js';
import { SUBMISSION_FLAG_INTERRUPT } from '../workers/rings/submission-ring.js';
import type { ChannelInfo, Completion, DmaBuffer, DmaChannel, Direction, PrepOptions, Segment, TransferRequest, TxDescriptor } from './types.js';

const MAX_SEGMENT_BYTES = 0xffff_ffff; // transfer_size is 32-bit (dma_set_max_seg_size(U32_MAX))
const COOKIE_MAX = 0x7fff_ffff; // dma_cookie_t is s32; cookies wrap back to 1
const ERROR_HISTORY = 1024;

/** What a channel needs from its side. */
export interface ChannelSideHooks {
  /** True if [addr, addr + length) is this side's memory. */
  contains(addr: number, length: number): boolean;
  readonly sideName: 'endpoint' | 'host';
  /** A completion for the side and testbed streams (batched there). */
  emit(completion: Completion): void;
  /** Drains every completion ring of the side now. */
  drainNow(): void;
}

class Descriptor implements TxDescriptor {
  cookie = 0;
  seq = -1;
  completion: Completion | undefined;
  private resolveDone: ((c: Completion) => void) | undefined;
  private donePromise: Promise<Completion> | undefined;

  constructor(
    private readonly owner: ChannelHandle,
    readonly segments: readonly Segment[],
    readonly deviceAddr: number,
    readonly flags: number,
    readonly bytes: number,
  ) {}

  submittedNs = 0n;

  submit(): number {
    return this.owner.submitDescriptor(this);
  }

  /** Created on first use: most high-rate clients watch completions$ instead. */
  get done(): Promise<Completion> {
    if (this.donePromise === undefined) {
      this.donePromise = this.completion !== undefined
        ? Promise.resolve(this.completion)
        : new Promise((resolve) => { this.resolveDone = resolve; });
    }
    return this.donePromise;
  }

  settle(c: Completion): void {
    this.completion = c;
    this.resolveDone?.(c);
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
  private readonly subject = new Subject<Completion>();
  readonly completions$: Observable<Completion> = this.subject.asObservable();

  private configured = false;
  private slaveAddr = 0;
  private nextCookie = 1;
  private lastCompleted = 0;
  private readonly submitted: Descriptor[] = [];
  /** Issued, waiting for room in the ring (oldest first). */
  private readonly overflow: Descriptor[] = [];
  /** In the ring or in flight, by cookie; Map iteration order is issue order. */
  private readonly inRing = new Map<number, Descriptor>();
  private readonly errors = new Map<number, number>(); // cookie -> residue, for txStatus
  private terminating: Promise<void> | undefined;
  private stoppedReason: string | undefined;
  requested = false;
  /** One visitor for the pump, allocated once. */
  readonly visit: (ring: CompletionRing, slot: number) => void;

  constructor(info: ChannelInfo, actor: ChannelActor, hooks: ChannelSideHooks) {
    this.info = info;
    this.actor = actor;
    this.hooks = hooks;
    this.visit = (ring, slot) => this.onRecord(ring, slot);
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
  }

  prepSlaveSingle(addr: number, length: number, options?: PrepOptions): TxDescriptor {
    return this.prepSlaveSg([{ addr, length }], options);
  }

  prepSlaveSg(segments: readonly Segment[], options?: PrepOptions): TxDescriptor {
    this.checkUsable('prep');
    if (!this.configured) throw new EpdmaError('EINVAL', `${this.info.name}: prep before configure (dmaengine_slave_config), or after terminate`);
    return this.prep(segments, this.slaveAddr, options);
  }

  private prep(segments: readonly Segment[], deviceAddr: number, options?: PrepOptions): Descriptor {
    this.checkDirection(options?.direction, 'prep');
    if (!Array.isArray(segments) || segments.length === 0) throw new EpdmaError('EINVAL', `${this.info.name}: prep: empty segment list`);
    const max = this.actor.submissions.maxSegments;
    if (segments.length > max) throw new EpdmaError('EINVAL', `${this.info.name}: prep: ${segments.length} segments, more than the ${max} one transfer can carry`);
    let total = 0;
    for (let i = 0; i < segments.length; i++) {
      const s = segments[i]!;
      if (!Number.isSafeInteger(s.length) || s.length <= 0 || s.length > MAX_SEGMENT_BYTES) {
        throw new EpdmaError('EINVAL', `${this.info.name}: prep: segment ${i} length ${s.length} (must be 1..${hex(MAX_SEGMENT_BYTES)})`);
      }
      if (!this.hooks.contains(s.addr, s.length)) {
        throw new EpdmaError('EINVAL', `${this.info.name}: prep: segment ${i} ${typeof s.addr === 'number' ? hex(s.addr) : String(s.addr)}+${hex(s.length)} is outside ${this.hooks.sideName} memory`);
      }
      total += s.length;
    }
    if (!Number.isSafeInteger(deviceAddr + total)) throw new EpdmaError('EINVAL', `${this.info.name}: prep: device range ${hex(deviceAddr)}+${hex(total)} passes 2^53`);
    const flags = options?.interrupt === false ? 0 : SUBMISSION_FLAG_INTERRUPT;
    return new Descriptor(this, segments.length === 1 ? [segments[0]!] : segments.slice(), deviceAddr, flags, total);
  }

  submitDescriptor(d: Descriptor): number {
    if (d.cookie !== 0) throw new EpdmaError('EINVAL', `${this.info.name}: descriptor already submitted as cookie ${d.cookie}`);
    this.checkUsable('submit');
    d.cookie = this.nextCookie;
    this.nextCookie = this.nextCookie === COOKIE_MAX ? 1 : this.nextCookie + 1;
    d.submittedNs = process.hrtime.bigint();
    this.submitted.push(d);
    return d.cookie;
  }

  issuePending(): void {
    if (this.stoppedReason !== undefined) {
      this.failQueued(this.submitted.splice(0), this.stoppedReason);
      return;
    }
    // Issued descriptors still in the ring count too: after an ABORT the worker is IDLE and
    // only a new issue_pending restarts them (vchan_issue_pending is true for a non-empty
    // issued list, even with nothing newly submitted).
    if (this.submitted.length === 0 && this.overflow.length === 0 && this.inRing.size === 0) return;
    for (const d of this.submitted) this.overflow.push(d);
    this.submitted.length = 0;
    // A terminate in progress drains the whole ring when the worker runs it; what was
    // submitted after terminateAsync() waits here until it has (DMAengine terminates only
    // descriptors submitted before the call).
    if (this.terminating !== undefined) return;
    this.fillRing();
    this.actor.control.bumpIssue();
    this.actor.kickWorker();
  }

  /** Moves issued descriptors into the ring while it has room. */
  private fillRing(): void {
    const ring = this.actor.submissions;
    let n = 0;
    for (; n < this.overflow.length; n++) {
      const d = this.overflow[n]!;
      const s = d.segments;
      const seq = s.length === 1
        ? ring.pushSingle(d.cookie, d.flags, d.deviceAddr, s[0]!.addr, s[0]!.length)
        : ring.pushSg(d.cookie, d.flags, d.deviceAddr, s.map((x) => x.addr), s.map((x) => x.length), s.length);
      if (seq < 0) break;
      d.seq = seq;
      this.inRing.set(d.cookie, d);
    }
    if (n > 0) this.overflow.splice(0, n);
  }

  // ---- completions ----

  private onRecord(ring: CompletionRing, slot: number): void {
    const cookie = ring.cookieAt(slot);
    const d = this.inRing.get(cookie);
    if (d === undefined) return; // already settled (crash reconciliation raced a late record)
    this.inRing.delete(cookie);
    const reason = ring.reasonAt(slot);
    const result = ring.resultAt(slot);
    const faultAddr = ring.faultAddrAt(slot);
    this.settle(d, COMPLETION_RESULTS[result] ?? 'aborted', ring.residueAt(slot), ring.bytesAt(slot), ring.completedNsAt(slot),
      reason === Reason.NONE ? undefined : faultAddr !== 0 ? `${COMPLETION_REASONS[reason]} at ${hex(faultAddr)}` : COMPLETION_REASONS[reason],
      reason === Reason.TERMINATED);
    if (this.overflow.length > 0 && this.terminating === undefined) {
      this.fillRing();
      this.actor.kickWorker();
    }
  }

  private settle(d: Descriptor, result: Completion['result'], residue: number, bytes: number, completedNs: bigint, reason: string | undefined, silent: boolean): void {
    const c: Completion = reason === undefined
      ? { cookie: d.cookie, channel: this.info, result, residue, bytes, submittedNs: d.submittedNs, completedNs }
      : { cookie: d.cookie, channel: this.info, result, residue, bytes, submittedNs: d.submittedNs, completedNs, reason };
    this.lastCompleted = d.cookie;
    if (result !== 'ok') {
      this.errors.set(d.cookie, residue);
      if (this.errors.size > ERROR_HISTORY) this.errors.delete(this.errors.keys().next().value!);
    }
    d.settle(c);
    // DMAengine: a terminated descriptor gets no callback; only its `done` learns why.
    if (silent) return;
    this.subject.next(c);
    this.hooks.emit(c);
  }

  /** Completes descriptors the worker will never report (crash, stop) as aborted. */
  private failQueued(list: Iterable<Descriptor>, reason: string): void {
    const now = process.hrtime.bigint();
    for (const d of list) this.settle(d, 'aborted', d.bytes, 0, now, reason, false);
  }

  /**
   * The worker died: drain what it published, then the descriptor it had taken out of the
   * ring (seq before the ring's tail) completes 'aborted'; later ones stay for the restart.
   */
  onWorkerCrash(): void {
    this.actor.completions.drain(this.visit);
    const tail = this.actor.submissions.tail();
    const lost: Descriptor[] = [];
    for (const d of this.inRing.values()) {
      if (((tail - d.seq) | 0) > 0) lost.push(d);
    }
    for (const d of lost) this.inRing.delete(d.cookie);
    this.failQueued(lost, COMPLETION_REASONS[Reason.WORKER_CRASHED]);
  }

  /** Restart intensity exceeded: nothing will run here again. */
  onStopped(reason: string): void {
    this.stoppedReason = `channel stopped: ${reason}`;
    this.actor.completions.drain(this.visit);
    const all = [...this.inRing.values(), ...this.overflow.splice(0), ...this.submitted.splice(0)];
    this.inRing.clear();
    this.failQueued(all, this.stoppedReason);
  }

  // ---- status and control ----

  txStatus(cookie: number): { status: 'complete' | 'in-progress' | 'paused' | 'error'; residue: number } {
    if (!Number.isSafeInteger(cookie) || cookie < 1 || cookie >= this.nextCookie) {
      throw new EpdmaError('EINVAL', `${this.info.name}: txStatus: cookie ${cookie} was never submitted (next is ${this.nextCookie})`);
    }
    const err = this.errors.get(cookie);
    if (err !== undefined) return { status: 'error', residue: err };
    const d = this.inRing.get(cookie) ?? this.overflow.find((x) => x.cookie === cookie) ?? this.submitted.find((x) => x.cookie === cookie);
    if (d === undefined) return { status: 'complete', residue: 0 };
    // Tail first, then the current cookie (the worker sets current before it consumes): not
    // taken -> queued, nothing started; taken and current -> alloc_sz - xfer_sz; taken and no
    // longer current -> the worker finished it and its record is on the way: every chunk was
    // started, residue 0 (not the full size again until the pump drains the record).
    if (!this.inRing.has(cookie) || ((this.actor.submissions.tail() - d.seq) | 0) <= 0) {
      return { status: 'in-progress', residue: d.bytes };
    }
    const ctl = this.actor.control;
    if (ctl.currentCookie() === cookie) {
      return { status: ctl.status() === CHANNEL_PAUSED ? 'paused' : 'in-progress', residue: ctl.currentResidue() };
    }
    return { status: 'in-progress', residue: 0 };
  }

  async pause(): Promise<void> {
    this.checkUsable('pause');
    if (!this.configured) throw new EpdmaError('EPERM', `${this.info.name}: pause: channel not configured`);
    const r = await this.actor.call('pause');
    if (r === 'EPERM') throw new EpdmaError('EPERM', `${this.info.name}: pause: channel is not busy (or a request is pending)`);
    await this.actor.call('waitPaused');
  }

  async resume(): Promise<void> {
    this.checkUsable('resume');
    const r = await this.actor.call('resume');
    if (r === 'EPERM') throw new EpdmaError('EPERM', `${this.info.name}: resume: channel is not paused`);
  }

  terminateAsync(): void {
    this.configured = false;
    // Never issued (or held back by a terminate in progress): they never reached the worker;
    // no callback (DMAengine), done learns why.
    const now = process.hrtime.bigint();
    for (const d of [...this.submitted.splice(0), ...this.overflow.splice(0)]) {
      this.settle(d, 'aborted', d.bytes, 0, now, COMPLETION_REASONS[Reason.TERMINATED], true);
    }
    if (this.terminating !== undefined) return;
    const ctl = this.actor.control;
    ctl.setTerminatePending(true);
    const done = this.actor.alive ? this.actor.call('terminate') : Promise.reject(new EpdmaError('ESHUTDOWN', `${this.info.name}: worker not running`));
    this.terminating = done.then(
      () => this.hooks.drainNow(),
      async (err: unknown) => {
        if (!(err instanceof EpdmaError && err.code === 'ESHUTDOWN')) throw err;
        // The worker died meanwhile: crash reconciliation settles what it had in flight, and
        // the restarted worker finishes the terminate (the pending word survives the crash)
        // before it runs anything. Wait for that, or for the channel to stop for good.
        while (ctl.terminatePending() && this.stoppedReason === undefined && this.actor.state !== 'closed') {
          await new Promise((r) => setTimeout(r, 2));
        }
        this.hooks.drainNow();
      },
    ).finally(() => {
      this.terminating = undefined;
      // Work issued while the terminate ran goes to the worker now.
      if (this.overflow.length > 0 && this.stoppedReason === undefined) {
        this.fillRing();
        this.actor.control.bumpIssue();
        this.actor.kickWorker();
      }
    });
  }

  async synchronize(): Promise<void> {
    await this.terminating;
  }

  async terminateSync(): Promise<void> {
    this.terminateAsync();
    await this.synchronize();
  }

  async release(): Promise<void> {
    if (!this.requested) return;
    await this.terminateSync();
    this.requested = false;
  }

  // ---- transfer() ----

  transfer(request: TransferRequest): Observable<Completion> {
    return new Observable<Completion>((subscriber) => {
      let active = true;
      try {
        let d: Descriptor;
        if ('segments' in request) {
          this.checkUsable('transfer');
          d = this.prep(request.segments, request.deviceAddr);
        } else {
          this.checkUsable('transfer');
          const local = typeof request.local === 'number' ? request.local : (request.local as DmaBuffer).addr;
          d = this.prep([{ addr: local, length: request.length }], request.remote);
        }
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

  // ---- checks ----

  private checkUsable(what: string): void {
    if (!this.requested) throw new EpdmaError('EPERM', `${this.info.name}: ${what} on a channel that is not requested (released?)`);
    if (this.stoppedReason !== undefined) throw new EpdmaError('ESHUTDOWN', `${this.info.name}: ${what}: ${this.stoppedReason}`);
  }

  private checkDirection(direction: Direction | undefined, what: string): void {
    if (direction !== undefined && direction !== this.info.direction) {
      throw new EpdmaError('EINVAL', `${this.info.name}: ${what}: direction '${direction}' but this ${this.info.kind} channel is '${this.info.direction}' on the ${this.info.side} side`);
    }
  }

  /** Descriptors not yet completed (for close and tests). */
  get outstanding(): number {
    return this.inRing.size + this.overflow.length + this.submitted.length;
  }

  completeStreams(): void {
    this.subject.complete();
  }

  /** Cookie of the last descriptor that completed (any result). */
  get lastCompletedCookie(): number {
    return this.lastCompleted;
  }
}

