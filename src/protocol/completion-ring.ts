import { lower32, upper32 } from '../device/wordpart.js';
import type { ParkingWord } from './backoff.js';
import { attachRingBuffer, createRingBuffer, RING_CONTROL_BYTES, RING_HEAD, RING_PRODUCER_PARKED, RING_TAIL } from './ring-layout.js';

/**
 * The completion ring: completion records travel from a channel worker (producer) to the main
 * thread (consumer) through one SharedArrayBuffer, single producer and single consumer.
 *
 * Layout of the SharedArrayBuffer:
 *   [0, 192)   control block (Int32Array): head at word 0, tail at word 16, capacity at word 32
 *              (separate cache lines, as in the submission ring).
 *   [192, ...) capacity records of 48 bytes:
 *              u32[0] cookie, u32[1] result (bits 0-7) | reason (bits 16-31),
 *              f64[1] faultAddr, f64[2] residue, f64[3] bytes, i64[4] completedNs,
 *              u32[10] period + 1 (0: the record completes its descriptor; n + 1: a cyclic
 *              descriptor finished period n and keeps running), 4 bytes spare.
 *
 * The worker writes any number of records with push() and makes them visible with one
 * publish() (one Atomics.store of head), so a batch of completions costs one release and one
 * doorbell ring. The main thread drains with a visitor that reads fields by slot: no object is
 * allocated per record, and tail advances once per batch.
 *
 * Sizing: push() returns false when the ring is full; the worker then keeps the record, parks
 * on the ring's tail word (BACKOFF.ringFull; drain() wakes it) and pushes again, it never
 * drops a completion. Every record answers one submitted descriptor (a running cyclic
 * descriptor one per period), and the worker frees submission entries before the main thread
 * drains completions, so the submission ring does not bound how many records can be pending:
 * nothing caps that on the main thread; a full ring is handled by the worker's park alone, which
 * holds back the channel's progress, never a record.
 */

const COMPLETION_RECORD_BYTES = 48;
export const DEFAULT_COMPLETION_CAPACITY = 4096;

/** Result codes, indexed into COMPLETION_RESULTS (the strings of the public Completion.result). */
export const RESULT_OK = 0;
export const RESULT_READ_FAILED = 1;
export const RESULT_WRITE_FAILED = 2;
export const RESULT_ABORTED = 3;
export const COMPLETION_RESULTS = Object.freeze(['ok', 'read-failed', 'write-failed', 'aborted'] as const);

/**
 * Why a record is not 'ok'. The ring carries the index; the table is shared by both threads and,
 * in two-process mode, both processes, so entries are only ever appended.
 */
export const COMPLETION_REASONS = Object.freeze([
  '',
  'engine abort: source address not mapped',
  'engine abort: destination address not mapped',
  'engine abort: linked-list element outside the LL region',
  'engine abort: DMA engine or channel disabled',
  'channel worker crashed',
  'terminated',
  'link down: READY clear',
  'paused transfer terminated',
  'engine abort: address outside the windows the channel may reach',
  'channel released',
  'link down: the endpoint reset the channel under a transfer',
  'channel stopped',
] as const);

/**
 * The same reasons as stable codes (Completion.reasonCode), index for index: programs branch on
 * these, never on the text.
 */
export const COMPLETION_REASON_CODES = Object.freeze([
  '',
  'source-not-mapped',
  'destination-not-mapped',
  'll-element-outside-region',
  'engine-disabled',
  'worker-crashed',
  'terminated',
  'link-down',
  'paused-terminated',
  'outside-channel-windows',
  'channel-released',
  'endpoint-reset',
  'channel-stopped',
] as const);
export type CompletionReasonCode = Exclude<(typeof COMPLETION_REASON_CODES)[number], ''>;

/** Named indices into COMPLETION_REASONS. */
export const Reason = Object.freeze({
  NONE: 0,
  SOURCE_NOT_MAPPED: 1,
  DESTINATION_NOT_MAPPED: 2,
  LL_ELEMENT_OUTSIDE_REGION: 3,
  ENGINE_DISABLED: 4,
  WORKER_CRASHED: 5,
  TERMINATED: 6,
  LINK_DOWN: 7,
  PAUSED_TERMINATED: 8,
  OUTSIDE_CHANNEL_WINDOWS: 9,
  CHANNEL_RELEASED: 10,
  ENDPOINT_RESET: 11,
  CHANNEL_STOPPED: 12,
});

const CONTROL_BYTES = RING_CONTROL_BYTES;
const HEAD = RING_HEAD;
const TAIL = RING_TAIL;
const PRODUCER_PARKED = RING_PRODUCER_PARKED;
const U32_PER_RECORD = COMPLETION_RECORD_BYTES / 4;
const F64_PER_RECORD = COMPLETION_RECORD_BYTES / 8;
const MAX_CAPACITY = 1 << 24;
/** The u32 words of the i64 completedNs (record word 8-9) in the platform's byte order, as BigInt64Array stores it. */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
const COMPLETED_NS_LOW_WORD = LITTLE_ENDIAN ? 8 : 9;
const COMPLETED_NS_HIGH_WORD = LITTLE_ENDIAN ? 9 : 8;

export type CompletionVisitor = (ring: CompletionRing, slot: number) => void;

export class CompletionRing implements ParkingWord {
  readonly buffer: SharedArrayBuffer;
  readonly capacity: number;

  private readonly ctl: Int32Array;
  private readonly u32: Uint32Array;
  private readonly f64: Float64Array;
  private readonly i64: BigInt64Array;
  private readonly mask: number;

  // Producer side: records written but not yet published start at the published head.
  private localHead: number;
  private publishedHead: number;
  private cachedTail: number;

  static create(capacity: number = DEFAULT_COMPLETION_CAPACITY): CompletionRing {
    return new CompletionRing(createRingBuffer('completion ring', capacity, COMPLETION_RECORD_BYTES, 1, MAX_CAPACITY));
  }

  /** Attaches to a ring made by `create` on either thread. */
  constructor(sab: SharedArrayBuffer) {
    const { ctl, capacity } = attachRingBuffer('completion ring', sab, COMPLETION_RECORD_BYTES);
    this.ctl = ctl;
    this.buffer = sab;
    this.capacity = capacity;
    this.mask = capacity - 1;
    this.u32 = new Uint32Array(sab, CONTROL_BYTES, capacity * U32_PER_RECORD);
    this.f64 = new Float64Array(sab, CONTROL_BYTES, capacity * F64_PER_RECORD);
    this.i64 = new BigInt64Array(sab, CONTROL_BYTES, capacity * F64_PER_RECORD);
    this.localHead = Atomics.load(this.ctl, HEAD);
    this.publishedHead = this.localHead;
    this.cachedTail = Atomics.load(this.ctl, TAIL);
  }

  head(): number {
    return Atomics.load(this.ctl, HEAD) >>> 0;
  }

  tail(): number {
    return Atomics.load(this.ctl, TAIL) >>> 0;
  }

  // ---- producer (channel worker) ----

  /**
   * Writes one record after the ones already pushed; it stays invisible to the main thread until
   * publish(). False if the ring is full (nothing is written).
   */
  push(
    cookie: number,
    result: number,
    reason: number,
    faultAddr: number,
    residue: number,
    bytes: number,
    completedNs: number,
    period = -1,
  ): boolean {
    if (((this.localHead - this.cachedTail) >>> 0) >= this.capacity) {
      this.cachedTail = Atomics.load(this.ctl, TAIL);
      if (((this.localHead - this.cachedTail) >>> 0) >= this.capacity) return false;
    }
    const i = this.localHead & this.mask;
    const w = i * U32_PER_RECORD;
    const d = i * F64_PER_RECORD;
    this.u32[w] = cookie;
    this.u32[w + 1] = (result & 0xff) | ((reason & 0xffff) << 16);
    this.f64[d + 1] = faultAddr;
    this.f64[d + 2] = residue;
    this.f64[d + 3] = bytes;
    // hrtime ns as a Number (HrClock): its two dwords, no BigInt on the producer's hot path.
    this.u32[w + COMPLETED_NS_LOW_WORD] = lower32(completedNs);
    this.u32[w + COMPLETED_NS_HIGH_WORD] = upper32(completedNs);
    this.u32[w + 10] = period + 1;
    this.localHead = (this.localHead + 1) >>> 0;
    return true;
  }

  /** Records pushed but not yet published. */
  unpublished(): number {
    // Only this producer writes head: its own last store is the published head.
    return (this.localHead - this.publishedHead) >>> 0;
  }

  /** Records published and not yet drained by the consumer (re-reads its tail). */
  undrained(): number {
    return (this.publishedHead - Atomics.load(this.ctl, TAIL)) >>> 0;
  }

  /** Makes every pushed record visible to the consumer (the release store of head). */
  publish(): void {
    this.publishedHead = this.localHead;
    Atomics.store(this.ctl, HEAD, this.localHead | 0);
  }

  /** True while no record can be pushed (re-reads the consumer's tail). */
  full(): boolean {
    this.cachedTail = Atomics.load(this.ctl, TAIL);
    return ((this.localHead - this.cachedTail) >>> 0) >= this.capacity;
  }

  /*
   * Parking on a full ring, the kick-word protocol on the tail word: the producer announces
   * (parked = 1) and samples tail, re-checks full(), and sleeps while tail is unchanged; drain()
   * stores tail, then wakes a parked producer. Atomics are sequentially consistent, so either
   * the drain sees the flag and notifies, or the producer's sample already sees the new tail.
   */

  prepareSleep(): number {
    Atomics.store(this.ctl, PRODUCER_PARKED, 1);
    return Atomics.load(this.ctl, TAIL);
  }

  cancelSleep(): void {
    Atomics.store(this.ctl, PRODUCER_PARKED, 0);
  }

  sleep(seq: number, timeoutMs: number): 'ok' | 'not-equal' | 'timed-out' {
    const outcome = Atomics.wait(this.ctl, TAIL, seq, timeoutMs);
    Atomics.store(this.ctl, PRODUCER_PARKED, 0);
    return outcome;
  }

  // ---- consumer (main thread) ----

  /** Published records not yet drained. */
  available(): number {
    return (Atomics.load(this.ctl, HEAD) - Atomics.load(this.ctl, TAIL)) >>> 0;
  }

  /**
   * Calls `visit(this, slot)` for every published record, oldest first, then frees them with one
   * store of tail. Pass a visitor allocated once (not an arrow per call). If the visitor throws,
   * the records before it and the one it threw on count as drained and the error propagates.
   */
  drain(visit: CompletionVisitor): number {
    const head = Atomics.load(this.ctl, HEAD);
    let seq = Atomics.load(this.ctl, TAIL);
    const start = seq;
    try {
      while (seq !== head) {
        const slot = seq & this.mask;
        seq = (seq + 1) | 0;
        visit(this, slot);
      }
    } finally {
      if (seq !== start) {
        Atomics.store(this.ctl, TAIL, seq);
        if (Atomics.load(this.ctl, PRODUCER_PARKED) !== 0) Atomics.notify(this.ctl, TAIL, 1);
      }
    }
    return (seq - start) >>> 0;
  }

  cookieAt(slot: number): number {
    return this.u32[slot * U32_PER_RECORD]!;
  }

  /** RESULT_OK .. RESULT_ABORTED; COMPLETION_RESULTS[resultAt(slot)] is the public name. */
  resultAt(slot: number): number {
    return this.u32[slot * U32_PER_RECORD + 1]! & 0xff;
  }

  /** Index into COMPLETION_REASONS (0 = none). */
  reasonAt(slot: number): number {
    return this.u32[slot * U32_PER_RECORD + 1]! >>> 16;
  }

  /** The reason as text, or undefined for none (the shape of Completion.reason). */
  reasonTextAt(slot: number): string | undefined {
    const reason = this.reasonAt(slot);
    return reason === 0 ? undefined : (COMPLETION_REASONS[reason] ?? `unknown reason ${reason}`);
  }

  faultAddrAt(slot: number): number {
    return this.f64[slot * F64_PER_RECORD + 1]!;
  }

  residueAt(slot: number): number {
    return this.f64[slot * F64_PER_RECORD + 2]!;
  }

  bytesAt(slot: number): number {
    return this.f64[slot * F64_PER_RECORD + 3]!;
  }

  /** The cyclic period this record reports, or -1 for a record that completes its descriptor. */
  periodAt(slot: number): number {
    return this.u32[slot * U32_PER_RECORD + 10]! - 1;
  }

  completedNsAt(slot: number): bigint {
    return this.i64[slot * F64_PER_RECORD + 4]!;
  }

  /**
   * completedNs as two u32 halves (exact, and no BigInt allocated): a consumer keeps them as
   * numbers and joins them, `(BigInt(high) << 32n) | BigInt(low)`, only if it needs the bigint.
   */
  completedNsHighAt(slot: number): number {
    return this.u32[slot * U32_PER_RECORD + COMPLETED_NS_HIGH_WORD]!;
  }

  completedNsLowAt(slot: number): number {
    return this.u32[slot * U32_PER_RECORD + COMPLETED_NS_LOW_WORD]!;
  }
}
