import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  formatTable,
  formatValue,
  latencyPercentiles,
  median,
  medianOf,
  percentileSorted,
  ratioToBestPeer,
  threadCpuTimeNs,
  type BenchEntry,
  type BenchReport,
} from '../../dist/bench/harness.js';

describe('median and percentiles', () => {
  it('takes the middle value, or the mean of the two middle ones', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNaN();
  });

  it('is between min and max and ignores order', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: -1e9, max: 1e9, noNaN: true }), { minLength: 1 }), (values) => {
        const m = median(values);
        expect(m).toBeGreaterThanOrEqual(Math.min(...values));
        expect(m).toBeLessThanOrEqual(Math.max(...values));
        expect(median([...values].reverse())).toBe(m);
      }),
      // -0 and +0 compare equal: a sort by a - b kept their input order, so the median's sign did too.
      { examples: [[[-0, 0, 5e-324]], [[0, -0]]] },
    );
  });

  it('uses nearest rank for percentiles and converts ms samples to us', () => {
    const sorted = Float64Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentileSorted(sorted, 50)).toBe(50);
    expect(percentileSorted(sorted, 99)).toBe(99);
    expect(percentileSorted(sorted, 100)).toBe(100);
    expect(percentileSorted(Float64Array.of(7), 99)).toBe(7);
    const samples = Float64Array.from({ length: 200 }, (_, i) => (200 - i) / 1000); // 0.2 ms .. 0.001 ms
    const { p50Us, p99Us } = latencyPercentiles(samples);
    expect(p50Us).toBeCloseTo(100, 6);
    expect(p99Us).toBeCloseTo(198, 6);
    expect(samples[0]).toBe(0.2); // the caller's samples are not sorted in place
  });

  it('runs a warmup and then reps measurements, returning their median', async () => {
    const calls: number[] = [];
    const value = await medianOf({ reps: 3 }, async (rep) => {
      calls.push(rep);
      return [100, 5, 9, 7][rep + 1]!;
    });
    expect(calls).toEqual([-1, 0, 1, 2]);
    expect(value).toBe(7);
    const noWarmup: number[] = [];
    await medianOf({ reps: 2, warmup: false }, async (rep) => noWarmup.push(rep));
    expect(noWarmup).toEqual([0, 1]);
  });
});

describe('ratioToBestPeer', () => {
  const entry = (metric: string, epdma: number | null, peers: Record<string, number>): BenchEntry =>
    ({ name: 'x', metric, unit: 'u', epdma, peers });

  it('divides epdma by the fastest peer for rates', () => {
    expect(ratioToBestPeer(entry('ops', 300, { a: 100, b: 150 }))).toEqual({ ratio: 2, formula: 'epdma/best-peer' });
  });

  it('divides the lowest peer by epdma for latency and CPU', () => {
    expect(ratioToBestPeer(entry('p99', 10, { a: 30, b: 20 }))).toEqual({ ratio: 2, formula: 'best-peer/epdma' });
    expect(ratioToBestPeer(entry('cpu-per-gib', 40, { 'cpu-copy': 20 }))?.ratio).toBe(0.5);
  });

  it('has no ratio without epdma or without peers', () => {
    expect(ratioToBestPeer(entry('ops', null, { a: 1 }))).toBeNull();
    expect(ratioToBestPeer(entry('ops', 5, {}))).toBeNull();
  });
});

describe('formatTable', () => {
  it('prints one column per peer, the ratio with its direction, the limit and each note once', () => {
    const report: BenchReport = {
      machine: { cpu: 'Test CPU', cores: 2, memoryBytes: 2 ** 33, platform: 'linux', arch: 'x64' },
      node: 'v20.0.0',
      date: '2025-01-01T00:00:00.000Z',
      scenarios: [
        { name: 'copy-bandwidth/1ch/64KiB', metric: 'bandwidth', unit: 'bytes/s', epdma: 8e9, peers: { 'main-thread-set': 4e9 }, limit: 1e10 },
        { name: 'latency', metric: 'p50', unit: 'us', epdma: null, peers: { piscina: 25 }, note: 'epdma: no hooks' },
        { name: 'latency', metric: 'p99', unit: 'us', epdma: null, peers: { piscina: 90 }, note: 'epdma: no hooks' },
      ],
    };
    const lines = formatTable(report).split('\n');
    expect(lines[0]).toContain('Test CPU, 2 cores, 8.0 GiB');
    expect(lines[2]!.split(/\s+/)).toEqual(['scenario', 'metric', 'unit', 'epdma', 'main-thread-set', 'piscina', 'ratio', 'limit']);
    expect(lines[4]!.split(/\s+/)).toEqual(['copy-bandwidth/1ch/64KiB', 'bandwidth', 'bytes/s', '8.00G', '4.00G', '-', '2.00x', '(e/p)', '10.0G']);
    expect(lines[5]!.split(/\s+/)).toEqual(['latency', '[1]', 'p50', 'us', '-', '-', '25.0', '-', '-']);
    expect(lines[6]).toContain('[1]');
    expect(lines.filter((l) => l.startsWith('[1] epdma: no hooks'))).toHaveLength(1);
    expect(lines.some((l) => l.startsWith('[2]'))).toBe(false);
  });

  it('formats values with 3 significant digits and an SI prefix', () => {
    expect(formatValue(1_234_567)).toBe('1.23M');
    expect(formatValue(999)).toBe('999');
    expect(formatValue(0.0254)).toBe('0.0254');
    expect(formatValue(0)).toBe('0');
    expect(formatValue(null)).toBe('-');
    expect(formatValue(undefined)).toBe('-');
  });
});

describe('threadCpuTimeNs', () => {
  it('does not go backwards across work on this thread', () => {
    const t0 = threadCpuTimeNs();
    let x = 0;
    for (let i = 0; i < 1e6; i++) x += i;
    expect(x).toBeGreaterThan(0);
    expect(threadCpuTimeNs()).toBeGreaterThanOrEqual(t0);
  });
});
