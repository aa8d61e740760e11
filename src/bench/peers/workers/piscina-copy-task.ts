/**
 * The piscina peer's task file: one task = one 64-byte copy of a slot between the two
 * SharedArrayBuffers handed to the pool once as workerData, so a task carries only its slot
 * number (the cheapest message piscina can send) and answers with it.
 */
import { Piscina } from 'piscina';
import { copySlot, type SmallCopyWorkerData } from './small-copy-slot.js';

const { src, dst } = Piscina.workerData as SmallCopyWorkerData;
const srcBytes = new Uint8Array(src);
const dstBytes = new Uint8Array(dst);

export default function copy(slot: number): number {
  copySlot(srcBytes, dstBytes, slot);
  return slot;
}
