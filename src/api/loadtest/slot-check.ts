import { hex } from '../../device/errors.js';
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
const marker = (kind: number, transfer: number): number => kind | (transfer & 0x1f);

/** What one failed check found, in dmatest's terms (offset, expected, actual). */
export interface SlotMismatch {
  /** Bytes that differ: in the window, in the guards, and in the source. */
  readonly count: number;
  /** Descriptions of the first few differences. */
  readonly first: string[];
}

const byteHex = (v: number): string => `0x${v.toString(16).padStart(2, '0')}`;

/**
 * One in-flight slot of a load-test lane, checked dmatest-style at memory speed: the source
 * holds a pattern generated once, the destination window is poisoned with `fill` before every
 * transfer and guarded on both sides, and after the transfer the window, the guards and the
 * source are compared with `Buffer.compare` (memcmp) against the pattern. Only when a compare
 * fails are bytes looked at one by one, to say where and what.
 *
 * Nothing is allocated per transfer on the passing path: the Buffer views are made once.
 */
export class SlotCheck {
  private readonly srcView: Buffer;
  private readonly dstView: Buffer;

  /**
   * @param pattern the expected source bytes (a view shared by the slots of a lane that use the
   *        same seed); the source buffer is filled from it once here.
   */
  constructor(readonly src: DmaBuffer, readonly dst: DmaBuffer, private readonly pattern: Buffer) {
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
    d.fill(marker(GUARD, transfer), 0, GUARD_BYTES);
    d.fill(marker(POISON, transfer), GUARD_BYTES, GUARD_BYTES + length);
    d.fill(marker(GUARD, transfer), GUARD_BYTES + length, GUARD_BYTES * 2 + length);
  }

  /** The poison byte of `transfer` (fault-injection tests write it back to fake a lost write). */
  static poisonOf(transfer: number): number {
    return marker(POISON, transfer);
  }

  /** null when window, guards and source are all as they must be after a transfer. */
  check(transfer: number, length: number): SlotMismatch | null {
    const d = this.dstView;
    const windowOk = d.compare(this.pattern, 0, length, GUARD_BYTES, GUARD_BYTES + length) === 0;
    const sourceOk = this.srcView.compare(this.pattern, 0, length, 0, length) === 0;
    const guard = marker(GUARD, transfer);
    let guardsOk = true;
    for (let i = 0; i < GUARD_BYTES; i++) {
      if (d[i] !== guard || d[GUARD_BYTES + length + i] !== guard) {
        guardsOk = false;
        break;
      }
    }
    if (windowOk && sourceOk && guardsOk) return null;
    return this.describe(transfer, length);
  }

  private describe(transfer: number, length: number): SlotMismatch {
    const first: string[] = [];
    let count = 0;
    const report = (text: string): void => {
      if (first.length < 8) first.push(text);
      count++;
    };
    const d = this.dstView;
    const p = this.pattern;
    const guard = marker(GUARD, transfer);
    const poison = marker(POISON, transfer);
    for (let i = 0; i < GUARD_BYTES; i++) {
      if (d[i] !== guard) report(`guard before window overwritten at -${GUARD_BYTES - i}: expected ${byteHex(guard)}, got ${byteHex(d[i]!)}`);
    }
    for (let i = 0; i < length; i++) {
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
    for (let i = 0; i < length; i++) {
      if (s[i] !== p[i]) report(`srcbuf[${hex(i)}] modified: expected ${byteHex(p[i]!)}, got ${byteHex(s[i]!)}`);
    }
    return { count, first };
  }
}
