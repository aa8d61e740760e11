/**
 * Peer: TypedArray.prototype.set on the main thread between two SharedArrayBuffers, the copy a
 * channel worker does per chunk, without rings, workers or RxJS around it. It is one leg of the
 * JS copy limit of the bandwidth scenario and the 'cpu-copy' peer of the NTB scenario.
 *
 * The buffers are laid out like a DMA test at the same depth: `depth` source slots and `depth`
 * destination slots of `size` bytes, copied slot i -> slot i in turn, so the working set is the
 * same as epdma's (16 x 1 MiB does not fit in cache; 16 x 64 KiB mostly does).
 */
import { performance } from 'node:perf_hooks';
import { threadCpuTimeNs } from '../harness.js';

export const MAIN_THREAD_SET = 'main-thread-set';
export const CPU_COPY = 'cpu-copy';

export class MainThreadCopier {
  readonly size: number;
  readonly depth: number;
  private readonly src: Uint8Array;
  private readonly dst: Uint8Array;

  constructor(size: number, depth: number) {
    this.size = size;
    this.depth = depth;
    this.src = new Uint8Array(new SharedArrayBuffer(size * depth));
    this.dst = new Uint8Array(new SharedArrayBuffer(size * depth));
    // Touch every page now so the first measured copy does not pay the page faults.
    for (let i = 0; i < this.src.length; i += 4096) this.src[i] = i & 0xff;
    this.dst.fill(0);
  }

  /**
   * Copies slot after slot for about `durationMs`; the clock is read after every copy (one
   * performance.now() per 64 KiB is noise). Returns the bytes copied and the wall and
   * main-thread CPU time they took.
   */
  run(durationMs: number): { bytes: number; wallMs: number; cpuNs: number } {
    const { size, depth, src, dst } = this;
    const cpu0 = threadCpuTimeNs();
    const t0 = performance.now();
    const deadline = t0 + durationMs;
    let copies = 0;
    let now = t0;
    do {
      const offset = (copies % depth) * size;
      dst.set(src.subarray(offset, offset + size), offset);
      copies++;
      now = performance.now();
    } while (now < deadline);
    const cpuNs = threadCpuTimeNs() - cpu0;
    if (dst[size - 1] !== src[size - 1]) throw new Error(`${MAIN_THREAD_SET}: slot 0 was not copied`);
    return { bytes: copies * size, wallMs: now - t0, cpuNs };
  }

  /** Bytes per second of one run. */
  bandwidth(durationMs: number): number {
    const { bytes, wallMs } = this.run(durationMs);
    return (bytes / wallMs) * 1000;
  }

  /** Throughput and main-thread CPU milliseconds per GiB moved, of one run. */
  throughputAndCpu(durationMs: number): { bytesPerSec: number; cpuMsPerGiB: number } {
    const { bytes, wallMs, cpuNs } = this.run(durationMs);
    return { bytesPerSec: (bytes / wallMs) * 1000, cpuMsPerGiB: (cpuNs / 1e6) * (2 ** 30 / bytes) };
  }
}
