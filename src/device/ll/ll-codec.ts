import { EDMA_V0_CONTROL1 } from '../regs/edma-v0-regs.js';
import { join64, lower32, upper32 } from '../wordpart.js';

/**
 * Linked-list element formats shared by eDMA v0 and HDMA (reference 6.3), little-endian:
 *   data element (dw_edma_v0_lli, 24 bytes): control, transfer_size, sar lo/hi, dar lo/hi
 *   link element (dw_edma_v0_llp, 16 bytes): control (LLP | TCB [| CB]), reserved (never
 *   written), llp lo/hi
 *
 * The codec works on an Int32Array over the LL memory with word indices, so the driver can
 * write a chunk and the engine can fetch it without allocating anything per element.
 */
export const LL_DATA_BYTES = 24;
export const LL_LINK_BYTES = 16;

export const LL_CONTROL = {
  CB: EDMA_V0_CONTROL1.CB,
  TCB: EDMA_V0_CONTROL1.TCB,
  LLP: EDMA_V0_CONTROL1.LLP,
  LIE: EDMA_V0_CONTROL1.LIE,
  RIE: EDMA_V0_CONTROL1.RIE,
} as const;

/** Data elements a region holds: one slot is kept for the link element (`ll_max`). */
export function llMax(regionBytes: number): number {
  return Math.max(0, Math.floor(regionBytes / LL_DATA_BYTES) - 1);
}

export function writeDataElement(words: Int32Array, wordIndex: number, control: number, size: number, sar: number, dar: number): void {
  words[wordIndex] = control;
  words[wordIndex + 1] = size;
  words[wordIndex + 2] = lower32(sar);
  words[wordIndex + 3] = upper32(sar);
  words[wordIndex + 4] = lower32(dar);
  words[wordIndex + 5] = upper32(dar);
}

/**
 * Writes the link element's control word and 64-bit pointer only, as write_ll_link does: the
 * reserved dword at +4 keeps whatever the region held (often a stale data element's size).
 */
export function writeLinkElement(words: Int32Array, wordIndex: number, control: number, llp: number): void {
  words[wordIndex] = control;
  words[wordIndex + 2] = lower32(llp);
  words[wordIndex + 3] = upper32(llp);
}

/** Reads a little-endian u64 made of two words as a number (exact below 2^53). */
export function readU64(words: Int32Array, wordIndex: number): number {
  return join64(words[wordIndex + 1]!, words[wordIndex]!);
}

export interface DecodedElement {
  readonly type: 'data' | 'link';
  readonly control: number;
  readonly size: number;
  readonly sar: number;
  readonly dar: number;
  readonly llp: number;
}

/** Decodes the element at a word index (for tests, dumps and debugging, not the hot path). */
export function decodeElement(words: Int32Array, wordIndex: number): DecodedElement {
  const control = words[wordIndex]! >>> 0;
  if ((control & LL_CONTROL.LLP) !== 0) {
    return { type: 'link', control, size: 0, sar: 0, dar: 0, llp: readU64(words, wordIndex + 2) };
  }
  return { type: 'data', control, size: words[wordIndex + 1]! >>> 0, sar: readU64(words, wordIndex + 2), dar: readU64(words, wordIndex + 4), llp: 0 };
}
