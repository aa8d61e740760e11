import { EpdmaError, hex } from '../errors.js';

/**
 * The metadata's 64-bit fields (register offset, window offsets, DMA addresses) as exact
 * bigints. The kernel reads them as full u64 without a range check, so the codec carries every
 * value; only code that must turn one into a JS number (a model's address) refuses the values a
 * number cannot hold.
 */
export const U64_MAX = 0xffff_ffff_ffff_ffffn;
const U32_MASK = 0xffff_ffffn;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

export function isU64(value: unknown): value is bigint {
  return typeof value === 'bigint' && value >= 0n && value <= U64_MAX;
}

/** lower32 (wordpart.ts) for a metadata u64. */
export function lower32Big(value: bigint): number {
  return Number(value & U32_MASK);
}

/** upper32 (wordpart.ts) for a metadata u64. */
export function upper32Big(value: bigint): number {
  return Number((value >> 32n) & U32_MASK);
}

/** join64 (wordpart.ts) for a metadata u64: exact over the whole range; halves may arrive signed. */
export function join64Big(hi: number, lo: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

/**
 * A metadata value as the number a model address needs. EINVAL naming the field when it is at
 * or above 2^53: the model would silently round it and reach the wrong byte.
 */
export function toModelNumber(value: bigint, field: string, who: string): number {
  if (value < 0n || value > MAX_SAFE) {
    throw new EpdmaError('EINVAL', `${who}: ${field} ${hex(value)} cannot be modelled: not below 2^53`);
  }
  return Number(value);
}
