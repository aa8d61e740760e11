import { EpdmaError, hex } from '../../device/errors.js';
import { loadNativeAddon } from '../../native/native-addon.js';
import type { DmaBuffer } from '../types.js';

/** Guard bytes each side of a destination window (dmatest's PATTERN_OVERWRITE area). */
export const GUARD_BYTES = 64;

/**
 * Marker bytes. Every source byte has bit 7 set (dmatest-pattern.ts), so neither a
 * poison byte nor a guard byte can ever equal a copied byte; the low five bits vary with the
 * transfer number, so a window left from an earlier transfer is not this transfer's poison.
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

/**
 * Verifies one transfer in one pass (the contract of the addon's `checkAndPoison`,
 * native-addon.ts): `dst` and `src` compared with `expected` over `len` bytes, block by block,
 * each block of `dst` that matched (with its `src` block) overwritten with `poison` at once.
 * -1 when everything matched; else the offset of the first block with a difference, from which
 * nothing was compared or poisoned.
 */
export type WindowCheck = (dst: Buffer, dstOff: number, src: Buffer, srcOff: number, expected: Buffer, expectedOff: number, len: number, poison: number) => number;

/**
 * Block of the pure-JS pass. Larger than the addon's 4 KiB because each block costs three
 * calls into C++ here (measured per 64 KiB window: 4 KiB blocks ~11 us, 16 KiB ~7 us, 64 KiB
 * ~6 us); 64 KiB of destination, source and expected bytes still fit in L2 together.
 */
export const JS_CHECK_BLOCK = 65536;

const outside = (view: Buffer, off: number, len: number): boolean => off + len > view.length;

/** checkAndPoison without the addon: memcmp via Buffer.compare, memset via Buffer.fill. */
export const checkAndPoisonInJs: WindowCheck = (dst, dstOff, src, srcOff, expected, expectedOff, len, poison) => {
  const fill = FILL_BYTES[poison];
  if (fill === undefined) throw new EpdmaError('EINVAL', `checkAndPoison: poison ${poison} is not a byte`);
  // Like the addon, refuse a bad range before the first block is poisoned.
  if (outside(dst, dstOff, len) || outside(src, srcOff, len) || outside(expected, expectedOff, len)) {
    throw new EpdmaError('EINVAL', `checkAndPoison: ${len} bytes at dst ${dstOff} (of ${dst.length}), src ${srcOff} (of ${src.length}), expected ${expectedOff} (of ${expected.length}) exceed an array`);
  }
  for (let at = 0; at < len; at += JS_CHECK_BLOCK) {
    const n = Math.min(JS_CHECK_BLOCK, len - at);
    const e = expectedOff + at;
    if (dst.compare(expected, e, e + n, dstOff + at, dstOff + at + n) !== 0) return at;
    if (src.compare(expected, e, e + n, srcOff + at, srcOff + at + n) !== 0) return at;
    dst.fill(fill, dstOff + at, dstOff + at + n);
  }
  return -1;
};

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
 * One in-flight slot of a load-test lane, checked dmatest-style at memory speed: the source
 * holds a pattern generated once, the destination window is poisoned before every transfer and
 * guarded on both sides, and after the transfer the window, the guards and the source are
 * compared with memcmp against the pattern. The check and the next transfer's poisoning are one
 * pass over the window (checkAndPoison), so each destination byte is brought into cache once.
 * Only when a compare fails are bytes looked at one by one, to say where and what.
 *
 * Nothing is allocated per transfer on the passing path: the Buffer views are made once.
 */
export class SlotCheck {
  private readonly srcView: Buffer;
  private readonly dstView: Buffer;

  /**
   * @param pattern the expected source bytes, at least `src.length` of them; the source buffer
   *        is filled from it once here.
   * @param checkWindow the addon's checkAndPoison when it is loaded, else the pure-JS one.
   */
  constructor(
    readonly src: DmaBuffer,
    readonly dst: DmaBuffer,
    private readonly pattern: Buffer,
    private readonly checkWindow: WindowCheck = loadNativeAddon()?.checkAndPoison ?? checkAndPoisonInJs,
  ) {
    this.srcView = Buffer.from(src.bytes.buffer, src.bytes.byteOffset, src.length);
    this.dstView = Buffer.from(dst.bytes.buffer, dst.bytes.byteOffset, dst.length);
    this.srcView.set(pattern.subarray(0, src.length));
  }

  /** Address of the destination window (after the leading guard). */
  get dstWindowAddr(): number {
    return this.dst.addr + GUARD_BYTES;
  }

  /** Poisons the window and writes both guards for a transfer of `length` bytes. */
  prepare(transfer: number, length: number): void {
    const d = this.dstView;
    const guard = FILL_BYTES[marker(GUARD, transfer)]!;
    d.fill(guard, 0, GUARD_BYTES);
    d.fill(FILL_BYTES[marker(POISON, transfer)]!, GUARD_BYTES, GUARD_BYTES + length);
    d.fill(guard, GUARD_BYTES + length, GUARD_BYTES * 2 + length);
  }

  /** The poison byte of `transfer` (fault-injection tests write it back to fake a lost write). */
  static poisonOf(transfer: number): number {
    return marker(POISON, transfer);
  }

  /**
   * Checks `transfer` of `length` bytes (window, both guards, source) and leaves the slot
   * prepared for transfer `next` of `nextLength` bytes, as prepare() would: null when all was
   * as it must be, else what differs.
   */
  check(transfer: number, length: number, next: number, nextLength: number): SlotMismatch | null {
    const d = this.dstView;
    const guards = GUARD_RUNS[transfer & TRANSFER_BITS]!;
    const guardsOk = d.compare(guards, 0, GUARD_BYTES, 0, GUARD_BYTES) === 0
      && d.compare(guards, 0, GUARD_BYTES, GUARD_BYTES + length, GUARD_BYTES * 2 + length) === 0;
    const poison = marker(POISON, next);
    const firstBad = this.checkWindow(d, GUARD_BYTES, this.srcView, 0, this.pattern, 0, length, poison);
    if (firstBad < 0 && guardsOk) {
      // The pass poisoned [0, length) of the window; the rest of the next window, and its guards.
      if (nextLength > length) d.fill(FILL_BYTES[poison]!, GUARD_BYTES + length, GUARD_BYTES + nextLength);
      const guard = FILL_BYTES[marker(GUARD, next)]!;
      d.fill(guard, 0, GUARD_BYTES);
      d.fill(guard, GUARD_BYTES + nextLength, GUARD_BYTES * 2 + nextLength);
      return null;
    }
    const found = this.describe(transfer, length, firstBad < 0 ? length : firstBad);
    this.prepare(next, nextLength);
    return found;
  }

  /**
   * Every difference of a failed check. The pass stopped at `from`: window and source bytes
   * before it matched (and are already poisoned), so only the bytes from there on are looked at.
   */
  private describe(transfer: number, length: number, from: number): SlotMismatch {
    const first: string[] = [];
    let count = 0;
    const report = (text: string): void => {
      if (first.length < MAX_DESCRIPTIONS) first.push(text);
      count++;
    };
    const d = this.dstView;
    const p = this.pattern;
    const guard = marker(GUARD, transfer);
    const poison = marker(POISON, transfer);
    for (let i = 0; i < GUARD_BYTES; i++) {
      if (d[i] !== guard) report(`guard before window overwritten at -${GUARD_BYTES - i}: expected ${byteHex(guard)}, got ${byteHex(d[i]!)}`);
    }
    for (let i = from; i < length; i++) {
      const got = d[GUARD_BYTES + i]!;
      const expected = p[i]!;
      if (got === expected) continue;
      const what = got === poison ? 'not copied' : 'mismatch';
      report(`dstbuf[${hex(i)}] ${what}: expected ${byteHex(expected)}, got ${byteHex(got)}`);
    }
    for (let i = 0; i < GUARD_BYTES; i++) {
      const got = d[GUARD_BYTES + length + i]!;
      if (got !== guard) report(`guard after window overwritten at +${i + 1} (dstbuf[${hex(length + i)}]): expected ${byteHex(guard)}, got ${byteHex(got)}`);
    }
    const s = this.srcView;
    for (let i = from; i < length; i++) {
      if (s[i] !== p[i]) report(`srcbuf[${hex(i)}] modified: expected ${byteHex(p[i]!)}, got ${byteHex(s[i]!)}`);
    }
    return { count, first };
  }
}
