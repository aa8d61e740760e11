/**
 * A ChannelOps stand-in that records what a BurstPlan writes into the LL region (data elements
 * and the link), so plan tests check every burst and every chunk boundary without an engine.
 */
import type { ChannelOps } from '../../dist/dw-edma/channel-ops.js';
import type { BurstPlan } from '../../dist/dw-edma/burst-plan.js';

export interface Burst { size: number; sar: number; dar: number }
export interface Chunk { bursts: Burst[]; lastFlags: boolean[]; cb: boolean[]; link: { count: number; cb: boolean } | undefined }

export class RecordingOps {
  readonly chunks: Chunk[] = [];
  private current: Chunk = { bursts: [], lastFlags: [], cb: [], link: undefined };

  constructor(readonly llMax: number) {}

  writeElement(i: number, chunkCb: boolean, last: boolean, size: number, sar: number, dar: number): void {
    if (i !== this.current.bursts.length) throw new Error(`element ${i} written out of order (expected ${this.current.bursts.length})`);
    this.current.bursts.push({ size, sar, dar });
    this.current.lastFlags.push(last);
    this.current.cb.push(chunkCb);
  }

  writeLink(count: number, chunkCb: boolean): void {
    this.current.link = { count, cb: chunkCb };
    this.chunks.push(this.current);
    this.current = { bursts: [], lastFlags: [], cb: [], link: undefined };
  }

  get ops(): ChannelOps {
    return this as unknown as ChannelOps;
  }
}

/** Runs a loaded plan to its end (at most `maxChunks`), as the core would, CB alternating from 1. */
export function runPlan(plan: BurstPlan, rec: RecordingOps, maxChunks = 100_000): { bytes: number[]; periods: number[] } {
  const bytes: number[] = [];
  const periods: number[] = [];
  for (let n = 0; plan.hasMore() && n < maxChunks; n++) {
    bytes.push(plan.writeChunk(rec.ops, n % 2 === 0));
    periods.push(plan.chunkPeriod);
  }
  return { bytes, periods };
}
