/**
 * Peer: raw postMessage, one message per 64-byte copy and one back, pipelined: the driver keeps
 * `depth` slot numbers in flight. The buffers are SharedArrayBuffers given to the worker once,
 * so a message carries only the slot. One worker, like epdma's one channel.
 */
import { Worker } from 'node:worker_threads';
import { smallCopyBuffers, type SmallCopyPeer } from './small-copy-peer.js';

export const POST_MESSAGE = 'postMessage';

const WORKER_URL = new URL('./workers/postmessage-copy-worker.js', import.meta.url);

export function createPostMessagePeer(slots: number): SmallCopyPeer {
  const worker = new Worker(WORKER_URL, { workerData: smallCopyBuffers(slots) });
  let done: (slot: number) => void = () => undefined;
  let fail: (err: unknown) => void = () => undefined;
  worker.on('message', (slot: number) => done(slot));
  worker.on('error', (err) => fail(err));
  let closing: Promise<void> | undefined;
  return {
    name: POST_MESSAGE,
    slots,
    listen(onDone, onFail) {
      done = onDone;
      fail = onFail;
    },
    submit(slot) {
      worker.postMessage(slot);
    },
    close() {
      closing ??= worker.terminate().then(() => undefined);
      return closing;
    },
  };
}
