import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import runCpuTask, {
  cpuCopy, fillPattern, verifyPattern, sourceByte, poisonByte, guardByte,
} from '../../dist/workers/cpu-tasks.js';

const GUARD = 64;

/** src and dst in one SAB each, windows at the given offsets, filled and poisoned for `seed`. */
function setup(length: number, seed: number, srcOffset = 128, dstOffset = 128, guardBytes = GUARD) {
  const src = new SharedArrayBuffer(srcOffset + length + 256);
  const dst = new SharedArrayBuffer(dstOffset + length + guardBytes + 64);
  fillPattern({ src, srcOffset, length, seed, dst, dstOffset, guardBytes });
  const s = new Uint8Array(src);
  const d = new Uint8Array(dst);
  const copy = (n = length, from = srcOffset, to = dstOffset) => d.set(s.subarray(from, from + n), to);
  const verify = () => verifyPattern({ dst, dstOffset, length, seed, guardBytes });
  return { src, dst, s, d, copy, verify, srcOffset, dstOffset };
}

describe('pattern scheme', () => {
  it('marks source, poison and guard bytes with distinct high bits', () => {
    for (let i = -70; i < 100; i++) {
      expect(sourceByte(7, i) & 0xc0).toBe(0xc0);
      expect(poisonByte(7, i) & 0xe0).toBe(0x20);
      expect(guardByte(7, i) & 0xe0).toBe(0x40);
    }
  });

  it('fills the source window and poisons the destination window and guards', () => {
    const { s, d } = setup(100, 5, 128, 130);
    for (let i = 0; i < 100; i++) {
      expect(s[128 + i]).toBe(sourceByte(5, i));
      expect(d[130 + i]).toBe(poisonByte(5, i));
    }
    expect(s[127]).toBe(0);
    expect(s[228]).toBe(0);
    for (let p = -GUARD; p < 0; p++) expect(d[130 + p]).toBe(guardByte(5, p));
    for (let p = 100; p < 100 + GUARD; p++) expect(d[130 + p]).toBe(guardByte(5, p));
    expect(d[130 - GUARD - 1]).toBe(0);
  });

  it('gives aligned (word) and unaligned (byte) fills the same bytes', () => {
    const a = setup(301, 0xdeadbeef, 64, 64);
    const b = setup(301, 0xdeadbeef, 67, 67);
    expect(Buffer.from(a.s.subarray(64, 365)).equals(Buffer.from(b.s.subarray(67, 368)))).toBe(true);
  });

  it('makes consecutive seeds differ at every byte and a 32-byte shift differ somewhere', () => {
    for (let i = 0; i < 256; i++) expect(sourceByte(41, i)).not.toBe(sourceByte(42, i));
    let differ = 0;
    for (let i = 0; i < 256; i++) if (sourceByte(9, i) !== sourceByte(9, i + 32)) differ++;
    expect(differ).toBeGreaterThan(0);
  });
});

describe('verifyPattern', () => {
  it('passes a correct copy, aligned and unaligned', () => {
    for (const [so, dOff] of [[128, 128], [129, 131], [64, 7]] as const) {
      const t = setup(1000, 77, so, dOff);
      t.copy();
      expect(t.verify()).toEqual({ mismatches: 0, first: [] });
    }
  });

  it('reports one wrong byte as a mismatch', () => {
    const t = setup(64, 3);
    t.copy();
    t.d[128 + 0x1f] = 0x00;
    const r = t.verify();
    expect(r.mismatches).toBe(1);
    expect(r.first).toEqual([`dstbuf[0x1f] mismatch: expected 0x${sourceByte(3, 0x1f).toString(16)}, got 0x00`]);
  });

  it('reports a short copy as the missing tail not copied', () => {
    const t = setup(256, 11);
    t.copy(250);
    const r = t.verify();
    expect(r.mismatches).toBe(6);
    expect(r.first[0]).toMatch(/^dstbuf\[0xfa\] not copied: expected 0x[0-9a-f]{2}, got 0x[0-9a-f]{2}$/);
    expect(r.first).toHaveLength(6);
  });

  it('reports nothing copied at every byte, at most 8 descriptions', () => {
    const t = setup(512, 1);
    const r = t.verify();
    expect(r.mismatches).toBe(512);
    expect(r.first).toHaveLength(8);
    expect(r.first.every((line) => line.includes('not copied'))).toBe(true);
  });

  it('reports a copy from the wrong source offset', () => {
    const t = setup(128, 21);
    t.copy(128, t.srcOffset + 1);
    const r = t.verify();
    expect(r.mismatches).toBe(128);
    expect(r.first[0]).toContain('dstbuf[0x0] copied from the wrong offset (source byte 0x1, +1)');
  });

  it('reports a copy 32 bytes off (counter wraps) as wrong offset, not as correct', () => {
    const t = setup(1024, 99, 128, 128);
    t.copy(1024 - 32, t.srcOffset + 32);
    const r = t.verify();
    expect(r.mismatches).toBeGreaterThan(32);
    expect(r.first.some((line) => line.includes('+32'))).toBe(true);
  });

  it('reports stale data from the previous seed', () => {
    const t = setup(200, 1000);
    fillPattern({ src: t.src, srcOffset: t.srcOffset, length: 200, seed: 999 });
    t.copy();
    const r = t.verify();
    expect(r.mismatches).toBe(200);
    expect(r.first[0]).toContain('dstbuf[0x0] stale source data');
  });

  it('reports guard bytes overwritten before and after the window', () => {
    const t = setup(64, 8);
    t.copy();
    t.d[128 - 3] = 0xc1;
    t.d[128 + 64] = 0xc2;
    t.d[128 + 64 + GUARD - 1] = 0;
    const r = t.verify();
    expect(r.mismatches).toBe(3);
    expect(r.first[0]).toMatch(/^guard before window overwritten at -3: expected 0x[45][0-9a-f], got 0xc1$/);
    expect(r.first[1]).toMatch(/^guard after window overwritten at \+1 \(dstbuf\[0x40\]\)/);
    expect(r.first[2]).toMatch(/^guard after window overwritten at \+64 /);
  });

  it('clips guards to the buffer and counts nothing outside it', () => {
    const src = new SharedArrayBuffer(64);
    const dst = new SharedArrayBuffer(40);
    fillPattern({ src, srcOffset: 0, length: 32, seed: 4, dst, dstOffset: 4, guardBytes: 64 });
    new Uint8Array(dst).set(new Uint8Array(src, 0, 32), 4);
    expect(verifyPattern({ dst, dstOffset: 4, length: 32, seed: 4, guardBytes: 64 }).mismatches).toBe(0);
  });

  it('rejects windows outside the buffer and overlapping src/dst', () => {
    const buf = new SharedArrayBuffer(256);
    expect(() => verifyPattern({ dst: buf, dstOffset: 200, length: 100, seed: 0, guardBytes: 0 })).toThrow(/EINVAL: dst: window 0xc8\+0x64/);
    expect(() => fillPattern({ src: buf, srcOffset: 0, length: 64, seed: 0, dst: buf, dstOffset: 100, guardBytes: 64 })).toThrow(/overlaps src/);
    expect(() => runCpuTask({ op: 'nope' } as never)).toThrow(/unknown op "nope"/);
  });

  it('property: correct copies verify clean, any single flipped byte is found', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 700 }), fc.integer({ min: 0, max: 70 }), fc.integer({ min: 0, max: 70 }),
        fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 80 }),
        fc.nat(), fc.integer({ min: 1, max: 255 }),
        (length, srcOffset, dstOffset, seed, guardBytes, where, flip) => {
          const t = setup(length, seed, srcOffset, dstOffset, guardBytes);
          t.copy();
          expect(verifyPattern({ dst: t.dst, dstOffset, length, seed, guardBytes })).toEqual({ mismatches: 0, first: [] });
          const lo = Math.max(0, dstOffset - guardBytes);
          const hi = Math.min(t.d.length, dstOffset + length + guardBytes);
          if (hi === lo) return;
          const at = lo + (where % (hi - lo));
          t.d[at]! ^= flip;
          const r = verifyPattern({ dst: t.dst, dstOffset, length, seed, guardBytes });
          expect(r.mismatches).toBe(1);
          expect(r.first).toHaveLength(1);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('cpuCopy', () => {
  it('copies between buffers and within one buffer with overlap', () => {
    const a = new SharedArrayBuffer(16);
    const b = new SharedArrayBuffer(16);
    new Uint8Array(a).set([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(cpuCopy({ src: a, srcOffset: 2, dst: b, dstOffset: 10, length: 4 })).toBe(4);
    expect([...new Uint8Array(b, 10, 4)]).toEqual([3, 4, 5, 6]);
    cpuCopy({ src: a, srcOffset: 0, dst: a, dstOffset: 1, length: 4 });
    expect([...new Uint8Array(a, 0, 6)]).toEqual([1, 1, 2, 3, 4, 6]);
    expect(() => cpuCopy({ src: a, srcOffset: 14, dst: b, dstOffset: 0, length: 4 })).toThrow(/src: window/);
  });
});
