import { hex } from '../../device/errors.js';
import type { DmaBuffer } from '../types.js';

/** Guard bytes each side of a destination window (dmatest's PATTERN_OVERWRITE area). */
export const GUARD_BYTES = 64;

/**
 * How far apart two expected windows start in the run's one pattern: the two uses of a slot
 * (its source read from offset 0 or from this offset, alternately), and slot after slot (two
 * strides each). Not a multiple of 32, so two windows fewer than 32 strides apart are displaced
 * by a non-multiple of 32 and differ at every byte (dmatest-pattern.ts): a window left from the
 * slot's previous use, a transfer that landed in another slot's window or read another slot's
 * source, cannot pass. Windows 32k strides apart still differ in about half of the 32-byte laps.
 * One pattern for all slots (max size + 33 bytes per use of a slot) stays in cache, where a
 * pattern per slot would be read from memory at every check.
 */
export const SLOT_PATTERN_STRIDE = 33;

/** Where in its source (and in its part of the pattern) use `use` of a slot reads. */
export const readOffset = (use: number): number => (use & 1) * SLOT_PATTERN_STRIDE;

/**
 * Marker bytes. Every source byte has bit 7 set (dmatest-pattern.ts), so neither a
 * poison byte nor a guard byte can ever equal a copied byte; the low five bits vary with the
 * transfer number, so a guard left from an earlier transfer is not this transfer's guard.
 */
const POISON = 0x20;
const GUARD = 0x40;
const TRANSFER_BITS = 0x1f;
const marker = (kind: number, transfer: number): number => kind | (transfer & TRANSFER_BITS);

/**
 * Fill values as one-byte Buffers, made once. `Buffer.fill` with a number becomes
 * TypedArray.prototype.fill, which stores shared memory byte by byte (about 1 GB/s); with a
 * Buffer value it runs in C++ at memset speed (about 20 GB/s).
 */
const FILL_BYTES: readonly Buffer[] = Array.from({ length: 0x100 }, (_, v) => Buffer.from([v]));
/** A whole guard of each transfer's guard byte, compared with memcmp. */
const GUARD_RUNS: readonly Buffer[] = Array.from({ length: TRANSFER_BITS + 1 }, (_, t) => Buffer.alloc(GUARD_BYTES, marker(GUARD, t)));

/** What one failed check found, in dmatest's terms (offset, expected, actual). */
export interface SlotMismatch {
  /** Bytes that differ: in the window, in the guards, and in the source. */
  readonly count: number;
  /** Descriptions of the first few differences. */
  readonly first: string[];
}

const byteHex = (v: number): string => `0x${v.toString(16).padStart(2, '0')}`;
const MAX_DESCRIPTIONS = 8;

/**
 * One in-flight slot of a load-test lane, checked dmatest-style at memory speed. The source
 * holds the slot's part of a pattern made once (max size + SLOT_PATTERN_STRIDE bytes), and its
 * uses alternate between reading it from offset 0 and from SLOT_PATTERN_STRIDE: the bytes each
 * use must leave in the destination window differ at every byte from the previous use's, so a
 * window (or part of one) the DMA did not write fails at every byte without being poisoned
 * between uses. Only bytes no recent use wrote (a window longer than the last one, the whole
 * window on a slot's first use and after a failed check) are poisoned; the guards on both sides
 * are rewritten for every transfer, their byte varying with the transfer number.
 *
 * The check is memcmp of the window, the guards and the bytes of the source this use read
 * against the pattern: the main thread only reads the window, so the lines the worker writes
 * next stay the worker's. Only when a compare fails are bytes looked at one by one, to say where
 * and what. Nothing is allocated per transfer on the passing path: the Buffer views are made once.
 */
export class SlotCheck {
  private readonly srcView: Buffer;
  private readonly dstView: Buffer;
  /** Window bytes [0, staleLength) hold the previous use's bytes; poison from there (prepare: 0). */
  private staleLength = 0;

  /**
   * @param pattern the slot's part of the run's pattern, `src.length` bytes (the largest
   *        transfer plus SLOT_PATTERN_STRIDE); the source buffer is filled from it once here.
   */
  constructor(
    readonly src: DmaBuffer,
    readonly dst: DmaBuffer,
    private readonly pattern: Buffer,
  ) {
    this.srcView = Buffer.from(src.bytes.buffer, src.bytes.byteOffset, src.length);
    this.dstView = Buffer.from(dst.bytes.buffer, dst.bytes.byteOffset, dst.length);
    this.srcView.set(pattern.subarray(0, src.length));
  }

  /** Address of the destination window (after the leading guard). */
  get dstWindowAddr(): number {
    return this.dst.addr + GUARD_BYTES;
  }

  /**
   * Poisons the whole window and writes both guards for `transfer` of `length` bytes: for a
   * slot's first use, and after a failed check or transfer, when what the window holds is unknown.
   */
  prepare(transfer: number, length: number): void {
    const d = this.dstView;
    const guard = FILL_BYTES[marker(GUARD, transfer)]!;
    d.fill(guard, 0, GUARD_BYTES);
    d.fill(FILL_BYTES[marker(POISON, transfer)]!, GUARD_BYTES, GUARD_BYTES + length);
    d.fill(guard, GUARD_BYTES + length, GUARD_BYTES * 2 + length);
    this.staleLength = 0;
  }

  /**
   * Checks use `use` of the slot, `transfer` of `length` bytes (window, both guards, the source
   * bytes it read), and prepares the slot for transfer `next` of `nextLength` bytes (the next
   * use): null when all was as it must be, else what differs.
   */
  check(use: number, transfer: number, length: number, next: number, nextLength: number): SlotMismatch | null {
    const d = this.dstView;
    const p = this.pattern;
    const off = readOffset(use);
    const guards = GUARD_RUNS[transfer & TRANSFER_BITS]!;
    const passed = d.compare(p, off, off + length, GUARD_BYTES, GUARD_BYTES + length) === 0
      && this.srcView.compare(p, off, off + length, off, off + length) === 0
      && d.compare(guards, 0, GUARD_BYTES, 0, GUARD_BYTES) === 0
      && d.compare(guards, 0, GUARD_BYTES, GUARD_BYTES + length, GUARD_BYTES * 2 + length) === 0;
    if (!passed) {
      const found = this.describe(use, transfer, length);
      this.prepare(next, nextLength);
      return found;
    }
    // The window keeps this use's bytes, which differ from the next use's at every byte; only
    // bytes past them were written by no recent use (an older use of the next one's parity may
    // have left exactly the bytes it expects there).
    if (nextLength > length) d.fill(FILL_BYTES[marker(POISON, next)]!, GUARD_BYTES + length, GUARD_BYTES + nextLength);
    const guard = FILL_BYTES[marker(GUARD, next)]!;
    d.fill(guard, 0, GUARD_BYTES);
    d.fill(guard, GUARD_BYTES + nextLength, GUARD_BYTES * 2 + nextLength);
    this.staleLength = length;
    return null;
  }

  /**
   * What the window of use `use` (`transfer`, `length` bytes) held before the DMA wrote it: the
   * previous use's bytes, then this transfer's poison. For fault injection (writing it back fakes
   * a lost write); allocates, so it is called only when a test asks for it.
   */
  staleWindow(use: number, transfer: number, length: number): Buffer {
    const stale = Buffer.alloc(length, marker(POISON, transfer));
    const previous = readOffset(use + 1);
    this.pattern.copy(stale, 0, previous, previous + Math.min(this.staleLength, length));
    return stale;
  }

  /**
   * Every difference of a failed check, byte by byte. A window byte still holding what was
   * there before the transfer (this transfer's poison, or the previous use's byte) was "not
   * copied"; any other wrong byte is a "mismatch".
   */
  private describe(use: number, transfer: number, length: number): SlotMismatch {
    const first: string[] = [];
    let count = 0;
    const report = (text: string): void => {
      if (first.length < MAX_DESCRIPTIONS) first.push(text);
      count++;
    };
    const d = this.dstView;
    const p = this.pattern;
    const off = readOffset(use);
    const previous = readOffset(use + 1);
    const guard = marker(GUARD, transfer);
    const poison = marker(POISON, transfer);
    for (let i = 0; i < GUARD_BYTES; i++) {
      if (d[i] !== guard) report(`guard before window overwritten at -${GUARD_BYTES - i}: expected ${byteHex(guard)}, got ${byteHex(d[i]!)}`);
    }
    for (let i = 0; i < length; i++) {
      const got = d[GUARD_BYTES + i]!;
      const expected = p[off + i]!;
      if (got === expected) continue;
      const stale = got === poison || (i < this.staleLength && got === p[previous + i]);
      report(`dstbuf[${hex(i)}] ${stale ? 'not copied' : 'mismatch'}: expected ${byteHex(expected)}, got ${byteHex(got)}`);
    }
    for (let i = 0; i < GUARD_BYTES; i++) {
      const got = d[GUARD_BYTES + length + i]!;
      if (got !== guard) report(`guard after window overwritten at +${i + 1} (dstbuf[${hex(length + i)}]): expected ${byteHex(guard)}, got ${byteHex(got)}`);
    }
    const s = this.srcView;
    for (let i = 0; i < length; i++) {
      const expected = p[off + i]!;
      const got = s[off + i]!;
      if (got !== expected) report(`srcbuf[${hex(i)}] modified: expected ${byteHex(expected)}, got ${byteHex(got)}`);
    }
    return { count, first };
  }
}
