/**
 * Pass/fail criteria for a load test, k6/autocannon style (API.md "Load test"):
 * `METRIC OP VALUE`, e.g. `p99<500us`, `throughput>2GB/s`, `errors==0`.
 *
 *   METRIC  p50 p99 p999 max (a time: ns, us, ms, s; a bare number is us)
 *           throughput (a rate: B/s, KB/s, MB/s, GB/s decimal, KiB/s MiB/s GiB/s binary)
 *           ops (per second; k and m suffixes), errors, mismatches (counts)
 *   OP      < <= > >= ==
 *
 * `actual` is in the metric's base unit: us for times, bytes/s, ops/s, counts.
 */
import { EpdmaError } from '../../device/errors.js';

export type ThresholdMetric = 'p50' | 'p99' | 'p999' | 'max' | 'throughput' | 'ops' | 'errors' | 'mismatches';
type ThresholdOp = '<' | '<=' | '>' | '>=' | '==';

export interface Threshold {
  readonly expr: string;
  readonly metric: ThresholdMetric;
  readonly op: ThresholdOp;
  /** In the metric's base unit (us, bytes/s, ops/s, count). */
  readonly value: number;
}

export interface ThresholdResult {
  expr: string;
  ok: boolean;
  actual: number;
}

/** What a threshold is checked against (LoadProgress totals plus p99.9). */
export interface ThresholdInputs {
  p50Us: number; p99Us: number; p999Us: number; maxUs: number;
  throughputBytesPerSec: number; opsPerSec: number; errors: number; mismatches: number;
}

const TIME_UNITS: Record<string, number> = { ns: 1e-3, us: 1, 'µs': 1, ms: 1e3, s: 1e6, '': 1 };
const RATE_UNITS: Record<string, number> = {
  'b/s': 1, 'kb/s': 1e3, 'mb/s': 1e6, 'gb/s': 1e9, 'tb/s': 1e12,
  'kib/s': 1024, 'mib/s': 1024 ** 2, 'gib/s': 1024 ** 3, 'tib/s': 1024 ** 4,
};
const COUNT_UNITS: Record<string, number> = { '': 1, k: 1e3, m: 1e6 };

const KIND: Record<ThresholdMetric, 'time' | 'rate' | 'count'> = {
  p50: 'time', p99: 'time', p999: 'time', max: 'time', throughput: 'rate', ops: 'count', errors: 'count', mismatches: 'count',
};

const EXAMPLE = "like 'p99<500us', 'throughput>2GB/s', 'ops>=100k', 'errors==0'";

export function parseThreshold(expr: string): Threshold {
  const m = /^\s*([a-z0-9]+)\s*(<=|>=|==|<|>)\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zµ/]*)\s*$/i.exec(expr);
  if (m === null) throw new EpdmaError('EINVAL', `threshold: ${JSON.stringify(expr)} is not METRIC OP VALUE (${EXAMPLE})`);
  const metric = m[1]!.toLowerCase();
  if (!Object.hasOwn(KIND, metric)) {
    throw new EpdmaError('EINVAL', `threshold: ${JSON.stringify(expr)}: metric ${JSON.stringify(m[1])} is not one of ${Object.keys(KIND).join(', ')}`);
  }
  const kind = KIND[metric as ThresholdMetric];
  const unit = m[4]!.toLowerCase();
  const table = kind === 'time' ? TIME_UNITS : kind === 'rate' ? RATE_UNITS : COUNT_UNITS;
  const scale = table[unit];
  if (scale === undefined) {
    const units = Object.keys(table).filter((u) => u !== '').join(', ');
    throw new EpdmaError('EINVAL', `threshold: ${JSON.stringify(expr)}: unit ${JSON.stringify(m[4])} is not one of ${units}`);
  }
  return { expr: expr.trim(), metric: metric as ThresholdMetric, op: m[2] as ThresholdOp, value: Number(m[3]) * scale };
}

function actualOf(metric: ThresholdMetric, s: ThresholdInputs): number {
  switch (metric) {
    case 'p50': return s.p50Us;
    case 'p99': return s.p99Us;
    case 'p999': return s.p999Us;
    case 'max': return s.maxUs;
    case 'throughput': return s.throughputBytesPerSec;
    case 'ops': return s.opsPerSec;
    case 'errors': return s.errors;
    case 'mismatches': return s.mismatches;
  }
}

function holds(actual: number, op: ThresholdOp, value: number): boolean {
  switch (op) {
    case '<': return actual < value;
    case '<=': return actual <= value;
    case '>': return actual > value;
    case '>=': return actual >= value;
    case '==': return actual === value;
  }
}

export function evaluateThresholds(thresholds: readonly Threshold[], stats: ThresholdInputs): ThresholdResult[] {
  return thresholds.map((t) => {
    const actual = actualOf(t.metric, stats);
    return { expr: t.expr, ok: holds(actual, t.op, t.value), actual };
  });
}

/** `p99<500us: FAILED (actual 812.3 us)`, in the metric's own unit. */
export function describeThresholdResult(r: ThresholdResult, metric: ThresholdMetric): string {
  const kind = KIND[metric];
  const actual = kind === 'time' ? `${r.actual.toFixed(1)} us` : kind === 'rate' ? `${(r.actual / 1e6).toFixed(1)} MB/s` : `${+r.actual.toFixed(1)}`;
  return `${r.expr}: ${r.ok ? 'ok' : 'FAILED'} (actual ${actual})`;
}
