/**
 * A channel worker's trace records, for `createTestbed({ trace })`: one single-producer /
 * single-consumer ring per channel in shared memory, created only when tracing is on. The
 * worker writes one record per chunk it starts (the doorbell); the main thread drains them
 * into the trace file. Everything else a trace shows (descriptor spans, DONE/ABORT, link and
 * worker events) the main thread already knows, so the data path pays one `trace !== null`
 * branch per chunk when tracing is off, and when on a few stores, no allocation.
 *
 * Layout (little-endian, 32-byte header):
 *   Int32[0] written   records ever written (wraps as int32)
 *   Int32[1] read      records ever drained
 *   Int32[2] dropped   records the worker could not write because the ring was full
 *   records from byte 32, RECORD_WORDS float64 each:
 *     [0] hrtime ns when the chunk started, [1] cookie, [2] bytes, [3] 1 on a descriptor's first chunk
 *
 * Times are process.hrtime ns (the clock of Completion.submittedNs), read through the worker's
 * HrClock (performance.now() and one pairing of the two clocks).
 */
import { HrClock } from './hr-clock.js';

const HEADER_BYTES = 32;
const WRITTEN = 0;
const READ = 1;
const DROPPED = 2;
const TRACE_RECORD_WORDS = 4;

/** Records per channel: 8192 x 32 bytes = 256 KiB; drained every few tens of ms. */
const DEFAULT_TRACE_RECORDS = 8192;

export function createTraceRingBuffer(records = DEFAULT_TRACE_RECORDS): SharedArrayBuffer {
  if (!Number.isInteger(records) || records < 2 || (records & (records - 1)) !== 0) {
    throw new RangeError(`trace ring: ${records} records is not a power of two >= 2`);
  }
  return new SharedArrayBuffer(HEADER_BYTES + records * TRACE_RECORD_WORDS * 8);
}

export class TraceRing {
  private readonly header: Int32Array;
  private readonly records: Float64Array;
  private readonly mask: number;
  private readonly clock = new HrClock();

  constructor(buffer: SharedArrayBuffer) {
    this.header = new Int32Array(buffer, 0, HEADER_BYTES / 4);
    this.records = new Float64Array(buffer, HEADER_BYTES);
    this.mask = this.records.length / TRACE_RECORD_WORDS - 1;
  }

  /** Worker: a chunk of `cookie` with `bytes` was started (its doorbell rung). */
  chunk(cookie: number, bytes: number, first: boolean): void {
    const h = this.header;
    const w = Atomics.load(h, WRITTEN);
    if (((w - Atomics.load(h, READ)) | 0) > this.mask) {
      Atomics.add(h, DROPPED, 1);
      return;
    }
    const o = (w & this.mask) * TRACE_RECORD_WORDS;
    const r = this.records;
    r[o] = this.clock.nowNs();
    r[o + 1] = cookie;
    r[o + 2] = bytes;
    r[o + 3] = first ? 1 : 0;
    Atomics.store(h, WRITTEN, (w + 1) | 0);
  }

  /** Main thread: hands every record written so far to `visit`, oldest first. */
  drain(visit: (hrNs: number, cookie: number, bytes: number, first: boolean) => void): number {
    const h = this.header;
    const w = Atomics.load(h, WRITTEN);
    let r = Atomics.load(h, READ);
    let n = 0;
    const rec = this.records;
    while (r !== w) {
      const o = (r & this.mask) * TRACE_RECORD_WORDS;
      visit(rec[o]!, rec[o + 1]!, rec[o + 2]!, rec[o + 3] === 1);
      r = (r + 1) | 0;
      n++;
    }
    Atomics.store(h, READ, r);
    return n;
  }

  get dropped(): number {
    return Atomics.load(this.header, DROPPED);
  }
}
