import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { LatencyHistogram } from '../../../dist/api/loadtest/latency-histogram.js';

describe('LatencyHistogram', () => {
  it('reports zeros when empty', () => {
    const h = new LatencyHistogram();
    expect([h.count, h.p50Us, h.p99Us, h.maxUs]).toEqual([0, 0, 0, 0]);
    expect(h.buckets()).toEqual([]);
  });

  it('gives percentiles of known data in microseconds', () => {
    const h = new LatencyHistogram();
    for (let i = 1; i <= 100; i++) h.record(i * 1000); // 1..100 us
    expect(h.count).toBe(100);
    expect(h.p50Us).toBeCloseTo(50, 0);
    expect(h.p99Us).toBeCloseTo(99, 0);
    expect(h.maxUs).toBeCloseTo(100, 0);
    expect(h.minUs).toBeCloseTo(1, 1);
  });

  it('accepts bigint, clamps below 1 ns and rounds fractions', () => {
    const h = new LatencyHistogram();
    h.record(5000n);
    h.record(0);
    h.record(-7);
    h.record(2.6);
    expect(h.count).toBe(4);
    expect(h.minUs).toBe(0.001);
    expect(h.maxUs).toBeCloseTo(5, 2);
  });

  it('merges counts and extremes, and resets', () => {
    const a = new LatencyHistogram();
    const b = new LatencyHistogram();
    for (let i = 0; i < 10; i++) a.record(1000);
    for (let i = 0; i < 5; i++) b.record(1_000_000);
    a.merge(b);
    expect(a.count).toBe(15);
    expect(a.p50Us).toBeCloseTo(1, 1);
    expect(a.maxUs).toBeCloseTo(1000, -1);
    expect(a.buckets().reduce((s, x) => s + x.count, 0)).toBe(15);
    expect(b.count).toBe(5);
    a.reset();
    expect(a.count).toBe(0);
    expect(a.buckets()).toEqual([]);
  });

  it('property: p50 <= p99 <= max, buckets are log-spaced, ordered and sum to count', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 10_000_000_000 }), { minLength: 1, maxLength: 300 }), fc.integer({ min: 1, max: 40 }), (values, n) => {
        const h = new LatencyHistogram();
        for (const v of values) h.record(v);
        expect(h.count).toBe(values.length);
        expect(h.p50Us).toBeLessThanOrEqual(h.p99Us);
        expect(h.p99Us).toBeLessThanOrEqual(h.maxUs);
        const buckets = h.buckets(n);
        expect(buckets.length).toBeGreaterThan(0);
        expect(buckets.length).toBeLessThanOrEqual(n);
        expect(buckets.reduce((s, b) => s + b.count, 0)).toBe(values.length);
        const ratio = buckets[0]!.toUs / buckets[0]!.fromUs;
        for (let i = 0; i < buckets.length; i++) {
          expect(buckets[i]!.toUs / buckets[i]!.fromUs).toBeCloseTo(ratio, 6);
          if (i > 0) expect(buckets[i]!.fromUs).toBeCloseTo(buckets[i - 1]!.toUs, 6);
        }
        expect(buckets[0]!.fromUs * 1000).toBeLessThanOrEqual(Math.min(...values));
        expect(buckets.at(-1)!.toUs * 1000).toBeGreaterThan(Math.max(...values));
      }),
      { numRuns: 100 },
    );
  });
});
