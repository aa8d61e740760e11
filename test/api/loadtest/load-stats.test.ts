import { describe, it, expect } from 'vitest';
import {
  ChannelStatsAccumulator, LoadStatsAccumulator, MAX_TIMELINE_SAMPLES, snapshot,
} from '../../../dist/api/loadtest/load-stats.js';

describe('ChannelStatsAccumulator', () => {
  it('counts transfers, bytes, errors and mismatches', () => {
    const ch = new ChannelStatsAccumulator('host/rd0');
    ch.recordTransfer(4096, 10_000);
    ch.recordTransfer(4096, 20_000n, 3);
    ch.recordError();
    ch.recordTransfer(4096, 5_000, 2);
    const s = ch.stats(3000);
    expect(s).toMatchObject({ name: 'host/rd0', transfers: 3, bytes: 12288, errors: 1, mismatches: 5 });
    expect(s.throughputBytesPerSec).toBe(4096);
    expect(s.opsPerSec).toBe(1);
    expect(s.p50Us).toBeLessThanOrEqual(s.p99Us);
    expect(s.p99Us).toBeLessThanOrEqual(s.maxUs);
    expect(ch.histogram.count).toBe(3);
  });

  it('reports zero rates at zero elapsed time', () => {
    const ch = new ChannelStatsAccumulator('a');
    ch.recordTransfer(10, 1);
    expect(ch.stats(0)).toMatchObject({ throughputBytesPerSec: 0, opsPerSec: 0 });
  });

  it('keeps a bounded timeline with the first and newest samples', () => {
    const ch = new ChannelStatsAccumulator('a');
    for (let t = 1; t <= 2000; t++) {
      ch.recordTransfer(1, 1);
      ch.sample(t);
    }
    const tl = ch.timeline;
    expect(tl.length).toBeLessThanOrEqual(MAX_TIMELINE_SAMPLES);
    expect(tl[0]).toEqual({ elapsedMs: 1, bytes: 1 });
    expect(tl.at(-1)).toEqual({ elapsedMs: 2000, bytes: 2000 });
    for (let i = 1; i < tl.length; i++) expect(tl[i]!.elapsedMs).toBeGreaterThan(tl[i - 1]!.elapsedMs);
    ch.sample(2000);
    expect(ch.timeline.at(-1)).toEqual({ elapsedMs: 2000, bytes: 2000 });
  });
});

describe('snapshot', () => {
  it('sums channels into totals and merges latency', () => {
    const a = new ChannelStatsAccumulator('host/rd0');
    const b = new ChannelStatsAccumulator('ep/wr1');
    for (let i = 0; i < 30; i++) a.recordTransfer(1000, 1000);
    for (let i = 0; i < 10; i++) b.recordTransfer(500, 1_000_000, i === 0 ? 4 : 0);
    b.recordError();
    const p = snapshot([a, b], 500, true);
    expect(p).toMatchObject({ final: true, elapsedMs: 500, transfers: 40, bytes: 35_000, errors: 1, mismatches: 4 });
    expect(p.throughputBytesPerSec).toBe(70_000);
    expect(p.opsPerSec).toBe(80);
    expect(p.channels.map((c) => c.name)).toEqual(['host/rd0', 'ep/wr1']);
    for (const key of ['transfers', 'bytes', 'errors', 'mismatches', 'throughputBytesPerSec', 'opsPerSec'] as const) {
      expect(p[key]).toBe(p.channels[0]![key] + p.channels[1]![key]);
    }
    expect(p.p50Us).toBeCloseTo(1, 1); // 30 of 40 samples are 1 us
    expect(p.maxUs).toBe(Math.max(p.channels[0]!.maxUs, p.channels[1]!.maxUs));
    expect(a.timeline).toEqual([{ elapsedMs: 500, bytes: 30_000 }]);
  });

  it('LoadStatsAccumulator looks channels up by name and rejects unknown or duplicate names', () => {
    const acc = new LoadStatsAccumulator(['x', 'y']);
    acc.channel('y').recordTransfer(64, 2000);
    acc.snapshot(100, false);
    acc.channel('y').recordTransfer(64, 3000);
    const p = acc.snapshot(200, true);
    expect(p.transfers).toBe(2);
    expect(acc.timelines()).toEqual([
      { name: 'x', samples: [{ elapsedMs: 100, bytes: 0 }, { elapsedMs: 200, bytes: 0 }] },
      { name: 'y', samples: [{ elapsedMs: 100, bytes: 64 }, { elapsedMs: 200, bytes: 128 }] },
    ]);
    expect(acc.latencyBuckets(8).reduce((s, b) => s + b.count, 0)).toBe(2);
    expect(() => acc.channel('z')).toThrow(/EINVAL: load stats: no channel "z"/);
    expect(() => new LoadStatsAccumulator(['a', 'a'])).toThrow(/duplicate/);
  });
});
