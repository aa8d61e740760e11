/** RAM and MMIO regions, and the arena that puts several RAM regions in one buffer. */
import { describe, expect, it } from 'vitest';
import { arenaBytes, mmioRegion, ramArena, ramRegion } from '../../../dist/device/bus/memory-region.js';
import { MmioRegisterFile } from '../../../dist/device/regs/register-file.js';

describe('ramRegion', () => {
  it('views exactly its bytes of the backing buffer', () => {
    const buf = new SharedArrayBuffer(0x3000);
    const r = ramRegion('r', 0x8000_0000, 0x1000, buf, 0x1000);
    expect(r).toMatchObject({ name: 'r', base: 0x8000_0000, size: 0x1000, kind: 'ram', bufferOffset: 0x1000 });
    expect(r.buffer).toBe(buf);
    expect(r.bytes.length).toBe(0x1000);
    expect(r.arena.length).toBe(0x3000);
    r.bytes[0] = 9;
    expect(new Uint8Array(buf)[0x1000]).toBe(9);
    expect(r.registers).toBeUndefined();
  });

  it('allocates its own buffer when none is given', () => {
    const r = ramRegion('r', 0x1_0000_0000, 0x100);
    expect(r.buffer.byteLength).toBe(0x100);
    expect(r.bufferOffset).toBe(0);
  });

  it('rejects bad bases, sizes and buffer ranges', () => {
    const buf = new SharedArrayBuffer(0x1000);
    for (const [base, size] of [[-1, 16], [1.5, 16], [0, 0], [0, -16], [Number.MAX_SAFE_INTEGER, 16], [2 ** 53, 16]]) {
      expect(() => ramRegion('bad', base!, size!), `${base}+${size}`).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    }
    expect(() => ramRegion('r', 0, 0x800, buf, 0x900)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => ramRegion('r', 0, 0x800, buf, -4)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
  });
});

describe('ramArena', () => {
  it('puts every region in one buffer at 4 KiB-aligned offsets', () => {
    const specs = [
      { name: 'll', base: 0x7000_0000, size: 0x10000 },
      { name: 'odd', base: 0x9000_0000, size: 100 },
      { name: 'ep', base: 0x8000_0000, size: 0x2001 },
    ];
    const rs = ramArena(specs);
    expect(rs.map((r) => r.bufferOffset)).toEqual([0, 0x10000, 0x11000]);
    expect(rs[0]!.buffer).toBe(rs[1]!.buffer);
    expect(rs[1]!.buffer).toBe(rs[2]!.buffer);
    expect(rs[0]!.buffer.byteLength).toBe(arenaBytes(specs.map((s) => s.size)));
    expect(arenaBytes([0x10000, 100, 0x2001])).toBe(0x10000 + 0x1000 + 0x3000);
    rs[1]!.bytes.fill(1);
    expect(rs[0]!.bytes.every((b) => b === 0)).toBe(true);
    expect(rs[2]!.bytes.every((b) => b === 0)).toBe(true);
  });

  it('uses a given buffer and rejects one too small', () => {
    const buf = new SharedArrayBuffer(0x2000);
    const [a] = ramArena([{ name: 'a', base: 0, size: 0x2000 }], buf);
    expect(a!.buffer).toBe(buf);
    expect(() => ramArena([{ name: 'a', base: 0, size: 0x2001 }], buf)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
  });
});

describe('mmioRegion', () => {
  it('covers the register window and carries the register file', () => {
    const regs = MmioRegisterFile.create('hdma-native', { writeChannels: 1, readChannels: 1 });
    const r = mmioRegion('regs', 0x6000_0000, regs);
    expect(r).toMatchObject({ kind: 'mmio', base: 0x6000_0000, size: 0x1000, bufferOffset: 0 });
    expect(r.registers).toBe(regs);
    expect(r.buffer).toBe(regs.buffer);
  });
});
