/**
 * Counting side of a load test: what each channel did, and the periodic `LoadProgress`
 * snapshots the `loadTest()` observable emits (API.md, "Load test").
 *
 * Counting rules (the exit code and both reports depend on them):
 * - `transfers`/`bytes`: transfers that completed, including those whose data then failed
 *   verification; their latency (submit to completion) goes into the histogram.
 * - `errors`: transfers that failed (aborted, rejected, timed out); no bytes, no latency.
 * - `mismatches`: destination bytes that failed verification (window and guards), summed.
 */
import { EpdmaError } from '../../device/errors.js';
import { LatencyHistogram, type LatencyBucket } from './latency-histogram.js';

export interface LoadStats {
  transfers: number; bytes: number; errors: number; mismatches: number;
  throughputBytesPerSec: number; opsPerSec: number; p50Us: number; p99Us: number; maxUs: number;
}
export interface LoadProgress extends LoadStats {     // totals at the top level
  final: boolean; elapsedMs: number;
  channels: (LoadStats & { name: string })[];
}

/** One point of the throughput-over-time chart: cumulative bytes at `elapsedMs`. */
export interface TimelineSample {
  elapsedMs: number;
  bytes: number;
}

export interface ChannelTimeline {
  name: string;
  samples: TimelineSample[];
}

/** Past this many samples the timeline keeps every other one, so hour-long runs stay small. */
export const MAX_TIMELINE_SAMPLES = 512;

export class ChannelStatsAccumulator {
  readonly histogram = new LatencyHistogram();
  private transfersDone = 0;
  private bytesDone = 0;
  private errorCount = 0;
  private mismatchCount = 0;
  private readonly samples: TimelineSample[] = [];

  constructor(readonly name: string) {}

  get transfers(): number { return this.transfersDone; }
  get bytes(): number { return this.bytesDone; }
  get errors(): number { return this.errorCount; }
  get mismatches(): number { return this.mismatchCount; }
  get timeline(): readonly TimelineSample[] { return this.samples; }

  /** A completed transfer; `mismatches` is what verification found in its destination. */
  recordTransfer(bytes: number, latencyNs: bigint | number, mismatches = 0): void {
    this.transfersDone++;
    this.bytesDone += bytes;
    this.mismatchCount += mismatches;
    this.histogram.record(latencyNs);
  }

  recordError(): void {
    this.errorCount++;
  }

  /** Appends a timeline point; a sample at the same time as the last one replaces it. */
  sample(elapsedMs: number): void {
    const last = this.samples[this.samples.length - 1];
    if (last && last.elapsedMs >= elapsedMs) {
      last.bytes = this.bytesDone;
      return;
    }
    this.samples.push({ elapsedMs, bytes: this.bytesDone });
    if (this.samples.length > MAX_TIMELINE_SAMPLES) {
      // Keep the first and the newest; halve the rest.
      const kept = this.samples.filter((_, i, all) => i % 2 === 0 || i === all.length - 1);
      this.samples.splice(0, this.samples.length, ...kept);
    }
  }

  stats(elapsedMs: number): LoadStats & { name: string } {
    return { name: this.name, ...statsOf(this, this.histogram, elapsedMs) };
  }

  reset(): void {
    this.transfersDone = this.bytesDone = this.errorCount = this.mismatchCount = 0;
    this.histogram.reset();
    this.samples.length = 0;
  }
}

interface Counts { transfers: number; bytes: number; errors: number; mismatches: number }

function statsOf(counts: Counts, histogram: LatencyHistogram, elapsedMs: number): LoadStats {
  const seconds = elapsedMs / 1000;
  return {
    transfers: counts.transfers,
    bytes: counts.bytes,
    errors: counts.errors,
    mismatches: counts.mismatches,
    throughputBytesPerSec: seconds > 0 ? counts.bytes / seconds : 0,
    opsPerSec: seconds > 0 ? counts.transfers / seconds : 0,
    p50Us: histogram.p50Us,
    p99Us: histogram.p99Us,
    maxUs: histogram.maxUs,
  };
}

/** The latency of every channel together. */
function mergedHistogram(channels: readonly ChannelStatsAccumulator[]): LatencyHistogram {
  const total = new LatencyHistogram();
  for (const ch of channels) total.merge(ch.histogram);
  return total;
}

/**
 * The progress of the whole run: totals are sums over channels, percentiles come from the
 * merged histogram (not averaged percentiles). Each snapshot also adds a timeline point per
 * channel, so the over-time chart has one point per emitted progress.
 */
export function snapshot(channels: readonly ChannelStatsAccumulator[], elapsedMs: number, final: boolean): LoadProgress {
  const totals: Counts = { transfers: 0, bytes: 0, errors: 0, mismatches: 0 };
  for (const ch of channels) {
    ch.sample(elapsedMs);
    totals.transfers += ch.transfers;
    totals.bytes += ch.bytes;
    totals.errors += ch.errors;
    totals.mismatches += ch.mismatches;
  }
  return {
    final,
    elapsedMs,
    ...statsOf(totals, mergedHistogram(channels), elapsedMs),
    channels: channels.map((ch) => ch.stats(elapsedMs)),
  };
}

function timelines(channels: readonly ChannelStatsAccumulator[]): ChannelTimeline[] {
  return channels.map((ch) => ({ name: ch.name, samples: ch.timeline.map((s) => ({ ...s })) }));
}

/** All channels of one run, for the runtime that feeds it and the reports that read it. */
export class LoadStatsAccumulator {
  readonly channels: readonly ChannelStatsAccumulator[];
  private readonly byName: Map<string, ChannelStatsAccumulator>;

  constructor(names: readonly string[]) {
    this.channels = names.map((name) => new ChannelStatsAccumulator(name));
    this.byName = new Map(this.channels.map((ch) => [ch.name, ch]));
    if (this.byName.size !== names.length) throw new EpdmaError('EINVAL', `load stats: duplicate channel name in ${names.join(', ')}`);
  }

  channel(name: string): ChannelStatsAccumulator {
    const ch = this.byName.get(name);
    if (!ch) throw new EpdmaError('EINVAL', `load stats: no channel ${JSON.stringify(name)}`);
    return ch;
  }

  snapshot(elapsedMs: number, final: boolean): LoadProgress {
    return snapshot(this.channels, elapsedMs, final);
  }

  /** Forgets everything counted so far (the end of a warm-up). */
  reset(): void {
    for (const ch of this.channels) ch.reset();
  }

  /** A percentile of every channel's latency together, in us (p99.9 for reports). */
  percentileUs(p: number): number {
    return mergedHistogram(this.channels).percentileUs(p);
  }

  timelines(): ChannelTimeline[] {
    return timelines(this.channels);
  }

  latencyBuckets(n?: number): LatencyBucket[] {
    return mergedHistogram(this.channels).buckets(n);
  }
}
