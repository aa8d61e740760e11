/**
 * What the small-ops and latency peers (piscina, comlink, raw postMessage) have in common: a
 * 64-byte copy between two SharedArrayBuffers done in a worker per request, and the two drivers
 * that measure them the way epdma is measured:
 *
 * - pipelined: `depth` copies in flight, a completed slot is resubmitted at once until the
 *   duration is over, then the pipeline drains; every completion is pushed through an RxJS
 *   Subject with one subscriber (epdma delivers its completions to a subscriber, so the peers
 *   pay for that hop too). ops/s = completions delivered / time to the last one.
 * - round trip: one copy in flight, from submit to the subscriber, `samples` times.
 *
 * Each in-flight copy owns its slot (slot i of source -> slot i of destination), so concurrent
 * copies never touch the same bytes.
 */
import { performance } from 'node:perf_hooks';
import { Subject } from 'rxjs';

const SMALL_COPY_BYTES = 64;

export interface SmallCopyPeer {
  readonly name: string;
  /** Slots in the shared buffers; at least the pipeline depth used with this peer. */
  readonly slots: number;
  /** Sets where completions go: `done(slot)` per finished copy, `fail` once on any error. */
  listen(done: (slot: number) => void, fail: (err: unknown) => void): void;
  /** Starts one copy of `slot` (fire and forget: the completion arrives through `done`). */
  submit(slot: number): void;
  /** Stops the workers; idempotent. */
  close(): Promise<void>;
}

/** The shared source and destination of a peer: `slots` x 64 bytes each, source pre-filled. */
export function smallCopyBuffers(slots: number): { src: SharedArrayBuffer; dst: SharedArrayBuffer } {
  const src = new SharedArrayBuffer(slots * SMALL_COPY_BYTES);
  const dst = new SharedArrayBuffer(slots * SMALL_COPY_BYTES);
  const bytes = new Uint8Array(src);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7 + 1) & 0xff;
  return { src, dst };
}

/** ops/s of `peer` with `depth` copies in flight for about `durationMs`. */
export function measurePipelined(peer: SmallCopyPeer, depth: number, durationMs: number): Promise<number> {
  if (!(depth >= 1)) throw new Error(`${peer.name}: depth ${depth}`);
  if (depth > peer.slots) throw new Error(`${peer.name}: depth ${depth} > ${peer.slots} slots`);
  return new Promise<number>((resolve, reject) => {
    const completions = new Subject<number>();
    let delivered = 0;
    const subscription = completions.subscribe(() => {
      delivered++;
    });
    let inFlight = 0;
    let draining = false;
    const t0 = performance.now();
    const deadline = t0 + durationMs;
    peer.listen(
      (slot) => {
        inFlight--;
        completions.next(slot);
        if (!draining) {
          if (performance.now() < deadline) {
            inFlight++;
            peer.submit(slot);
            return;
          }
          draining = true;
        }
        if (inFlight === 0) {
          const elapsedMs = performance.now() - t0;
          subscription.unsubscribe();
          resolve((delivered / elapsedMs) * 1000);
        }
      },
      (err) => {
        subscription.unsubscribe();
        reject(err);
      },
    );
    for (let slot = 0; slot < depth; slot++) {
      inFlight++;
      peer.submit(slot);
    }
  });
}

/** `samples` round trips with one copy in flight, submit -> subscriber, in milliseconds. */
export function measureRoundTrips(peer: SmallCopyPeer, samples: number): Promise<Float64Array> {
  if (!(samples >= 1)) throw new Error(`${peer.name}: ${samples} latency samples`);
  return new Promise<Float64Array>((resolve, reject) => {
    const latencies = new Float64Array(samples);
    const completions = new Subject<number>();
    let taken = 0;
    let t0 = 0;
    const subscription = completions.subscribe(() => {
      latencies[taken++] = performance.now() - t0;
    });
    peer.listen(
      (slot) => {
        completions.next(slot);
        if (taken < samples) {
          t0 = performance.now();
          peer.submit(0);
          return;
        }
        subscription.unsubscribe();
        resolve(latencies);
      },
      (err) => {
        subscription.unsubscribe();
        reject(err);
      },
    );
    t0 = performance.now();
    peer.submit(0);
  });
}
