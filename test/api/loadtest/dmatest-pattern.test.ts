import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { sourceByte, sourcePattern } from '../../../dist/api/loadtest/dmatest-pattern.js';

describe('dmatest source pattern', () => {
  it('every byte has bits 7 and 6 set, so no poison or guard marker can pass for it', () => {
    fc.assert(fc.property(fc.nat({ max: 0xffff_ffff }), fc.integer({ min: 1, max: 3000 }), (seed, length) => {
      const p = sourcePattern(seed, length);
      expect(p.length).toBe(length);
      for (let i = 0; i < length; i++) expect(p[i]! & 0xc0).toBe(0xc0);
    }), { numRuns: 50 });
  });

  it('the word-built pattern equals sourceByte at every position, for any seed', () => {
    fc.assert(fc.property(fc.nat({ max: 0xffff_ffff }), fc.integer({ min: 1, max: 600 }), (seed, length) => {
      const p = sourcePattern(seed, length);
      for (let i = 0; i < length; i++) expect(p[i]).toBe(sourceByte(seed, i));
    }), { numRuns: 100 });
  });

  it('consecutive seeds differ at every byte; a copy displaced by any non-zero offset differs somewhere', () => {
    const a = sourcePattern(41, 4096);
    const b = sourcePattern(42, 4096);
    for (let i = 0; i < 4096; i++) expect(a[i]).not.toBe(b[i]);
    for (let shift = 1; shift <= 512; shift++) {
      expect(a.compare(a, shift, 1024 + shift, 0, 1024)).not.toBe(0);
    }
  });
});
