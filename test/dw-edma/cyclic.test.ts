/**
 * CyclicPlan: the DMAengine ring of periods (one chunk per period, addresses advancing and
 * wrapping, forever) and dw-edma's reading (count bursts at one address, chunked by ll_max,
 * LIE only on each chunk's last element, finite). Reference 13.6.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { CyclicPlan } from '../../dist/dw-edma/cyclic.js';
import { DESC_CYCLIC, DESC_REPEAT, SubmissionRing } from '../../dist/protocol/submission-ring.js';
import { RecordingOps, runPlan } from './plan-support.js';

const LOCAL = 0x8000_0000;
const DEVICE = 0x1_0000_0000;

function loaded(memToDev: boolean, kind: typeof DESC_CYCLIC | typeof DESC_REPEAT, length: number, count: number): { plan: CyclicPlan; alloc: number } {
  const ring = SubmissionRing.create(8);
  ring.pushCyclic(1, 0, kind, DEVICE, LOCAL, length, count);
  ring.peekHeader();
  const plan = new CyclicPlan(memToDev);
  return { plan, alloc: plan.load(ring) };
}

describe('CyclicPlan, contract (DESC_CYCLIC)', () => {
  it.each([[true], [false]])('one burst per chunk, period by period, wrapping after the last, never done (memToDev %s)', (memToDev) => {
    const { plan, alloc } = loaded(memToDev, DESC_CYCLIC, 4096, 8);
    expect(alloc).toBe(8 * 4096);
    const rec = new RecordingOps(169);
    const { bytes, periods } = runPlan(plan, rec, 20);
    expect(plan.hasMore()).toBe(true);
    expect(periods).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3]);
    expect(bytes).toEqual(Array(20).fill(4096));
    rec.chunks.forEach((c, n) => {
      const p = n % 8;
      const local = LOCAL + p * 4096;
      const device = DEVICE + p * 4096;
      expect(c.bursts).toEqual([{ size: 4096, sar: memToDev ? local : device, dar: memToDev ? device : local }]);
      expect(c.lastFlags).toEqual([true]);
      expect(c.link).toEqual({ count: 1, cb: n % 2 === 0 });
    });
  });

  it('a one-period buffer repeats period 0', () => {
    const { plan } = loaded(true, DESC_CYCLIC, 64, 1);
    const rec = new RecordingOps(169);
    expect(runPlan(plan, rec, 3).periods).toEqual([0, 0, 0]);
    expect(rec.chunks.map((c) => c.bursts[0]!.sar)).toEqual([LOCAL, LOCAL, LOCAL]);
  });
});

describe('CyclicPlan, dw-edma (DESC_REPEAT)', () => {
  it.each([[true], [false]])('count bursts of len at one address, chunks of ll_max, LIE on each chunk end, then done (memToDev %s)', (memToDev) => {
    const { plan, alloc } = loaded(memToDev, DESC_REPEAT, 256, 400);
    expect(alloc).toBe(256 * 400);
    const rec = new RecordingOps(169);
    const { bytes, periods } = runPlan(plan, rec);
    expect(plan.hasMore()).toBe(false);
    expect(rec.chunks.map((c) => c.bursts.length)).toEqual([169, 169, 62]);
    expect(bytes).toEqual([169 * 256, 169 * 256, 62 * 256]);
    expect(periods).toEqual([-1, -1, -1]);
    for (const [n, c] of rec.chunks.entries()) {
      for (const b of c.bursts) expect(b).toEqual({ size: 256, sar: memToDev ? LOCAL : DEVICE, dar: memToDev ? DEVICE : LOCAL });
      expect(c.lastFlags.filter(Boolean).length).toBe(1);
      expect(c.lastFlags.at(-1)).toBe(true);
      expect(c.cb.every((cb) => cb === (n % 2 === 0))).toBe(true);
      expect(c.link).toEqual({ count: c.bursts.length, cb: n % 2 === 0 });
    }
  });

  it('writes exactly count bursts in ceil(count / ll_max) chunks for any count and ll_max (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2000 }), fc.integer({ min: 1, max: 200 }), fc.integer({ min: 1, max: 0xffff_ffff }), (count, llMax, len) => {
        const { plan, alloc } = loaded(true, DESC_REPEAT, len, count);
        const rec = new RecordingOps(llMax);
        const { bytes } = runPlan(plan, rec);
        expect(rec.chunks.length).toBe(Math.ceil(count / llMax));
        expect(rec.chunks.reduce((n, c) => n + c.bursts.length, 0)).toBe(count);
        expect(bytes.reduce((a, b) => a + b, 0)).toBe(alloc);
        expect(rec.chunks.every((c) => c.bursts.length <= llMax && c.lastFlags.indexOf(true) === c.bursts.length - 1)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('a plan reloaded for the next descriptor starts over', () => {
    const ring = SubmissionRing.create(8);
    ring.pushCyclic(1, 0, DESC_REPEAT, DEVICE, LOCAL, 8, 3);
    ring.pushCyclic(2, 0, DESC_CYCLIC, DEVICE + 64, LOCAL + 64, 16, 2);
    const plan = new CyclicPlan(true);
    ring.peekHeader();
    plan.load(ring);
    ring.consume();
    runPlan(plan, new RecordingOps(2));
    ring.peekHeader();
    expect(plan.load(ring)).toBe(32);
    const rec = new RecordingOps(2);
    expect(runPlan(plan, rec, 3).periods).toEqual([0, 1, 0]);
    expect(rec.chunks[0]!.bursts).toEqual([{ size: 16, sar: LOCAL + 64, dar: DEVICE + 64 }]);
  });
});
