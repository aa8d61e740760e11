/** lower32/upper32/join64: the kernel's lower_32_bits/upper_32_bits for the model's number addresses. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { join64, lower32, upper32 } from '../../dist/device/wordpart.js';

const u32 = fc.integer({ min: 0, max: 0xffff_ffff });

describe('32-bit halves of a safe integer', () => {
  it('property: join64(upper32(x), lower32(x)) === x for every safe x >= 0', () => {
    fc.assert(
      fc.property(fc.oneof(fc.maxSafeNat(), u32, fc.constantFrom(0, 0xffff_ffff, 0x1_0000_0000, Number.MAX_SAFE_INTEGER)), (x) => {
        expect(join64(upper32(x), lower32(x))).toBe(x);
      }),
      { numRuns: 5000 },
    );
  });

  it('property: the halves equal the u64 dwords computed with bigint', () => {
    fc.assert(
      fc.property(fc.maxSafeNat(), (x) => {
        const big = BigInt(x);
        expect(lower32(x)).toBe(Number(big & 0xffff_ffffn));
        expect(upper32(x)).toBe(Number(big >> 32n));
      }),
      { numRuns: 5000 },
    );
  });

  it('property: a negative value splits as its two\'s complement u64, like (u64) in the kernel', () => {
    fc.assert(
      fc.property(fc.integer({ min: Number.MIN_SAFE_INTEGER, max: -1 }), (x) => {
        const u64 = BigInt.asUintN(64, BigInt(x));
        expect([upper32(x), lower32(x)]).toEqual([Number(u64 >> 32n), Number(u64 & 0xffff_ffffn)]);
      }),
      { numRuns: 2000 },
    );
  });

  it('property: join64 reads halves that arrive signed (an Int32Array load) as unsigned', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0x1f_ffff }), u32, (hi, lo) => {
        const words = new Int32Array([lo, hi]);
        const x = join64(words[1]!, words[0]!);
        expect(x).toBe(hi * 2 ** 32 + lo);
        expect([upper32(x), lower32(x)]).toEqual([hi, lo]);
      }),
      { numRuns: 2000 },
    );
  });

  it.each([
    [0, 0, 0],
    [0xffff_ffff, 0, 0xffff_ffff],
    [0x1_0000_0000, 1, 0],
    [0x1_2345_6789, 1, 0x2345_6789],
    [Number.MAX_SAFE_INTEGER, 0x1f_ffff, 0xffff_ffff],
  ])('%#x -> hi %#x lo %#x', (x, hi, lo) => {
    expect([upper32(x), lower32(x)]).toEqual([hi, lo]);
    expect(join64(hi, lo)).toBe(x);
  });
});
