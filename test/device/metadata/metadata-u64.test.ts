/** The metadata's 64-bit helpers: exact halves over the whole u64 range, and the model's limit. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EpdmaError } from '../../../dist/device/errors.js';
import { isU64, join64Big, lower32Big, toModelNumber, U64_MAX, upper32Big } from '../../../dist/device/metadata/metadata-u64.js';

describe('u64 halves', () => {
  it('lower32Big/upper32Big and join64Big are inverse over the full range', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: U64_MAX }), (value) => {
        const lo = lower32Big(value);
        const hi = upper32Big(value);
        expect(Number.isInteger(lo) && lo >= 0 && lo <= 0xffffffff).toBe(true);
        expect(Number.isInteger(hi) && hi >= 0 && hi <= 0xffffffff).toBe(true);
        expect(join64Big(hi, lo)).toBe(value);
      }),
      { numRuns: 2000 },
    );
  });

  it.each([
    [0n, 0, 0],
    [0xffff_ffffn, 0xffff_ffff, 0],
    [2n ** 53n, 0, 0x20_0000],
    [U64_MAX, 0xffff_ffff, 0xffff_ffff],
  ])('%s -> lo %#x hi %#x', (value, lo, hi) => {
    expect([lower32Big(value), upper32Big(value)]).toEqual([lo, hi]);
    // halves read from an Int32Array arrive signed: still the same u64
    expect(join64Big(hi | 0, lo | 0)).toBe(value);
  });

  it('isU64 accepts bigints in 0..2^64-1 only', () => {
    expect([0n, U64_MAX].map(isU64)).toEqual([true, true]);
    expect([-1n, U64_MAX + 1n, 5, '5', undefined].map(isU64)).toEqual([false, false, false, false, false]);
  });
});

describe('toModelNumber', () => {
  it('converts values below 2^53 exactly', () => {
    expect(toModelNumber(2n ** 53n - 1n, 'x', 'who')).toBe(Number.MAX_SAFE_INTEGER);
    expect(toModelNumber(0x1_2345_0000n, 'x', 'who')).toBe(0x1_2345_0000);
  });

  it.each([2n ** 53n, 2n ** 53n + 1n, U64_MAX])('refuses %s with EINVAL naming the field and value', (value) => {
    let caught: unknown;
    try {
      toModelNumber(value, 'write entry 0 desc addr', 'dw-edma-pcie');
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(EpdmaError);
    expect((caught as EpdmaError).code).toBe('EINVAL');
    expect((caught as EpdmaError).message).toBe(`EINVAL: dw-edma-pcie: write entry 0 desc addr 0x${value.toString(16)} cannot be modelled: not below 2^53`);
  });
});
