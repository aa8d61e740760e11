/**
 * doubleCounter: the field starts at exactly +0 with every other field untouched, and counts
 * exactly past 2^31 (what a byte counter of a long run reaches).
 */
import { describe, expect, it } from 'vitest';
import { doubleCounter } from '../../dist/device/double-counter.js';

describe('doubleCounter', () => {
  it('returns the same object with the counter at +0 and the rest as given', () => {
    const given = { chunks: 3, bytes: 7, aborts: 1 };
    const o = doubleCounter(given, 'bytes');
    expect(o).toBe(given);
    expect(Object.is(o.bytes, 0)).toBe(true);
    expect(o).toEqual({ chunks: 3, bytes: 0, aborts: 1 });
    expect(Object.keys(o)).toEqual(['chunks', 'bytes', 'aborts']);
  });

  it('counts 64 KiB steps exactly past 2^31 and 2^32', () => {
    const o = doubleCounter({ bytes: 0 }, 'bytes');
    const steps = 2 ** 32 / 65536 + 3;
    for (let i = 0; i < steps; i++) o.bytes += 65536;
    expect(o.bytes).toBe(steps * 65536);
    expect(Number.isSafeInteger(o.bytes)).toBe(true);
  });
});
