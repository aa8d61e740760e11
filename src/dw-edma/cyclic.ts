import { DESC_CYCLIC, type SubmissionRing } from '../protocol/submission-ring.js';
import type { BurstPlan } from './burst-plan.js';
import type { ChunkHardware } from './channel-ops.js';

/**
 * The two readings of dmaengine_prep_dma_cyclic (reference 13.6).
 *
 * DESC_CYCLIC, the DMAengine contract: the buffer is a ring of `count` periods. Each period is
 * one chunk of one burst, so the engine raises DONE at every period end and the core reports
 * that period; after the last period it starts again at the first, until terminated. The local
 * and the device address advance together (EP memory is not a FIFO), both wrapping with the ring.
 *
 * DESC_REPEAT, what dw-edma builds: `count` bursts of the same `length` bytes, every one at the
 * same source and destination (the addresses never advance), chunked by ll_max with LIE (and
 * RIE) on each chunk's last burst; the descriptor completes once.
 */
export class CyclicPlan implements BurstPlan {
  chunkPeriod = -1;
  private readonly memToDev: boolean;
  private ring = false;
  private local = 0;
  private device = 0;
  private length = 0;
  private count = 0;
  /** Ring: the next period to start; repeat: bursts already written. */
  private next = 0;

  constructor(memToDev: boolean) {
    this.memToDev = memToDev;
  }

  load(sub: SubmissionRing): number {
    this.ring = sub.kind() === DESC_CYCLIC;
    this.local = sub.segAddr(0);
    this.length = sub.segLength(0);
    this.device = sub.deviceAddr();
    this.count = sub.count();
    this.next = 0;
    this.chunkPeriod = -1;
    return this.length * this.count;
  }

  hasMore(): boolean {
    return this.ring || this.next < this.count;
  }

  writeChunk(ops: ChunkHardware, cb: boolean): number {
    if (this.ring) {
      const offset = this.next * this.length;
      this.write(ops, 0, cb, true, this.local + offset, this.device + offset);
      ops.writeLink(1, cb);
      this.chunkPeriod = this.next;
      this.next = this.next + 1 === this.count ? 0 : this.next + 1;
      return this.length;
    }
    const n = Math.min(ops.llMax, this.count - this.next);
    for (let i = 0; i < n; i++) this.write(ops, i, cb, i === n - 1, this.local, this.device);
    ops.writeLink(n, cb);
    this.next += n;
    return n * this.length;
  }

  private write(ops: ChunkHardware, i: number, cb: boolean, last: boolean, local: number, device: number): void {
    if (this.memToDev) ops.writeElement(i, cb, last, this.length, local, device);
    else ops.writeElement(i, cb, last, this.length, device, local);
  }
}
