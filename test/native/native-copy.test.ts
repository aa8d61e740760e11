import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import type { NativeAddon } from '../../dist/native/native-addon.js';
import { cleanupNativeTestResources, makeShmDir, patternBytes } from './native-test-support.js';
import { nativeAddonOrReport } from '../support/native-gate.js';

const addon = nativeAddonOrReport('copy');
const native = addon as NativeAddon;

afterEach(cleanupNativeTestResources);


function sharedBytes(length: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(new SharedArrayBuffer(length));
  bytes.set(patternBytes(length, seed));
  return bytes;
}

describe.skipIf(!addon)('copy', () => {
  it('moves exactly len bytes to dstOff, like dst.set(src.subarray(...))', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 4096 }),
        fc.integer({ min: 0, max: 4096 }),
        fc.nat({ max: 4096 }),
        fc.nat({ max: 4096 }),
        fc.nat({ max: 4096 }),
        fc.boolean(),
        (srcLen, dstLen, srcOffRaw, dstOffRaw, lenRaw, sharedSrc) => {
          const srcOff = srcOffRaw % (srcLen + 1);
          const dstOff = dstOffRaw % (dstLen + 1);
          const len = lenRaw % (Math.min(srcLen - srcOff, dstLen - dstOff) + 1);
          const src = sharedSrc ? sharedBytes(srcLen, 1) : new Uint8Array(patternBytes(srcLen, 1));
          const dst = sharedBytes(dstLen, 2);
          const expected = Buffer.from(patternBytes(dstLen, 2));
          expected.set(src.subarray(srcOff, srcOff + len), dstOff);
          native.copy(dst, dstOff, src, srcOff, len);
          expect(Buffer.compare(Buffer.from(dst.buffer, dst.byteOffset, dst.length), expected)).toBe(0);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('handles overlapping ranges of one buffer like copyWithin', () => {
    fc.assert(
      fc.property(fc.nat({ max: 1024 }), fc.nat({ max: 1024 }), fc.nat({ max: 1024 }), (a, b, lenRaw) => {
        const len = lenRaw % (1024 - Math.max(a, b) + 1);
        const bytes = sharedBytes(2048, 3);
        const expected = Buffer.from(patternBytes(2048, 3));
        expected.copyWithin(a, b, b + len);
        native.copy(bytes, a, bytes, b, len);
        expect(Buffer.compare(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length), expected)).toBe(0);
      }),
      { numRuns: 200 },
    );
  });

  it('copies 16 MiB between file-backed mappings', () => {
    const size = 16 * 1024 * 1024;
    const dir = makeShmDir();
    const src = new Uint8Array(native.mapShared(join(dir, 'src'), size));
    const dst = new Uint8Array(native.mapShared(join(dir, 'dst'), size));
    const block = patternBytes(65_536, 4);
    for (let off = 0; off < size; off += block.length) src.set(block, off);
    src[size - 1] = 0xee;
    native.copy(dst, 0, src, 0, size);
    expect(Buffer.compare(Buffer.from(dst.buffer, 0, size), Buffer.from(src.buffer, 0, size))).toBe(0);
  });

  it('rejects out-of-range offsets and lengths without writing, and non-Uint8Array arguments', () => {
    const src = sharedBytes(100, 5);
    const dst = sharedBytes(100, 6);
    const before = Buffer.from(dst);
    const bad: Array<[number, number, number]> = [
      [90, 0, 11],
      [0, 95, 6],
      [101, 0, 0],
      [-1, 0, 1],
      [0, 0, 1.5],
    ];
    for (const [dstOff, srcOff, len] of bad) {
      let caught: unknown;
      try {
        native.copy(dst, dstOff, src, srcOff, len);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(RangeError);
      expect((caught as NodeJS.ErrnoException).code).toBe('EINVAL');
    }
    expect(Buffer.from(dst)).toEqual(before);
    expect(() => native.copy(new Uint16Array(8) as unknown as Uint8Array, 0, src, 0, 1)).toThrow(TypeError);
    native.copy(dst, 100, src, 100, 0);
    expect(Buffer.from(dst)).toEqual(before);
  });
});
