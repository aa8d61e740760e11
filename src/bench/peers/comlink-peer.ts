/**
 * Peer: comlink, one remote call per 64-byte copy on SharedArrayBuffers (the worker got the
 * buffers once as workerData). Calls are pipelined like epdma's submissions: the driver keeps
 * `depth` promises outstanding; one worker, like epdma's one channel.
 */
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { Worker } from 'node:worker_threads';
import { smallCopyBuffers, type SmallCopyPeer } from './small-copy-peer.js';
import type { ComlinkCopyApi } from './workers/comlink-copy-worker.js';

export const COMLINK = 'comlink';

const WORKER_URL = new URL('./workers/comlink-copy-worker.js', import.meta.url);

export function createComlinkPeer(slots: number): SmallCopyPeer {
  const worker = new Worker(WORKER_URL, { workerData: smallCopyBuffers(slots) });
  const remote = Comlink.wrap<ComlinkCopyApi>(nodeEndpoint(worker));
  let done: (slot: number) => void = () => undefined;
  let fail: (err: unknown) => void = () => undefined;
  // comlink never settles a call to a dead worker: turn a crash into a failure of the run.
  worker.on('error', (err) => fail(err));
  let closing: Promise<void> | undefined;
  return {
    name: COMLINK,
    slots,
    listen(onDone, onFail) {
      done = onDone;
      fail = onFail;
    },
    submit(slot) {
      remote.copy(slot).then(done, fail);
    },
    close() {
      closing ??= (async () => {
        remote[Comlink.releaseProxy]();
        await worker.terminate();
      })();
      return closing;
    },
  };
}
