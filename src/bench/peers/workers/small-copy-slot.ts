/**
 * The copy every small-ops peer worker does: slot i of the source to slot i of the destination,
 * 64 bytes, with TypedArray.prototype.set on a subarray (the copy epdma's engine does too).
 */

export const SLOT_BYTES = 64;

export interface SmallCopyWorkerData {
  src: SharedArrayBuffer;
  dst: SharedArrayBuffer;
}

export function copySlot(src: Uint8Array, dst: Uint8Array, slot: number): void {
  const offset = slot * SLOT_BYTES;
  if (!(offset >= 0 && offset + SLOT_BYTES <= dst.length)) throw new RangeError(`slot ${slot} outside ${dst.length} bytes`);
  dst.set(src.subarray(offset, offset + SLOT_BYTES), offset);
}
