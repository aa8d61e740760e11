import { EpdmaError } from '../device/errors.js';

/**
 * The control block both SPSC rings start with: head and tail on their own cache lines, and
 * the capacity (with the producer's parked flag), so a ring attached from the SharedArrayBuffer alone (in a worker, after a
 * restart) knows its size. Entries follow the block.
 */
export const RING_CONTROL_BYTES = 192;
export const RING_HEAD = 0;
export const RING_TAIL = 16;
const RING_CAPACITY = 32;
/**
 * Set by a producer parked on a full ring's tail (completion ring): the consumer wakes it after
 * freeing entries. On the capacity line, which is read-mostly: it only changes when a ring is full.
 */
export const RING_PRODUCER_PARKED = 33;

function isPowerOfTwo(n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
}

/** A zeroed ring buffer with its capacity recorded in the control block. */
export function createRingBuffer(what: string, capacity: number, entryBytes: number, min: number, max: number): SharedArrayBuffer {
  if (!isPowerOfTwo(capacity) || capacity < min || capacity > max) {
    throw new EpdmaError('EINVAL', `${what}: capacity ${capacity} is not a power of two in [${min}, ${max}]`);
  }
  const sab = new SharedArrayBuffer(RING_CONTROL_BYTES + capacity * entryBytes);
  new Int32Array(sab, 0, RING_CONTROL_BYTES / 4)[RING_CAPACITY] = capacity;
  return sab;
}

/** The control words of an existing ring buffer and its capacity, checked against its size. */
export function attachRingBuffer(what: string, sab: SharedArrayBuffer, entryBytes: number): { ctl: Int32Array; capacity: number } {
  if (sab.byteLength < RING_CONTROL_BYTES) {
    throw new EpdmaError('EINVAL', `${what}: buffer of ${sab.byteLength} bytes has no control block`);
  }
  const ctl = new Int32Array(sab, 0, RING_CONTROL_BYTES / 4);
  const capacity = Atomics.load(ctl, RING_CAPACITY);
  if (!isPowerOfTwo(capacity) || RING_CONTROL_BYTES + capacity * entryBytes !== sab.byteLength) {
    throw new EpdmaError('EINVAL', `${what}: capacity ${capacity} does not match a buffer of ${sab.byteLength} bytes`);
  }
  return { ctl, capacity };
}
