/**
 * Closing a testbed while loadTest runs never crashes the process (issue 14 item 2), in both
 * orders, 50 times each, each in a child process that counts unhandled rejections and uncaught
 * exceptions (a Piscina 'error' event with no listener used to be one).
 */
import { describe, expect, it } from 'vitest';
import { runFixture } from '../../support/run-fixture.js';

interface Summary { order: string; runs: number; completed: number; errored: string[]; unhandled: string[]; uncaught: string[] }

describe('loadTest and close', () => {
  it('close then unsubscribe, and unsubscribe then close, 50 times each: no crash, no unhandled rejection', async () => {
    const [closeFirst, unsubscribeFirst] = await Promise.all([
      runFixture('loadtest-close.mjs', ['close-first', '50']),
      runFixture('loadtest-close.mjs', ['unsubscribe-first', '50']),
    ]);
    for (const r of [closeFirst, unsubscribeFirst]) {
      expect(r.signal).toBeNull();
      expect(r.code, r.stderr).toBe(0);
    }
    const a = JSON.parse(closeFirst.stdout) as Summary;
    const b = JSON.parse(unsubscribeFirst.stdout) as Summary;
    for (const s of [a, b]) {
      expect(s.runs).toBe(50);
      expect(s.unhandled).toEqual([]);
      expect(s.uncaught).toEqual([]);
      expect(s.errored).toEqual([]);
    }
    // Closed under it, the run ends on its own with a final snapshot, not an error.
    expect(a.completed).toBe(50);
    // Unsubscribed first, nothing is delivered after.
    expect(b.completed).toBe(0);
  }, 600_000);
});
