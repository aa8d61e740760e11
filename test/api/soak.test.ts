/**
 * A short soak in the suite (the long one is `npm run soak`): traffic on every channel while
 * workers crash, the link flaps, channels are terminated and released/requested again. Every
 * cookie settles exactly once and is reported at most once, every 'ok' transfer's bytes and
 * the guard bytes around them are right, and events$ carries exactly one channel-crashed and
 * one channel-restarted per crashChannel call and one link-down/link-up per flap.
 */
import { describe, expect, it } from 'vitest';
import { runFixture } from '../support/run-fixture.js';

interface SoakReport {
  ok: boolean; transfers: number; bytes: number; aborted: number; lost: number; duplicated: number; corrupted: number; strayBytes: number;
  crashCalls: number; crashFailures: number; flaps: number; terminates: number; churns: number;
  events: Record<string, number>; failures: string[];
}

describe('soak', () => {
  it('crashes, flaps, terminates and churn for a few seconds: 0 lost, 0 duplicated, 0 corrupted, events exact', async () => {
    const r = await runFixture('../../scripts/soak.mjs', ['--duration', '4s', '--size', '8192', '--depth', '3', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout) as SoakReport;
    expect(s.failures).toEqual([]);
    expect(s.lost).toBe(0);
    expect(s.duplicated).toBe(0);
    expect(s.corrupted).toBe(0);
    expect(s.strayBytes).toBe(0);
    expect(s.transfers).toBeGreaterThan(0);
    expect(s.crashCalls + s.flaps + s.terminates + s.churns).toBeGreaterThan(0);
    expect(s.crashFailures).toBe(0);
    expect(s.events['channel-crashed']).toBe(s.crashCalls);
    expect(s.events['channel-restarted']).toBe(s.crashCalls);
    expect(s.events['channel-stopped']).toBe(0);
    expect(s.events['link-down']).toBe(s.flaps);
    expect(s.events['link-up']).toBe(s.flaps);
    expect(s.ok).toBe(true);
  }, 300_000);
});
