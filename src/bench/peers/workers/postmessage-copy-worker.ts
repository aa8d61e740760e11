/**
 * The raw postMessage peer's worker: every message is a slot number; it copies that slot's 64
 * bytes between the SharedArrayBuffers it got as workerData and posts the slot back. No RPC
 * layer, no ids: the cheapest request/answer two threads can do with messages.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { copySlot, type SmallCopyWorkerData } from './small-copy-slot.js';

const { src, dst } = workerData as SmallCopyWorkerData;
const srcBytes = new Uint8Array(src);
const dstBytes = new Uint8Array(dst);
const port = parentPort!;

port.on('message', (slot: number) => {
  copySlot(srcBytes, dstBytes, slot);
  port.postMessage(slot);
});
