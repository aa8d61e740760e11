import type { SubmissionRing } from '../protocol/submission-ring.js';
import type { BurstPlan } from './burst-plan.js';
import type { ChunkHardware } from './channel-ops.js';

/**
 * dmaengine_prep_interleaved_dma as dw-edma builds it (reference 13.6): numf x frame_size
 * bursts, burst i of sgl[i % frame_size].size bytes, source and destination starting at the
 * template's src_start/dst_start (the slave config plays no part) and each advancing by the
 * burst size plus that chunk's gap (the main thread resolved the gaps: icg rules, *_sgl).
 * Chunked by ll_max like scatter-gather; the descriptor completes once.
 */
export class InterleavedPlan implements BurstPlan {
  readonly chunkPeriod = -1;
  private readonly sizes: Float64Array;
  private readonly srcGaps: Float64Array;
  private readonly dstGaps: Float64Array;
  private frameSize = 0;
  private bursts = 0;
  private written = 0;
  /** Index into the frame of the next burst (written % frameSize without a division). */
  private k = 0;
  private src = 0;
  private dst = 0;

  /** `maxFrameSize`: the most chunks one descriptor carries (the ring's maxSegments). */
  constructor(maxFrameSize: number) {
    this.sizes = new Float64Array(maxFrameSize);
    this.srcGaps = new Float64Array(maxFrameSize);
    this.dstGaps = new Float64Array(maxFrameSize);
  }

  load(sub: SubmissionRing): number {
    const frameSize = sub.nseg();
    let frameBytes = 0;
    for (let k = 0; k < frameSize; k++) {
      const size = sub.segLength(k);
      this.sizes[k] = size;
      this.srcGaps[k] = sub.segSrcGap(k);
      this.dstGaps[k] = sub.segDstGap(k);
      frameBytes += size;
    }
    this.frameSize = frameSize;
    this.bursts = frameSize * sub.count();
    this.written = 0;
    this.k = 0;
    this.src = sub.deviceAddr();
    this.dst = sub.dstStart();
    return frameBytes * sub.count();
  }

  hasMore(): boolean {
    return this.written < this.bursts;
  }

  writeChunk(ops: ChunkHardware, cb: boolean): number {
    const n = Math.min(ops.llMax, this.bursts - this.written);
    let bytes = 0;
    for (let i = 0; i < n; i++) {
      const k = this.k;
      const size = this.sizes[k]!;
      ops.writeElement(i, cb, i === n - 1, size, this.src, this.dst);
      this.src += size + this.srcGaps[k]!;
      this.dst += size + this.dstGaps[k]!;
      bytes += size;
      this.k = k + 1 === this.frameSize ? 0 : k + 1;
    }
    ops.writeLink(n, cb);
    this.written += n;
    return bytes;
  }
}
