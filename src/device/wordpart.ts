/**
 * The 32-bit halves of a 64-bit value, as the kernel's lower_32_bits / upper_32_bits: every
 * register pair (SAR, DAR, LLP, IMWr addresses), LL element and shared table in the model
 * splits a bus address into a lo and a hi dword this way. Addresses are JS numbers (safe
 * integers), so the split is arithmetic, not a shift (shifts work on 32 bits only).
 *
 * Defined for safe integers; a negative one wraps like the kernel's (u64) cast of a signed
 * value. The metadata codec carries full u64s as bigints and has its own twins
 * (metadata-u64.ts).
 */

/** 2^32: one dword's worth of values. */
const DWORD_SPAN = 0x1_0000_0000;

/** lower_32_bits: the low dword, unsigned. */
export function lower32(x: number): number {
  return x >>> 0;
}

/** upper_32_bits: the high dword, unsigned. */
export function upper32(x: number): number {
  return Math.floor(x / DWORD_SPAN) >>> 0;
}

/**
 * The 64-bit value of a hi:lo dword pair. Either half may arrive signed (an Int32Array
 * load) and is read as unsigned; the result is exact while hi < 2^21 (a safe integer).
 */
export function join64(hi: number, lo: number): number {
  return (hi >>> 0) * DWORD_SPAN + (lo >>> 0);
}
