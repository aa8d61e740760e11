/**
 * A closed testbed frees its memory (issue 14 item 1): comlink's proxy bookkeeping (a
 * FinalizationRegistry holding the control-plane endpoint) kept every channel actor, its
 * rings and the whole testbed's shared memory alive. 20 testbeds created, used and closed in
 * one process: after a full GC the array-buffer memory stays within 10% of the first cycle's.
 */
import { describe, expect, it } from 'vitest';
import { runFixture } from '../support/run-fixture.js';

describe('testbed close frees memory', () => {
  it('20 create/close cycles: arrayBuffers after each stays within 10% of the first', async () => {
    const r = await runFixture('testbed-gc-cycles.mjs', ['20'], ['--expose-gc']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const { arrayBuffers } = JSON.parse(r.stdout) as { arrayBuffers: number[] };
    expect(arrayBuffers).toHaveLength(20);
    const first = arrayBuffers[0]!;
    // One leaked testbed is 24 MiB of memories alone: far beyond the 10% band.
    expect(first).toBeGreaterThan(0);
    for (const [i, bytes] of arrayBuffers.entries()) {
      expect(bytes, `cycle ${i}: ${bytes} vs first ${first}`).toBeLessThanOrEqual(first * 1.1);
    }
  }, 300_000);
});
