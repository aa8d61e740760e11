/**
 * The comlink peer's worker: exposes `copy(slot)`, one 64-byte copy per call between the
 * SharedArrayBuffers it got as workerData, answered with the slot.
 */
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { parentPort, workerData } from 'node:worker_threads';
import { copySlot, type SmallCopyWorkerData } from './small-copy-slot.js';

const { src, dst } = workerData as SmallCopyWorkerData;
const srcBytes = new Uint8Array(src);
const dstBytes = new Uint8Array(dst);

/** The API comlink-peer.ts wraps (a type-only import there, so the worker is not loaded twice). */
export interface ComlinkCopyApi {
  copy(slot: number): number;
}

const api: ComlinkCopyApi = {
  copy(slot) {
    copySlot(srcBytes, dstBytes, slot);
    return slot;
  },
};

Comlink.expose(api, nodeEndpoint(parentPort!));
