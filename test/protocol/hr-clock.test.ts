/**
 * HrClock: process.hrtime ns read through performance.now(), without a BigInt per reading. A
 * reading lies between two hrtime readings taken around it, give or take the pairing's half
 * bracket (a preempted thread could widen one bracket, never all eight).
 */
import { describe, expect, it } from 'vitest';
import { HrClock } from '../../dist/protocol/hr-clock.js';

/** Slack allowed for the pairing: half of the tightest of eight hrtime brackets. */
const PAIRING_SLACK_NS = 1_000_000;

describe('HrClock', () => {
  it('reads process.hrtime in whole ns, between hrtime readings taken around it', () => {
    const clock = new HrClock();
    for (let i = 0; i < 100; i++) {
      const before = Number(process.hrtime.bigint());
      const ns = clock.nowNs();
      const after = Number(process.hrtime.bigint());
      expect(Number.isInteger(ns)).toBe(true);
      expect(ns).toBeGreaterThanOrEqual(before - PAIRING_SLACK_NS);
      expect(ns).toBeLessThanOrEqual(after + PAIRING_SLACK_NS);
    }
  });

  it('maps performance.now() readings monotonically, 1 ms to 1e6 ns', () => {
    const clock = new HrClock();
    const t = performance.now();
    expect(clock.atNs(t + 1) - clock.atNs(t)).toBe(1_000_000);
    expect(clock.atNs(t + 0.000_5)).toBeGreaterThanOrEqual(clock.atNs(t));
    expect(clock.atNs(t)).toBeLessThanOrEqual(clock.nowNs());
  });
});
