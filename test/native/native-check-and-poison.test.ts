/**
 * The addon's checkAndPoison beyond the contract property that test/api/loadtest/slot-check.test.ts
 * runs for it and its pure-JS twin: argument types and ranges refused before anything is
 * written, 4 KiB block granularity, and a window far larger than any cache.
 */
import { describe, expect, it } from 'vitest';
import type { NativeAddon } from '../../dist/native/native-addon.js';
import { patternBytes } from './native-test-support.js';
import { nativeAddonOrReport } from '../support/native-gate.js';

const addon = nativeAddonOrReport('checkAndPoison');
const native = addon as NativeAddon;

function shared(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(new SharedArrayBuffer(bytes.length));
  out.set(bytes);
  return out;
}

describe.skipIf(!addon)('checkAndPoison', () => {
  it('refuses non-Uint8Array arguments, negative or fractional offsets, and out-of-range windows, writing nothing', () => {
    const expected = patternBytes(100, 1);
    const dst = shared(expected);
    const src = shared(expected);
    const call = (args: unknown[]) => () => (native.checkAndPoison as (...a: unknown[]) => number)(...args);
    expect(call([new Uint16Array(50), 0, src, 0, expected, 0, 10, 0x21])).toThrow(TypeError);
    expect(call([dst, 0, [1, 2], 0, expected, 0, 2, 0x21])).toThrow(TypeError);
    for (const args of [[dst, -1, src, 0, expected, 0, 1, 0x21], [dst, 0, src, 0.5, expected, 0, 1, 0x21], [dst, 0, src, 0, expected, 0, 101, 0x21], [dst, 0, src, 0, expected, 0, 1, -1]]) {
      let caught: unknown;
      try {
        call(args)();
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(RangeError);
      expect((caught as NodeJS.ErrnoException).code).toBe('EINVAL');
    }
    expect(Buffer.from(dst).equals(expected)).toBe(true);
  });

  it('stops at the 4 KiB block holding the first difference', () => {
    const expected = patternBytes(20_000, 2);
    for (const where of [0, 4095, 4096, 12_345, 19_999]) {
      const dst = shared(expected);
      const src = shared(expected);
      dst[where]! ^= 0x80;
      expect(native.checkAndPoison(dst, 0, src, 0, expected, 0, 20_000, 0x2a)).toBe(Math.floor(where / 4096) * 4096);
    }
  });

  it('checks and poisons a 64 MiB window in one call, and finds a source byte changed in its last block', () => {
    const size = 64 << 20;
    const expected = Buffer.alloc(size);
    const lap = patternBytes(65_536, 3);
    for (let off = 0; off < size; off += lap.length) lap.copy(expected, off);
    const dst = new Uint8Array(new SharedArrayBuffer(size));
    const src = new Uint8Array(new SharedArrayBuffer(size));
    dst.set(expected);
    src.set(expected);
    expect(native.checkAndPoison(dst, 0, src, 0, expected, 0, size, 0x33)).toBe(-1);
    expect(Buffer.from(dst.buffer).equals(Buffer.alloc(size, 0x33))).toBe(true);
    dst.set(expected);
    src[size - 1]! ^= 1;
    expect(native.checkAndPoison(dst, 0, src, 0, expected, 0, size, 0x33)).toBe(size - 4096);
    expect(dst[size - 4097]).toBe(0x33);
    expect(dst[size - 4096]).toBe(expected[size - 4096]);
  });
});
