/**
 * InterleavedPlan: numf x frame_size bursts, burst i sized sgl[i % frame_size], both
 * addresses from the template advancing by size plus the resolved gap, chunked by ll_max with
 * LIE on each chunk's last element; checked against a direct model of the kernel's loop.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { InterleavedPlan } from '../../dist/dw-edma/interleaved.js';
import { SubmissionRing } from '../../dist/protocol/submission-ring.js';
import { RecordingOps, runPlan, type Burst } from './plan-support.js';

interface Template { src: number; dst: number; numf: number; chunks: [size: number, srcGap: number, dstGap: number][] }

function model(t: Template): Burst[] {
  const out: Burst[] = [];
  let src = t.src;
  let dst = t.dst;
  for (let i = 0; i < t.numf * t.chunks.length; i++) {
    const [size, srcGap, dstGap] = t.chunks[i % t.chunks.length]!;
    out.push({ size, sar: src, dar: dst });
    src += size + srcGap;
    dst += size + dstGap;
  }
  return out;
}

function load(t: Template, plan = new InterleavedPlan(64)): { plan: InterleavedPlan; alloc: number } {
  const ring = SubmissionRing.create(128);
  ring.pushInterleaved(1, 0, t.src, t.dst, t.numf, t.chunks.map((c) => c[0]), t.chunks.map((c) => c[1]), t.chunks.map((c) => c[2]), t.chunks.length);
  ring.peekHeader();
  return { plan, alloc: plan.load(ring) };
}

describe('InterleavedPlan', () => {
  it('a strided block: one chunk per row, source skipping the row gap, destination packed', () => {
    const t: Template = { src: 0x1_0000_0000 + 3 * 640 + 16, dst: 0x8000_0000, numf: 4, chunks: [[32, 640 - 32, 0]] };
    const { plan, alloc } = load(t);
    expect(alloc).toBe(128);
    const rec = new RecordingOps(169);
    runPlan(plan, rec);
    expect(rec.chunks).toHaveLength(1);
    expect(rec.chunks[0]!.bursts).toEqual([0, 1, 2, 3].map((r) => ({ size: 32, sar: t.src + r * 640, dar: t.dst + r * 32 })));
    expect(rec.chunks[0]!.lastFlags).toEqual([false, false, false, true]);
  });

  it('matches the kernel loop for any template and ll_max, completing once (property)', () => {
    const template = fc.record({
      src: fc.nat(2 ** 40),
      dst: fc.nat(2 ** 40),
      numf: fc.integer({ min: 1, max: 60 }),
      chunks: fc.array(fc.tuple(fc.integer({ min: 1, max: 0xffff_ffff }), fc.nat(1 << 20), fc.nat(1 << 20)), { minLength: 1, maxLength: 12 }),
    });
    // One plan reused across runs, as the core does: load() must reset everything.
    const plan = new InterleavedPlan(64);
    fc.assert(
      fc.property(template, fc.integer({ min: 1, max: 200 }), (t, llMax) => {
        const { alloc } = load(t, plan);
        const rec = new RecordingOps(llMax);
        const { bytes, periods } = runPlan(plan, rec);
        const expected = model(t);
        expect(rec.chunks.flatMap((c) => c.bursts)).toEqual(expected);
        expect(rec.chunks.length).toBe(Math.ceil(expected.length / llMax));
        expect(bytes.reduce((a, b) => a + b, 0)).toBe(alloc);
        expect(alloc).toBe(t.numf * t.chunks.reduce((a, c) => a + c[0], 0));
        expect(periods.every((p) => p === -1)).toBe(true);
        for (const [n, c] of rec.chunks.entries()) {
          expect(c.lastFlags.indexOf(true)).toBe(c.bursts.length - 1);
          expect(c.link).toEqual({ count: c.bursts.length, cb: n % 2 === 0 });
        }
        expect(plan.hasMore()).toBe(false);
      }),
      { numRuns: 300 },
    );
  });
});
