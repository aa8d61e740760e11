/**
 * A plain worker that copies with TypedArray.prototype.set on shared memory, driven entirely by
 * Atomics so that neither thread startup nor message passing is inside a measurement.
 *
 * The worker parks in Atomics.wait on the control block's generation word. Each command bumps
 * the generation: CONFIGURE takes the buffers from a message posted just before (read
 * synchronously with receiveMessageOnPort, since a parked worker runs no event loop), RUN copies
 * slot after slot until the stop word is set and publishes its copy count, PING only answers
 * (it proves the thread is up and parked), EXIT returns and lets the thread end.
 * Every command is answered by incrementing DONE and notifying it.
 */
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { SetWorkerCommand, SetWorkerControl, type SetWorkerConfig, type SetWorkerData } from './set-worker-protocol.js';

const { control, index } = workerData as SetWorkerData;
const ctl = new Int32Array(control);
let src: Uint8Array = new Uint8Array(0);
let dst: Uint8Array = new Uint8Array(0);
let size = 0;
let depth = 0;
const nap = new Int32Array(new SharedArrayBuffer(4));
/** How long a configuration message may take to arrive (the parent's command deadline is longer). */
const CONFIGURE_DEADLINE_MS = 20_000;

function configure(): void {
  // The message was queued before the generation moved; the loop covers a slow queue (seconds
  // on a loaded 2-core machine, where a test suite runs beside the bench).
  const deadline = performance.now() + CONFIGURE_DEADLINE_MS;
  while (performance.now() < deadline) {
    const received = receiveMessageOnPort(parentPort!);
    if (received !== undefined) {
      const config = received.message as SetWorkerConfig;
      src = new Uint8Array(config.src);
      dst = new Uint8Array(config.dst);
      size = config.size;
      depth = config.depth;
      return;
    }
    Atomics.wait(nap, 0, 0, 1);
  }
  throw new Error(`set-worker ${index}: CONFIGURE without a configuration message within ${CONFIGURE_DEADLINE_MS} ms`);
}

function copyUntilStopped(): number {
  let copies = 0;
  while (Atomics.load(ctl, SetWorkerControl.Stop) === 0) {
    const offset = (copies % depth) * size;
    dst.set(src.subarray(offset, offset + size), offset);
    copies++;
  }
  return copies;
}

let seen = 0;
for (;;) {
  Atomics.wait(ctl, SetWorkerControl.Generation, seen);
  seen = Atomics.load(ctl, SetWorkerControl.Generation);
  const command = Atomics.load(ctl, SetWorkerControl.Command);
  if (command === SetWorkerCommand.Exit) break;
  if (command === SetWorkerCommand.Configure) configure();
  else if (command === SetWorkerCommand.Run) {
    Atomics.store(ctl, SetWorkerControl.Copies + index, copyUntilStopped());
  }
  Atomics.add(ctl, SetWorkerControl.Done, 1);
  Atomics.notify(ctl, SetWorkerControl.Done);
}
