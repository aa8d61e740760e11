import { EpdmaError } from '../device/errors.js';
import { attachRingBuffer, createRingBuffer, RING_CONTROL_BYTES, RING_HEAD, RING_TAIL } from './ring-layout.js';

/**
 * The submission ring: descriptors travel from the main thread (producer) to a channel worker
 * (consumer) through one SharedArrayBuffer, single producer and single consumer, with no
 * postMessage and no object per descriptor.
 *
 * Layout of the SharedArrayBuffer:
 *   [0, 192)   control block (Int32Array): head at word 0, tail at word 16, capacity at word 32;
 *              head and tail sit on separate 64-byte cache lines so the two threads do not
 *              false-share the line each of them writes.
 *   [192, ...) capacity entries of 32 bytes, seen as Float64Array (4 per entry) and Uint32Array
 *              (8 per entry) over the same memory.
 *
 * A descriptor is one header entry followed by nseg entries, contiguous modulo capacity (a
 * descriptor may wrap the end of the ring). Its kind (header u32[2] bits 8-15) says what the
 * entries are:
 *   header:  u32[0] cookie, u32[1] nseg, u32[2] flags (bit0 interrupt) | kind << 8,
 *            u32[3] count, f64[2] deviceAddr (interleaved: src_start), f64[3] dst_start
 *   DESC_SG          nseg segments {f64[0] addr, u32[2] length}; count 0
 *   DESC_CYCLIC      one segment {buffer addr, period length}; count = periods in the buffer
 *                    (DMAengine cyclic: a ring of periods, one record per period, until stopped)
 *   DESC_REPEAT      one segment {addr, burst length}; count = bursts, all at the same addresses
 *                    (what dw-edma makes of a cyclic prep: completes once)
 *   DESC_INTERLEAVED nseg = frame_size chunks {u32[2] size, f64[2] src gap, f64[3] dst gap};
 *                    count = numf (the gaps are what the addresses advance by after the chunk)
 *
 * head and tail are u32 sequence numbers that only grow (wrapping at 2^32); the slot of a
 * sequence number is `seq & (capacity - 1)`. The producer writes the entries with plain
 * stores and then publishes them with one Atomics.store of head; the consumer reads head with
 * Atomics.load before reading entries. Atomics are sequentially consistent, so that pair orders
 * the plain entry writes before the consumer's reads (release/acquire). The consumer frees
 * entries the same way through tail.
 *
 * Values are stored as they are: cookie, flags and lengths as u32 (the channel layer splits
 * transfers above 4 GiB and validates user input before it reaches the ring).
 */

const SUBMISSION_ENTRY_BYTES = 32;
export const DEFAULT_SUBMISSION_CAPACITY = 4096;
/** Header flag: raise the completion interrupt (LIE/RIE) for this descriptor. */
export const SUBMISSION_FLAG_INTERRUPT = 1;

/** Descriptor kinds (header u32[2] bits 8-15). */
export const DESC_SG = 0;
export const DESC_CYCLIC = 1;
export const DESC_REPEAT = 2;
export const DESC_INTERLEAVED = 3;
const KIND_SHIFT = 8;
const FLAGS_MASK = 0xff;

const CONTROL_BYTES = RING_CONTROL_BYTES;
const HEAD = RING_HEAD;
const TAIL = RING_TAIL;
const F64_PER_ENTRY = SUBMISSION_ENTRY_BYTES / 8;
const U32_PER_ENTRY = SUBMISSION_ENTRY_BYTES / 4;
// The largest ring whose sequence distance (head - tail) still fits the i32 comparisons below.
const MAX_CAPACITY = 1 << 30;

export class SubmissionRing {
  readonly buffer: SharedArrayBuffer;
  readonly capacity: number;
  /** The most segments one descriptor may carry; half the ring so one SG list cannot starve it. */
  readonly maxSegments: number;

  private readonly ctl: Int32Array;
  private readonly f64: Float64Array;
  private readonly u32: Uint32Array;
  private readonly mask: number;

  // Producer-side copies: only the producer writes head, so its own copy is authoritative;
  // tail is re-read only when the cached value says the ring is full.
  private localHead: number;
  private cachedTail: number;

  // Consumer-side state of the descriptor found by peekHeader().
  private curSeq = 0;
  private curIndex = 0;
  private curNseg = 0;
  private hasCurrent = false;

  static create(capacity: number = DEFAULT_SUBMISSION_CAPACITY): SubmissionRing {
    return new SubmissionRing(createRingBuffer('submission ring', capacity, SUBMISSION_ENTRY_BYTES, 2, MAX_CAPACITY));
  }

  /** Attaches to a ring made by `create` on either thread (the worker side gets the SAB via workerData). */
  constructor(sab: SharedArrayBuffer) {
    const { ctl, capacity } = attachRingBuffer('submission ring', sab, SUBMISSION_ENTRY_BYTES);
    this.ctl = ctl;
    this.buffer = sab;
    this.capacity = capacity;
    this.mask = capacity - 1;
    this.maxSegments = capacity >>> 1;
    this.f64 = new Float64Array(sab, CONTROL_BYTES, capacity * F64_PER_ENTRY);
    this.u32 = new Uint32Array(sab, CONTROL_BYTES, capacity * U32_PER_ENTRY);
    this.localHead = Atomics.load(this.ctl, HEAD);
    this.cachedTail = Atomics.load(this.ctl, TAIL);
  }

  /** Sequence number of the next entry the producer will write (u32). */
  head(): number {
    return Atomics.load(this.ctl, HEAD) >>> 0;
  }

  /** Sequence number of the next entry the consumer will read (u32). */
  tail(): number {
    return Atomics.load(this.ctl, TAIL) >>> 0;
  }

  /**
   * Whether the worker has taken the descriptor with sequence number `seq` (seq < tail, in
   * wrapping u32 arithmetic). After a worker crash those are in flight and lost with it; the
   * others are still queued and a restarted worker consumes them.
   */
  isTaken(seq: number): boolean {
    return ((seq - Atomics.load(this.ctl, TAIL)) | 0) < 0;
  }

  // ---- producer (main thread) ----

  /** Entries the producer can write now. */
  freeEntries(): number {
    this.cachedTail = Atomics.load(this.ctl, TAIL);
    return this.capacity - ((this.localHead - this.cachedTail) >>> 0);
  }

  /** Queues a one-segment descriptor; returns its sequence number, or -1 if the ring is full. */
  pushSingle(cookie: number, flags: number, deviceAddr: number, addr: number, length: number): number {
    if (!this.reserve(2)) return -1;
    const seq = this.localHead;
    this.writeHeader(seq, cookie, 1, flags, DESC_SG, 0, deviceAddr, 0);
    this.writeSegment(seq + 1, addr, length);
    return this.publish(seq, 2);
  }

  /**
   * Queues a cyclic descriptor: DESC_CYCLIC (`count` periods of `length` bytes from `addr`, the
   * device side advancing alike) or DESC_REPEAT (`count` bursts of `length` bytes, every one at
   * `addr` and `deviceAddr`). -1 if the ring is full.
   */
  pushCyclic(cookie: number, flags: number, kind: typeof DESC_CYCLIC | typeof DESC_REPEAT, deviceAddr: number, addr: number, length: number, count: number): number {
    if (kind !== DESC_CYCLIC && kind !== DESC_REPEAT) throw new EpdmaError('EINVAL', `submission ring: kind ${String(kind)} is not cyclic`);
    if (!this.reserve(2)) return -1;
    const seq = this.localHead;
    this.writeHeader(seq, cookie, 1, flags, kind, count, deviceAddr, 0);
    this.writeSegment(seq + 1, addr, length);
    return this.publish(seq, 2);
  }

  /**
   * Queues an interleaved descriptor: `numFrames` frames of `frameSize` chunks; chunk k is
   * `sizes[k]` bytes and is followed by `srcGaps[k]`/`dstGaps[k]` bytes the addresses skip.
   * -1 if the ring is full.
   */
  pushInterleaved(
    cookie: number,
    flags: number,
    srcStart: number,
    dstStart: number,
    numFrames: number,
    sizes: ArrayLike<number>,
    srcGaps: ArrayLike<number>,
    dstGaps: ArrayLike<number>,
    frameSize: number,
  ): number {
    this.checkCount(frameSize, sizes, srcGaps, dstGaps);
    if (!this.reserve(1 + frameSize)) return -1;
    const seq = this.localHead;
    this.writeHeader(seq, cookie, frameSize, flags, DESC_INTERLEAVED, numFrames, srcStart, dstStart);
    for (let k = 0; k < frameSize; k++) {
      const i = (seq + 1 + k) & this.mask;
      this.u32[i * U32_PER_ENTRY + 2] = sizes[k]!;
      this.f64[i * F64_PER_ENTRY + 2] = srcGaps[k]!;
      this.f64[i * F64_PER_ENTRY + 3] = dstGaps[k]!;
    }
    return this.publish(seq, 1 + frameSize);
  }

  /**
   * Queues a scatter-gather descriptor of `count` segments taken from `addrs`/`lengths` (plain
   * arrays or typed arrays, so the caller can reuse its own buffers); -1 if the ring is full.
   */
  pushSg(
    cookie: number,
    flags: number,
    deviceAddr: number,
    addrs: ArrayLike<number>,
    lengths: ArrayLike<number>,
    count: number,
  ): number {
    this.checkCount(count, addrs, lengths);
    if (!this.reserve(1 + count)) return -1;
    const seq = this.localHead;
    this.writeHeader(seq, cookie, count, flags, DESC_SG, 0, deviceAddr, 0);
    for (let k = 0; k < count; k++) this.writeSegment(seq + 1 + k, addrs[k]!, lengths[k]!);
    return this.publish(seq, 1 + count);
  }

  /**
   * Queues a scatter-gather descriptor straight from a segment list (what a prep holds), so the
   * producer needs no column arrays per descriptor; -1 if the ring is full.
   */
  pushSegments(cookie: number, flags: number, deviceAddr: number, segments: ArrayLike<{ readonly addr: number; readonly length: number }>): number {
    const count = segments.length;
    if (count > this.maxSegments) throw new EpdmaError('EINVAL', `submission ring: nseg ${count} outside [0, ${this.maxSegments}]`);
    if (!this.reserve(1 + count)) return -1;
    const seq = this.localHead;
    this.writeHeader(seq, cookie, count, flags, DESC_SG, 0, deviceAddr, 0);
    for (let k = 0; k < count; k++) this.writeSegment(seq + 1 + k, segments[k]!.addr, segments[k]!.length);
    return this.publish(seq, 1 + count);
  }

  /** nseg within the ring's limit and every column long enough (a third column is optional). */
  private checkCount(count: number, a: ArrayLike<number>, b: ArrayLike<number>, c: ArrayLike<number> = a): void {
    if (!Number.isInteger(count) || count < 0 || count > this.maxSegments) {
      throw new EpdmaError('EINVAL', `submission ring: nseg ${count} outside [0, ${this.maxSegments}]`);
    }
    if (a.length < count || b.length < count || c.length < count) {
      throw new EpdmaError('EINVAL', `submission ring: nseg ${count} but columns of ${a.length}, ${b.length} and ${c.length} values`);
    }
  }

  private reserve(entries: number): boolean {
    if (this.capacity - ((this.localHead - this.cachedTail) >>> 0) >= entries) return true;
    this.cachedTail = Atomics.load(this.ctl, TAIL);
    return this.capacity - ((this.localHead - this.cachedTail) >>> 0) >= entries;
  }

  private writeHeader(seq: number, cookie: number, nseg: number, flags: number, kind: number, count: number, addr: number, addr2: number): void {
    const i = seq & this.mask;
    const w = i * U32_PER_ENTRY;
    this.u32[w] = cookie;
    this.u32[w + 1] = nseg;
    this.u32[w + 2] = (flags & FLAGS_MASK) | (kind << KIND_SHIFT);
    this.u32[w + 3] = count;
    this.f64[i * F64_PER_ENTRY + 2] = addr;
    this.f64[i * F64_PER_ENTRY + 3] = addr2;
  }

  private writeSegment(seq: number, addr: number, length: number): void {
    const i = seq & this.mask;
    this.f64[i * F64_PER_ENTRY] = addr;
    this.u32[i * U32_PER_ENTRY + 2] = length;
  }

  private publish(seq: number, entries: number): number {
    this.localHead = (seq + entries) >>> 0;
    // The release: every entry write above happens-before a consumer that loads this head.
    Atomics.store(this.ctl, HEAD, this.localHead | 0);
    return seq >>> 0;
  }

  // ---- consumer (channel worker) ----

  /** Published entries not yet consumed. */
  available(): number {
    return (Atomics.load(this.ctl, HEAD) - Atomics.load(this.ctl, TAIL)) >>> 0;
  }

  /**
   * Makes the descriptor at tail current, so the accessors below read it; false if the ring is
   * empty. Calling it again without consume() returns the same descriptor.
   */
  peekHeader(): boolean {
    const tail = Atomics.load(this.ctl, TAIL);
    const available = (Atomics.load(this.ctl, HEAD) - tail) >>> 0;
    if (available === 0) {
      this.hasCurrent = false;
      return false;
    }
    const i = tail & this.mask;
    const nseg = this.u32[i * U32_PER_ENTRY + 1]!;
    // The producer publishes a whole descriptor with one store, so a header without its
    // segments means the memory was written by something else: stop loudly rather than stall.
    if (nseg > this.maxSegments || nseg + 1 > available) {
      throw new EpdmaError(
        'EIO',
        `submission ring: corrupt descriptor at seq ${tail >>> 0}: nseg ${nseg} with ${available} entries published`,
      );
    }
    const kind = this.u32[i * U32_PER_ENTRY + 2]! >>> KIND_SHIFT;
    if (kind > DESC_INTERLEAVED || ((kind === DESC_CYCLIC || kind === DESC_REPEAT) && nseg !== 1)) {
      throw new EpdmaError('EIO', `submission ring: corrupt descriptor at seq ${tail >>> 0}: kind ${kind} with nseg ${nseg}`);
    }
    this.curSeq = tail >>> 0;
    this.curIndex = i;
    this.curNseg = nseg;
    this.hasCurrent = true;
    return true;
  }

  seq(): number {
    return this.curSeq;
  }

  cookie(): number {
    return this.u32[this.curIndex * U32_PER_ENTRY]!;
  }

  nseg(): number {
    return this.curNseg;
  }

  flags(): number {
    return this.u32[this.curIndex * U32_PER_ENTRY + 2]! & FLAGS_MASK;
  }

  /** DESC_SG, DESC_CYCLIC, DESC_REPEAT or DESC_INTERLEAVED. */
  kind(): number {
    return this.u32[this.curIndex * U32_PER_ENTRY + 2]! >>> KIND_SHIFT;
  }

  /** Periods (cyclic), bursts (repeat) or frames (interleaved); 0 for scatter-gather. */
  count(): number {
    return this.u32[this.curIndex * U32_PER_ENTRY + 3]!;
  }

  /** The device-side address; an interleaved descriptor's src_start. */
  deviceAddr(): number {
    return this.f64[this.curIndex * F64_PER_ENTRY + 2]!;
  }

  /** An interleaved descriptor's dst_start. */
  dstStart(): number {
    return this.f64[this.curIndex * F64_PER_ENTRY + 3]!;
  }

  segAddr(k: number): number {
    return this.f64[((this.curSeq + 1 + k) & this.mask) * F64_PER_ENTRY]!;
  }

  /** Segment length; an interleaved chunk's size. */
  segLength(k: number): number {
    return this.u32[((this.curSeq + 1 + k) & this.mask) * U32_PER_ENTRY + 2]!;
  }

  /** Interleaved chunk k: bytes the source address skips after it. */
  segSrcGap(k: number): number {
    return this.f64[((this.curSeq + 1 + k) & this.mask) * F64_PER_ENTRY + 2]!;
  }

  /** Interleaved chunk k: bytes the destination address skips after it. */
  segDstGap(k: number): number {
    return this.f64[((this.curSeq + 1 + k) & this.mask) * F64_PER_ENTRY + 3]!;
  }

  /** Bytes the current descriptor moves in all (alloc_sz); a cyclic one: its buffer. */
  descriptorBytes(): number {
    let sum = 0;
    for (let k = 0; k < this.curNseg; k++) sum += this.segLength(k);
    const kind = this.kind();
    return kind === DESC_SG ? sum : sum * this.count();
  }

  /** Frees the current descriptor's entries for the producer. */
  consume(): void {
    if (!this.hasCurrent) {
      throw new EpdmaError('EINVAL', 'submission ring: consume() without a descriptor from peekHeader()');
    }
    this.hasCurrent = false;
    Atomics.store(this.ctl, TAIL, (this.curSeq + 1 + this.curNseg) | 0);
  }

  /**
   * Drops every queued descriptor (terminate): tail jumps to head. Returns how many entries were
   * dropped. Only the consumer may call it, like consume().
   */
  discardAll(): number {
    this.hasCurrent = false;
    const head = Atomics.load(this.ctl, HEAD);
    const dropped = (head - Atomics.load(this.ctl, TAIL)) >>> 0;
    Atomics.store(this.ctl, TAIL, head);
    return dropped;
  }
}
