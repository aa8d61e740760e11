import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { describeThresholdResult, evaluateThresholds, parseThreshold } from '../../../dist/api/loadtest/thresholds.js';

const stats = { p50Us: 10, p99Us: 400, p999Us: 900, maxUs: 1500, throughputBytesPerSec: 2.5e9, opsPerSec: 120_000, errors: 0, mismatches: 3 };

describe('parseThreshold', () => {
  it('reads metric, operator and value in the metric\'s base unit', () => {
    expect(parseThreshold('p99<500us')).toEqual({ expr: 'p99<500us', metric: 'p99', op: '<', value: 500 });
    expect(parseThreshold(' p999 <= 2ms ')).toMatchObject({ metric: 'p999', op: '<=', value: 2000 });
    expect(parseThreshold('max<1.5s').value).toBe(1_500_000);
    expect(parseThreshold('p50<800ns').value).toBeCloseTo(0.8);
    expect(parseThreshold('throughput>2GB/s')).toMatchObject({ metric: 'throughput', op: '>', value: 2e9 });
    expect(parseThreshold('throughput>=500MiB/s').value).toBe(500 * 1024 ** 2);
    expect(parseThreshold('ops>=100k').value).toBe(100_000);
    expect(parseThreshold('errors==0')).toMatchObject({ metric: 'errors', op: '==', value: 0 });
    expect(parseThreshold('p99<300').value).toBe(300); // a bare time is us
  });

  it('names what is wrong, quoting the expression', () => {
    expect(() => parseThreshold('p99')).toThrow('EINVAL: threshold: "p99" is not METRIC OP VALUE');
    expect(() => parseThreshold('p95<1ms')).toThrow('metric "p95" is not one of p50, p99, p999, max, throughput, ops, errors, mismatches');
    expect(() => parseThreshold('throughput>2GB')).toThrow('unit "GB" is not one of');
    expect(() => parseThreshold('errors==1us')).toThrow('unit "us"');
    expect(() => parseThreshold('p99=<1ms')).toThrow('is not METRIC OP VALUE');
  });
});

describe('evaluateThresholds', () => {
  it('checks each against the run and reports the actual value', () => {
    const results = evaluateThresholds(['p99<500us', 'p999<500us', 'throughput>2GB/s', 'ops<100k', 'errors==0', 'mismatches==0'].map(parseThreshold), stats);
    expect(results).toEqual([
      { expr: 'p99<500us', ok: true, actual: 400 },
      { expr: 'p999<500us', ok: false, actual: 900 },
      { expr: 'throughput>2GB/s', ok: true, actual: 2.5e9 },
      { expr: 'ops<100k', ok: false, actual: 120_000 },
      { expr: 'errors==0', ok: true, actual: 0 },
      { expr: 'mismatches==0', ok: false, actual: 3 },
    ]);
    expect(describeThresholdResult(results[1]!, 'p999')).toBe('p999<500us: FAILED (actual 900.0 us)');
    expect(describeThresholdResult(results[2]!, 'throughput')).toBe('throughput>2GB/s: ok (actual 2500.0 MB/s)');
  });

  it('agrees with plain arithmetic for every operator and value (property)', () => {
    const ops = { '<': (a: number, b: number) => a < b, '<=': (a: number, b: number) => a <= b, '>': (a: number, b: number) => a > b, '>=': (a: number, b: number) => a >= b, '==': (a: number, b: number) => a === b };
    fc.assert(fc.property(fc.constantFrom(...(Object.keys(ops) as (keyof typeof ops)[])), fc.nat(10_000), fc.nat(10_000), (op, limit, actual) => {
      const [r] = evaluateThresholds([parseThreshold(`errors${op}${limit}`)], { ...stats, errors: actual });
      expect(r!.ok).toBe(ops[op](actual, limit));
      expect(r!.actual).toBe(actual);
    }));
  });
});
