/**
 * SlotCheck: a slot's uses read its source alternately from offset 0 and SLOT_PATTERN_STRIDE, so
 * correct transfers of any length pass with no poisoning between uses, a window (or part of
 * one) the DMA did not write still holds the previous use's bytes or poison and is "not copied"
 * at every such byte, and every other fault (a flipped byte, guards, the source) is found at its
 * exact offset with expected and actual values.
 */
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { GUARD_BYTES, SLOT_PATTERN_STRIDE, SlotCheck, readOffset } from '../../../dist/api/loadtest/slot-check.js';
import { sourcePattern } from '../../../dist/api/loadtest/dmatest-pattern.js';

const MAX = 70_000;
const SRC = MAX + SLOT_PATTERN_STRIDE;

/** A slot over plain shared memory; `dma` copies what use `use` reads the way a transfer would. */
function slot(seed = 99) {
  const mem = new SharedArrayBuffer(SRC + MAX + 2 * GUARD_BYTES + 256);
  const src = { addr: 0x1000, length: SRC, bytes: new Uint8Array(mem, 0, SRC) };
  const dstAt = SRC + 128;
  const dst = { addr: 0x80000, length: MAX + 2 * GUARD_BYTES, bytes: new Uint8Array(mem, dstAt, MAX + 2 * GUARD_BYTES) };
  const pattern = sourcePattern(seed, SRC);
  const check = new SlotCheck(src, dst, pattern);
  const dma = (use: number, length: number) => dst.bytes.set(src.bytes.subarray(readOffset(use), readOffset(use) + length), GUARD_BYTES);
  /** What use `use` must leave at window byte i. */
  const expected = (use: number, i: number) => pattern[readOffset(use) + i]!;
  const window = (length: number) => Buffer.from(dst.bytes.subarray(GUARD_BYTES, GUARD_BYTES + length));
  return { mem, dstAt, src, dst, pattern, check, dma, expected, window };
}

const hex2 = (v: number) => `0x${v.toString(16).padStart(2, '0')}`;
const poisonOf = (transfer: number) => 0x20 | (transfer & 0x1f);
const guardOf = (transfer: number) => 0x40 | (transfer & 0x1f);

describe('SlotCheck', () => {
  it('fills the source once from the pattern and passes correct transfers of any length, uses alternating', () => {
    const s = slot();
    expect(Buffer.from(s.src.bytes).equals(sourcePattern(99, SRC))).toBe(true);
    const lengths = [1, 100, MAX, 37, 4096, 4097, 65536, 65537, MAX, 5];
    s.check.prepare(1, lengths[0]!);
    for (let use = 0; use < lengths.length; use++) {
      s.dma(use, lengths[use]!);
      expect(s.check.check(use, use + 1, lengths[use]!, use + 2, lengths[use + 1] ?? 1)).toBeNull();
    }
    expect(s.check.dstWindowAddr).toBe(0x80000 + GUARD_BYTES);
  });

  it('the two uses of a slot expect different bytes everywhere, and slots apart by 2 strides differ too', () => {
    const s = slot();
    const next = sourcePattern(99, SRC + 2 * SLOT_PATTERN_STRIDE).subarray(2 * SLOT_PATTERN_STRIDE);
    let usesAgree = 0;
    let slotsAgree = 0;
    for (let i = 0; i < MAX; i++) {
      if (s.expected(0, i) === s.expected(1, i)) usesAgree++;
      if (next[i] === s.expected(0, i) || next[i] === s.expected(1, i)) slotsAgree++;
    }
    expect([usesAgree, slotsAgree]).toEqual([0, 0]);
  });

  it('prepare poisons the window and writes both guards, only around the window', () => {
    const s = slot();
    const outside = new Uint8Array(s.mem, s.dstAt - 1, 1);
    outside[0] = 0xee;
    s.check.prepare(5, 100);
    expect(s.window(100).every((b) => b === poisonOf(5))).toBe(true);
    expect(s.dst.bytes[0]).toBe(0x45);
    expect(s.dst.bytes[GUARD_BYTES - 1]).toBe(0x45);
    expect(s.dst.bytes[GUARD_BYTES + 100]).toBe(0x45);
    expect(s.dst.bytes[GUARD_BYTES + 100 + GUARD_BYTES - 1]).toBe(0x45);
    expect(s.dst.bytes[GUARD_BYTES + 100 + GUARD_BYTES]).toBe(0);
    expect(outside[0]).toBe(0xee);
    expect(poisonOf(5)).not.toBe(poisonOf(6));
  });

  it('a first use the DMA never wrote is "not copied" at every byte (poison), at most 8 descriptions', () => {
    const s = slot();
    s.check.prepare(1, 300);
    const r = s.check.check(0, 1, 300, 2, 300)!;
    expect(r.count).toBe(300);
    expect(r.first).toHaveLength(8);
    expect(r.first[0]).toBe(`dstbuf[0x0] not copied: expected ${hex2(s.expected(0, 0))}, got 0x21`);
  });

  it('a use the DMA never wrote still holds the previous use\'s bytes and is "not copied" at every byte', () => {
    const s = slot();
    s.check.prepare(1, 5000);
    s.dma(0, 5000);
    expect(s.check.check(0, 1, 5000, 2, 5000)).toBeNull();
    expect(s.check.check(1, 2, 5000, 3, 5000)).toEqual({
      count: 5000,
      first: Array.from({ length: 8 }, (_, i) => `dstbuf[0x${i.toString(16)}] not copied: expected ${hex2(s.expected(1, i))}, got ${hex2(s.expected(0, i))}`),
    });
  });

  it('property: a partial write after any earlier use is "not copied" at exactly the bytes not written, and staleWindow is what the window held', () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: MAX }), fc.integer({ min: 1, max: MAX }), fc.nat(), fc.integer({ min: 0, max: 5 }),
      (previousLength, length, w, use) => {
        const written = w % length;
        const s = slot(use + 7);
        s.check.prepare(use, previousLength);
        s.dma(use, previousLength);
        expect(s.check.check(use, use, previousLength, use + 1, length)).toBeNull();
        const before = s.window(length);
        expect(s.check.staleWindow(use + 1, use + 1, length).equals(before)).toBe(true);
        s.dma(use + 1, written);
        const r = s.check.check(use + 1, use + 1, length, use + 2, length)!;
        expect(r.count).toBe(length - written);
        expect(r.first).toEqual(Array.from({ length: Math.min(8, length - written) }, (_, k) => {
          const i = written + k;
          return `dstbuf[0x${i.toString(16)}] not copied: expected ${hex2(s.expected(use + 1, i))}, got ${hex2(before[i]!)}`;
        }));
      },
    ), { numRuns: 60 });
  });

  it('guard bytes and source bytes are checked and named (source offsets relative to what the use read)', () => {
    const s = slot();
    s.check.prepare(3, 64);
    s.dma(0, 64);
    expect(s.check.check(0, 3, 64, 4, 64)).toBeNull();
    s.dma(1, 64);
    s.dst.bytes[GUARD_BYTES - 1]! ^= 1;
    s.dst.bytes[GUARD_BYTES + 64 + 2]! ^= 1;
    s.src.bytes[SLOT_PATTERN_STRIDE + 10]! ^= 1;
    const r = s.check.check(1, 4, 64, 5, 64)!;
    expect(r.count).toBe(3);
    expect(r.first).toEqual([
      'guard before window overwritten at -1: expected 0x44, got 0x45',
      'guard after window overwritten at +3 (dstbuf[0x42]): expected 0x44, got 0x45',
      `srcbuf[0xa] modified: expected ${hex2(s.expected(1, 10))}, got ${hex2(s.expected(1, 10) ^ 1)}`,
    ]);
  });

  it('after a failed check the slot is prepared (all poison) for the next use, which then fails at every byte if not written', () => {
    const s = slot();
    s.check.prepare(7, 5000);
    s.dma(0, 5000);
    s.dst.bytes[GUARD_BYTES + 4999]! ^= 0x10;
    expect(s.check.check(0, 7, 5000, 8, 6000)?.count).toBe(1);
    const reference = Buffer.alloc(6000 + 2 * GUARD_BYTES);
    reference.fill(0x48, 0, GUARD_BYTES).fill(poisonOf(8), GUARD_BYTES, GUARD_BYTES + 6000).fill(0x48, GUARD_BYTES + 6000);
    expect(Buffer.from(s.dst.bytes.subarray(0, 6000 + 2 * GUARD_BYTES)).equals(reference)).toBe(true);
    expect(s.check.staleWindow(1, 8, 6000).equals(reference.subarray(GUARD_BYTES, GUARD_BYTES + 6000))).toBe(true);
    const r = s.check.check(1, 8, 6000, 9, 6000)!;
    expect(r.count).toBe(6000);
    expect(r.first[0]).toBe(`dstbuf[0x0] not copied: expected ${hex2(s.expected(1, 0))}, got ${hex2(poisonOf(8))}`);
  });

  it('property: a passing check leaves the next guards as prepare would, this use\'s bytes in the window and poison only past them', () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: MAX }), fc.integer({ min: 1, max: MAX }), fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 0, max: 3 }),
      (length, nextLength, n, use) => {
        const s = slot(n);
        s.check.prepare(n, length);
        s.dma(use, length);
        expect(s.check.check(use, n, length, n + 1, nextLength)).toBeNull();
        const reference = Buffer.alloc(nextLength + 2 * GUARD_BYTES, guardOf(n + 1));
        const kept = Math.min(length, nextLength);
        s.pattern.copy(reference, GUARD_BYTES, readOffset(use), readOffset(use) + kept);
        reference.fill(poisonOf(n + 1), GUARD_BYTES + kept, GUARD_BYTES + nextLength);
        expect(Buffer.from(s.dst.bytes.subarray(0, nextLength + 2 * GUARD_BYTES)).equals(reference)).toBe(true);
      },
    ), { numRuns: 100 });
  });

  it('property: any one corrupted byte in window, guards or source is exactly one mismatch, named with its offset, expected and actual', () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: MAX }), fc.option(fc.integer({ min: 1, max: MAX })), fc.integer({ min: 1, max: 1000 }), fc.nat(),
      fc.integer({ min: 1, max: 255 }), fc.constantFrom('window', 'guard', 'source'),
      (length, previousLength, n, where, flip, part) => {
        const s = slot(n);
        // Use 0 first when there is a previous length, so the window holds stale bytes too.
        const use = previousLength === null ? 0 : 1;
        s.check.prepare(n - use, previousLength ?? length);
        if (previousLength !== null) {
          s.dma(0, previousLength);
          expect(s.check.check(0, n - 1, previousLength, n, length)).toBeNull();
        }
        const stale = s.window(length);
        s.dma(use, length);
        let expected: string;
        if (part === 'source') {
          const i = where % length;
          s.src.bytes[readOffset(use) + i]! ^= flip;
          expected = `srcbuf[0x${i.toString(16)}] modified: expected ${hex2(s.expected(use, i))}, got ${hex2(s.expected(use, i) ^ flip)}`;
        } else if (part === 'window') {
          const i = where % length;
          s.dst.bytes[GUARD_BYTES + i]! ^= flip;
          const got = s.expected(use, i) ^ flip;
          // "not copied" is a byte the window held before (the previous use's) or this transfer's poison.
          expected = `dstbuf[0x${i.toString(16)}] ${got === stale[i] || got === poisonOf(n) ? 'not copied' : 'mismatch'}: expected ${hex2(s.expected(use, i))}, got ${hex2(got)}`;
        } else {
          const guard = guardOf(n);
          const g = where % (2 * GUARD_BYTES);
          const before = g < GUARD_BYTES;
          s.dst.bytes[before ? g : length + g]! ^= flip;
          expected = before
            ? `guard before window overwritten at -${GUARD_BYTES - g}: expected ${hex2(guard)}, got ${hex2(guard ^ flip)}`
            : `guard after window overwritten at +${g - GUARD_BYTES + 1} (dstbuf[0x${(length + g - GUARD_BYTES).toString(16)}]): expected ${hex2(guard)}, got ${hex2(guard ^ flip)}`;
        }
        expect(s.check.check(use, n, length, n + 1, length)).toEqual({ count: 1, first: [expected] });
      },
    ), { numRuns: 300 });
  });
});
