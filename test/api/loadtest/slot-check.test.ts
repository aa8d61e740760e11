/**
 * SlotCheck with each implementation of its one-pass check (the addon's checkAndPoison when it
 * is built, and the pure-JS twin always): a correct transfer passes and leaves the slot prepared
 * exactly as prepare() would, and every kind of fault (a flipped byte, a window never written,
 * a stale shorter window, guards, the source) is found at its exact offset with expected and
 * actual values.
 */
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { GUARD_BYTES, JS_CHECK_BLOCK, SlotCheck, checkAndPoisonInJs, type WindowCheck } from '../../../dist/api/loadtest/slot-check.js';
import { sourcePattern } from '../../../dist/api/loadtest/dmatest-pattern.js';
import { nativeAddonOrReport } from '../../support/native-gate.js';

const MAX = 70_000;

const addon = nativeAddonOrReport('SlotCheck with the addon checkAndPoison');
/** Name, check, and the block it stops at (the addon's is 4 KiB, native-check-and-poison.test.ts). */
const implementations: [string, WindowCheck, number][] = [['pure JS', checkAndPoisonInJs, JS_CHECK_BLOCK]];
if (addon) implementations.push(['addon', addon.checkAndPoison, 4096]);

/** A slot over plain shared memory; `dma` copies the source window the way a transfer would. */
function slot(checkWindow: WindowCheck, seed = 99) {
  const mem = new SharedArrayBuffer(2 * MAX + 2 * GUARD_BYTES + 256);
  const src = { addr: 0x1000, length: MAX, bytes: new Uint8Array(mem, 0, MAX) };
  const dst = { addr: 0x80000, length: MAX + 2 * GUARD_BYTES, bytes: new Uint8Array(mem, MAX + 128, MAX + 2 * GUARD_BYTES) };
  const pattern = sourcePattern(seed, MAX);
  const check = new SlotCheck(src, dst, pattern, checkWindow);
  const dma = (length: number) => dst.bytes.set(src.bytes.subarray(0, length), GUARD_BYTES);
  return { mem, src, dst, pattern, check, dma };
}

const hex2 = (v: number) => `0x${v.toString(16).padStart(2, '0')}`;

describe.each(implementations)('SlotCheck (%s)', (_name, checkWindow) => {
  it('fills the source once from the pattern and passes correct transfers of any length', () => {
    const s = slot(checkWindow);
    expect(Buffer.from(s.src.bytes).equals(sourcePattern(99, MAX))).toBe(true);
    const lengths = [1, 100, MAX, 37, 4096, 4097, 65536, 65537];
    s.check.prepare(1, lengths[0]!);
    for (let k = 0; k < lengths.length; k++) {
      s.dma(lengths[k]!);
      expect(s.check.check(k + 1, lengths[k]!, k + 2, lengths[k + 1] ?? 1)).toBeNull();
    }
    expect(s.check.dstWindowAddr).toBe(0x80000 + GUARD_BYTES);
  });

  it('prepare poisons the window and writes both guards, only around the window', () => {
    const s = slot(checkWindow);
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
    const s = slot(checkWindow);
    s.check.prepare(1, 300);
    const r = s.check.check(1, 300, 2, 300)!;
    expect(r.count).toBe(300);
    expect(r.first).toHaveLength(8);
    expect(r.first[0]).toMatch(/^dstbuf\[0x0\] not copied: expected 0x[c-f][0-9a-f], got 0x21$/);
  });

  it('the previous transfer\'s window left in place (stale, shorter) is caught at the new bytes, past a clean first block', () => {
    const s = slot(checkWindow);
    s.check.prepare(1, 200);
    s.dma(200);
    expect(s.check.check(1, 200, 2, 18_000)).toBeNull();
    // The DMA of transfer 2 "wrote" only the first 17,000 bytes: the rest still holds its poison.
    s.dma(17_000);
    const r = s.check.check(2, 18_000, 3, 18_000)!;
    expect(r.count).toBe(1000);
    expect(r.first[0]).toBe(`dstbuf[0x4268] not copied: expected ${hex2(s.pattern[17_000]!)}, got ${hex2(SlotCheck.poisonOf(2))}`);
  });

  it('guard bytes and source bytes are checked and named', () => {
    const s = slot(checkWindow);
    s.check.prepare(3, 64);
    s.dma(64);
    s.dst.bytes[GUARD_BYTES - 1]! ^= 1;
    s.dst.bytes[GUARD_BYTES + 64 + 2]! ^= 1;
    s.src.bytes[10]! ^= 1;
    const r = s.check.check(3, 64, 4, 64)!;
    expect(r.count).toBe(3);
    expect(r.first).toEqual([
      'guard before window overwritten at -1: expected 0x43, got 0x42',
      'guard after window overwritten at +3 (dstbuf[0x42]): expected 0x43, got 0x42',
      `srcbuf[0xa] modified: expected ${hex2(s.pattern[10]!)}, got ${hex2(s.pattern[10]! ^ 1)}`,
    ]);
  });

  it('after a failed check the slot is prepared for the next transfer all the same', () => {
    const s = slot(checkWindow);
    s.check.prepare(7, 5000);
    s.dma(5000);
    s.dst.bytes[GUARD_BYTES + 4999]! ^= 0x10;
    expect(s.check.check(7, 5000, 8, 6000)?.count).toBe(1);
    const reference = Buffer.alloc(6000 + 2 * GUARD_BYTES);
    reference.fill(0x48, 0, GUARD_BYTES).fill(SlotCheck.poisonOf(8), GUARD_BYTES, GUARD_BYTES + 6000).fill(0x48, GUARD_BYTES + 6000);
    expect(Buffer.from(s.dst.bytes.subarray(0, 6000 + 2 * GUARD_BYTES)).equals(reference)).toBe(true);
  });

  it('property: a passing check leaves the slot exactly as prepare(next, nextLength) would', () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: MAX }), fc.integer({ min: 1, max: MAX }), fc.integer({ min: 1, max: 1000 }),
      (length, nextLength, n) => {
        const s = slot(checkWindow, n);
        s.check.prepare(n, length);
        s.dma(length);
        expect(s.check.check(n, length, n + 1, nextLength)).toBeNull();
        const fused = Buffer.from(s.dst.bytes.subarray(0, nextLength + 2 * GUARD_BYTES));
        s.check.prepare(n + 1, nextLength);
        expect(fused.equals(s.dst.bytes.subarray(0, nextLength + 2 * GUARD_BYTES))).toBe(true);
      },
    ), { numRuns: 100 });
  });

  it('property: any one corrupted byte in window, guards or source is exactly one mismatch, named with its offset, expected and actual', () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: MAX }), fc.integer({ min: 1, max: 1000 }), fc.nat(), fc.integer({ min: 1, max: 255 }), fc.constantFrom('window', 'guard', 'source'),
      (length, n, where, flip, part) => {
        const s = slot(checkWindow, n);
        s.check.prepare(n, length);
        s.dma(length);
        const guard = 0x40 | (n & 0x1f);
        let expected: string;
        if (part === 'source') {
          const i = where % length;
          s.src.bytes[i]! ^= flip;
          expected = `srcbuf[0x${i.toString(16)}] modified: expected ${hex2(s.pattern[i]!)}, got ${hex2(s.pattern[i]! ^ flip)}`;
        } else if (part === 'window') {
          const i = where % length;
          s.dst.bytes[GUARD_BYTES + i]! ^= flip;
          const got = s.pattern[i]! ^ flip;
          expected = `dstbuf[0x${i.toString(16)}] ${got === SlotCheck.poisonOf(n) ? 'not copied' : 'mismatch'}: expected ${hex2(s.pattern[i]!)}, got ${hex2(got)}`;
        } else {
          const g = where % (2 * GUARD_BYTES);
          const before = g < GUARD_BYTES;
          s.dst.bytes[before ? g : GUARD_BYTES + length + g - GUARD_BYTES]! ^= flip;
          expected = before
            ? `guard before window overwritten at -${GUARD_BYTES - g}: expected ${hex2(guard)}, got ${hex2(guard ^ flip)}`
            : `guard after window overwritten at +${g - GUARD_BYTES + 1} (dstbuf[0x${(length + g - GUARD_BYTES).toString(16)}]): expected ${hex2(guard)}, got ${hex2(guard ^ flip)}`;
        }
        const r = s.check.check(n, length, n + 1, length);
        expect(r).toEqual({ count: 1, first: [expected] });
      },
    ), { numRuns: 300 });
  });
});

describe.each(implementations)('checkAndPoison (%s)', (_name, checkWindow, block) => {
  it('property: -1 and all poisoned when everything matches; else stops at the block of the first difference and touches nothing from there', () => {
    fc.assert(fc.property(
      fc.integer({ min: 0, max: 150_000 }), fc.nat({ max: 300 }), fc.nat({ max: 300 }), fc.nat({ max: 300 }), fc.integer({ min: 0, max: 255 }),
      fc.option(fc.record({ inSource: fc.boolean(), where: fc.nat(), flip: fc.integer({ min: 1, max: 255 }) })),
      (len, dstOff, srcOff, expectedOff, poison, corruption) => {
        const expected = sourcePattern(len + 1, expectedOff + len);
        const dst = Buffer.from(new SharedArrayBuffer(dstOff + len + 40));
        const src = Buffer.from(new SharedArrayBuffer(srcOff + len + 40));
        dst.fill(0x11);
        src.fill(0x22);
        expected.copy(dst, dstOff, expectedOff);
        expected.copy(src, srcOff, expectedOff);
        const where = corruption !== null && len > 0 ? corruption.where % len : -1;
        if (where >= 0) (corruption!.inSource ? src : dst)[(corruption!.inSource ? srcOff : dstOff) + where]! ^= corruption!.flip;
        const dstBefore = Buffer.from(dst);
        const srcBefore = Buffer.from(src);
        const r = checkWindow(dst, dstOff, src, srcOff, expected, expectedOff, len, poison);
        if (where < 0) {
          expect(r).toBe(-1);
        } else {
          expect(r).toBe(Math.floor(where / block) * block);
        }
        const poisoned = r < 0 ? len : r;
        expect(dst.subarray(dstOff, dstOff + poisoned).every((b) => b === poison)).toBe(true);
        expect(dst.subarray(0, dstOff).equals(dstBefore.subarray(0, dstOff))).toBe(true);
        expect(dst.subarray(dstOff + poisoned).equals(dstBefore.subarray(dstOff + poisoned))).toBe(true);
        expect(src.equals(srcBefore)).toBe(true);
      },
    ), { numRuns: 200 });
  });

  it('a range past an array or a poison that is not a byte is EINVAL, and nothing is written', () => {
    const dst = Buffer.from(new SharedArrayBuffer(100));
    const src = Buffer.alloc(100);
    const expected = Buffer.alloc(100);
    for (const [args, what] of [
      [[dst, 1, src, 0, expected, 0, 100, 0x21], /dst|exceed/],
      [[dst, 0, src, 50, expected, 0, 51, 0x21], /src|exceed/],
      [[dst, 0, src, 0, expected, 100, 1, 0x21], /expected|exceed/],
      [[dst, 0, src, 0, expected, 0, 100, 256], /poison 256/],
    ] as const) {
      expect(() => checkWindow(...(args as unknown as Parameters<WindowCheck>))).toThrow(what);
      try {
        checkWindow(...(args as unknown as Parameters<WindowCheck>));
      } catch (err) {
        expect((err as { code?: string }).code).toBe('EINVAL');
      }
      expect(dst.every((b) => b === 0)).toBe(true);
    }
  });
});
