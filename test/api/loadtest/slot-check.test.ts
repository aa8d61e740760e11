import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { GUARD_BYTES, SlotCheck } from '../../../dist/api/loadtest/slot-check.js';
import { sourcePattern } from '../../../dist/api/loadtest/dmatest-pattern.js';

const MAX = 4096;

/** A slot over plain shared memory; `dma` copies the source window the way a transfer would. */
function slot(seed = 99) {
  const mem = new SharedArrayBuffer(2 * MAX + 2 * GUARD_BYTES + 256);
  const src = { addr: 0x1000, length: MAX, bytes: new Uint8Array(mem, 0, MAX) };
  const dst = { addr: 0x8000, length: MAX + 2 * GUARD_BYTES, bytes: new Uint8Array(mem, MAX + 128, MAX + 2 * GUARD_BYTES) };
  const check = new SlotCheck(src, dst, sourcePattern(seed, MAX));
  const dma = (length: number) => dst.bytes.set(src.bytes.subarray(0, length), GUARD_BYTES);
  return { mem, src, dst, check, dma };
}

describe('SlotCheck', () => {
  it('fills the source once from the pattern and passes a correct transfer of any length', () => {
    const s = slot();
    expect(Buffer.from(s.src.bytes).equals(sourcePattern(99, MAX))).toBe(true);
    for (const [n, length] of [[1, 1], [2, 100], [3, MAX], [4, 37]] as const) {
      s.check.prepare(n, length);
      s.dma(length);
      expect(s.check.check(n, length)).toBeNull();
    }
    expect(s.check.dstWindowAddr).toBe(0x8000 + GUARD_BYTES);
  });

  it('poisons the window and writes both guards before each transfer, only around the window', () => {
    const s = slot();
    const outside = new Uint8Array(s.mem, MAX + 127, 1);
    outside[0] = 0xee;
    s.check.prepare(5, 100);
    expect(s.dst.bytes[GUARD_BYTES]).toBe(SlotCheck.poisonOf(5));
    expect(s.dst.bytes[GUARD_BYTES + 99]).toBe(SlotCheck.poisonOf(5));
    expect(s.dst.bytes[0]).toBe(0x45);
    expect(s.dst.bytes[GUARD_BYTES + 100 + GUARD_BYTES - 1]).toBe(0x45);
    expect(outside[0]).toBe(0xee);
    expect(SlotCheck.poisonOf(5)).not.toBe(SlotCheck.poisonOf(6));
  });

  it('a window never written is "not copied" at every byte, at most 8 descriptions', () => {
    const s = slot();
    s.check.prepare(1, 300);
    const r = s.check.check(1, 300)!;
    expect(r.count).toBe(300);
    expect(r.first).toHaveLength(8);
    expect(r.first[0]).toMatch(/^dstbuf\[0x0\] not copied: expected 0x[c-f][0-9a-f], got 0x21$/);
  });

  it('the previous transfer\'s window left in place (stale, shorter) is caught at the new bytes', () => {
    const s = slot();
    s.check.prepare(1, 200);
    s.dma(200);
    expect(s.check.check(1, 200)).toBeNull();
    s.check.prepare(2, 400);
    // The DMA of transfer 2 "wrote" only the first 200 bytes again.
    s.dma(200);
    const r = s.check.check(2, 400)!;
    expect(r.count).toBe(200);
    expect(r.first[0]).toMatch(/^dstbuf\[0xc8\] not copied/);
  });

  it('guard bytes and source bytes are checked and named', () => {
    const s = slot();
    s.check.prepare(3, 64);
    s.dma(64);
    s.dst.bytes[GUARD_BYTES - 1] ^= 1;
    s.dst.bytes[GUARD_BYTES + 64 + 2] ^= 1;
    s.src.bytes[10] ^= 1;
    const r = s.check.check(3, 64)!;
    expect(r.count).toBe(3);
    expect(r.first).toEqual([
      expect.stringMatching(/^guard before window overwritten at -1: expected 0x43, got 0x42$/),
      expect.stringMatching(/^guard after window overwritten at \+3 \(dstbuf\[0x42\]\): expected 0x43, got 0x42$/),
      expect.stringMatching(/^srcbuf\[0xa\] modified: /),
    ]);
  });

  it('property: after a correct transfer, any one flipped byte in window, guards or source is exactly one mismatch', () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 2000 }), fc.integer({ min: 1, max: 1000 }), fc.nat(), fc.integer({ min: 1, max: 255 }), fc.boolean(),
      (length, n, where, flip, inSource) => {
        const s = slot(n);
        s.check.prepare(n, length);
        s.dma(length);
        expect(s.check.check(n, length)).toBeNull();
        if (inSource) s.src.bytes[where % length]! ^= flip;
        else s.dst.bytes[where % (length + 2 * GUARD_BYTES)]! ^= flip;
        const r = s.check.check(n, length);
        expect(r?.count).toBe(1);
        expect(r?.first).toHaveLength(1);
      },
    ), { numRuns: 200 });
  });
});
