/**
 * Transfer latency of a load test: percentiles from node's HDR histogram
 * (`perf_hooks.createHistogram()`, integer nanoseconds, 3 significant figures), plus a small
 * parallel array of quarter-octave buckets for the HTML report's histogram chart.
 *
 * Why the parallel array: the HDR histogram in node exposes percentiles but not its bucket
 * counts, and rebuilding a distribution from percentiles loses the shape of the tails, which is
 * what the chart is for. Quarter octaves (bucket k holds [2^(k/4), 2^((k+1)/4)) ns) keep each
 * bucket within 19% of its neighbours; 4 * 53 counters cover every safe integer.
 */
import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';

const STEPS_PER_OCTAVE = 4;
const FINE_BUCKETS = STEPS_PER_OCTAVE * 54;

export interface LatencyBucket {
  /** Lower bound, inclusive, in microseconds. */
  fromUs: number;
  /** Upper bound, exclusive, in microseconds. */
  toUs: number;
  count: number;
}

const fineIndex = (ns: number): number =>
  Math.min(FINE_BUCKETS - 1, Math.floor(Math.log2(ns) * STEPS_PER_OCTAVE + 1e-9));
const fineLowerNs = (k: number): number => 2 ** (k / STEPS_PER_OCTAVE);

export class LatencyHistogram {
  private readonly hdr: RecordableHistogram = createHistogram();
  private readonly fine = new Float64Array(FINE_BUCKETS);

  /** Records one latency in nanoseconds; values below 1 ns count as 1 ns, fractions are rounded. */
  record(ns: bigint | number): void {
    let value = typeof ns === 'bigint' ? Number(ns) : Math.round(ns);
    if (!(value >= 1)) value = 1; // also catches NaN
    if (value > Number.MAX_SAFE_INTEGER) value = Number.MAX_SAFE_INTEGER;
    this.hdr.record(value);
    this.fine[fineIndex(value)]!++;
  }

  get count(): number {
    return this.hdr.count;
  }

  /** Percentile in microseconds, 0 when nothing was recorded. */
  percentileUs(p: number): number {
    return this.hdr.count === 0 ? 0 : this.hdr.percentile(p) / 1000;
  }

  get p50Us(): number {
    return this.percentileUs(50);
  }

  get p99Us(): number {
    return this.percentileUs(99);
  }

  /** HDR max (rounded up to the histogram's precision, so p99 <= max always holds). */
  get maxUs(): number {
    return this.hdr.count === 0 ? 0 : this.hdr.max / 1000;
  }

  get minUs(): number {
    return this.hdr.count === 0 ? 0 : this.hdr.min / 1000;
  }

  reset(): void {
    this.hdr.reset();
    this.fine.fill(0);
  }

  /** Adds every sample of `other` into this one (per-channel histograms into the total). */
  merge(other: LatencyHistogram): this {
    this.hdr.add(other.hdr);
    for (let k = 0; k < FINE_BUCKETS; k++) this.fine[k]! += other.fine[k]!;
    return this;
  }

  /**
   * At most `n` log-spaced buckets from the lowest to the highest occupied quarter octave, each
   * a whole number of quarter octaves wide, so bars on a log x axis have equal width. Empty when
   * nothing was recorded; counts sum to `count`.
   */
  buckets(n = 24): LatencyBucket[] {
    let lo = 0;
    while (lo < FINE_BUCKETS && this.fine[lo] === 0) lo++;
    if (lo === FINE_BUCKETS) return [];
    let hi = FINE_BUCKETS - 1;
    while (this.fine[hi] === 0) hi--;
    const width = Math.max(1, Math.ceil((hi - lo + 1) / Math.max(1, Math.floor(n))));
    const out: LatencyBucket[] = [];
    for (let start = lo; start <= hi; start += width) {
      let count = 0;
      for (let k = start; k < start + width && k < FINE_BUCKETS; k++) count += this.fine[k]!;
      out.push({ fromUs: fineLowerNs(start) / 1000, toUs: fineLowerNs(start + width) / 1000, count });
    }
    return out;
  }
}
