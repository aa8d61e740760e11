import type { SubmissionRing } from '../protocol/submission-ring.js';
import type { ChunkHardware } from './channel-ops.js';

/**
 * Where the bursts of a descriptor that is not a plain scatter-gather list come from (cyclic,
 * dw-edma's repeated burst, interleaved). The channel core keeps one preallocated plan per
 * kind: load() copies the descriptor out of the ring, writeChunk() puts the next chunk into the
 * LL region, so nothing is allocated per descriptor or per chunk.
 */
export interface BurstPlan {
  /** Copies the ring's current descriptor (after peekHeader); returns its size (alloc_sz). */
  load(sub: SubmissionRing): number;
  /** Whether bursts remain to be put on the hardware. */
  hasMore(): boolean;
  /**
   * Writes the next chunk, at most `ops.llMax` data elements (LIE, and RIE when remote, on the
   * last one) and the link element, with cycle bit `cb`; returns the chunk's bytes.
   */
  writeChunk(ops: ChunkHardware, cb: boolean): number;
  /** The period the chunk last written ends (a completion record per period), or -1. */
  readonly chunkPeriod: number;
}
