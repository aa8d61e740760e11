/** AddressSpace: overlap rules, whole-range translation, MMIO vs memory, describe round trip. */
import { describe, expect, it } from 'vitest';
import {
  AddressSpace,
  RESOLVE_CROSSES_END,
  RESOLVE_UNMAPPED,
} from '../../../dist/device/bus/address-space.js';
import { mmioRegion, ramRegion } from '../../../dist/device/bus/memory-region.js';
import { MmioRegisterFile } from '../../../dist/device/regs/register-file.js';
import { EpdmaError } from '../../../dist/device/errors.js';
import type { BusFault, BusHit } from '../../../dist/device/bus/address-space.js';
import type { MemoryRegion } from '../../../dist/device/bus/memory-region.js';
import { createWorld, DMA_REGS_BASE, EP_RAM_BASE, HOST_RAM_BASE, LL_BASE } from '../../support/device-fixtures.js';

/** Compares a hit by region identity: matching a 1 MiB view structurally is far too slow. */
function expectHit(t: BusHit | BusFault, region: MemoryRegion, offset?: number): void {
  expect(t.ok, JSON.stringify(t.ok ? { offset: t.offset } : t)).toBe(true);
  if (!t.ok) return;
  expect(t.region === region, `region ${t.region.name}, expected ${region.name}`).toBe(true);
  if (offset !== undefined) expect(t.offset).toBe(offset);
}

describe('regions', () => {
  it('rejects overlapping regions and accepts adjacent ones', () => {
    const s = new AddressSpace('t', [ramRegion('a', 0x1000, 0x1000)]);
    for (const [base, size] of [[0x1000, 0x10], [0x1ff0, 0x20], [0x0ff0, 0x20], [0x800, 0x2000], [0x1800, 0x10]]) {
      expect(() => s.add(ramRegion('b', base!, size!)), `${base}+${size}`).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    }
    expect(s.regions.length).toBe(1);
    s.add(ramRegion('below', 0x0, 0x1000));
    s.add(ramRegion('above', 0x2000, 0x1000));
    expect(s.regions.map((r) => r.name)).toEqual(['below', 'a', 'above']);
    expect(() => new AddressSpace('t2', [ramRegion('x', 0, 16), ramRegion('y', 8, 16)])).toThrow(EpdmaError);
  });

  it('rejects an MMIO region overlapping RAM', () => {
    const regs = MmioRegisterFile.create('unroll', { writeChannels: 1, readChannels: 1 });
    const s = new AddressSpace('t', [ramRegion('ram', 0x6000_1000, 0x1000)]);
    expect(() => s.add(mmioRegion('regs', 0x6000_0000, regs))).toThrow(expect.objectContaining({ code: 'EINVAL' }));
  });

  it('remove() takes a region out of translation', () => {
    const a = ramRegion('a', 0x1000, 0x1000);
    const b = ramRegion('b', 0x4000, 0x1000);
    const s = new AddressSpace('t', [a, b]);
    expect(s.translate(0x4010, 4).ok).toBe(true); // warms the last-hit cache on b
    s.remove(b);
    expect(s.translate(0x4010, 4)).toEqual({ ok: false, fault: 'unmapped', addr: 0x4010, length: 4 });
    expect(s.translate(0x1010, 4)).toMatchObject({ ok: true, offset: 0x10 });
  });
});

describe('translation', () => {
  const world = createWorld('unroll');
  const s = world.local;

  it('hits land in the right region at the right offset', () => {
    expectHit(s.translate(EP_RAM_BASE, 1), world.epRam, 0);
    expectHit(s.translate(EP_RAM_BASE + 0x1234, 0x100), world.epRam, 0x1234);
    expectHit(s.translate(LL_BASE + 0x2000, 24), world.llMem, 0x2000);
    // the whole region, exactly
    expect(s.translate(EP_RAM_BASE, world.epRam.size)).toMatchObject({ ok: true, offset: 0 });
    expect(s.translate(EP_RAM_BASE + world.epRam.size - 1, 1)).toMatchObject({ ok: true, offset: world.epRam.size - 1 });
    // host side, above 2^32
    expectHit(world.host.translate(HOST_RAM_BASE + 0x10, 8), world.hostRam, 0x10);
  });

  it('unmapped addresses: below, between and above regions, and nonsense', () => {
    for (const addr of [0, DMA_REGS_BASE - 4, LL_BASE + world.llMem.size, EP_RAM_BASE - 1, EP_RAM_BASE + world.epRam.size, 2 ** 40]) {
      expect(s.translate(addr, 4), `addr ${addr.toString(16)}`).toEqual({ ok: false, fault: 'unmapped', addr, length: 4 });
      expect(s.resolve(addr, 4)).toBe(RESOLVE_UNMAPPED);
    }
    for (const addr of [-1, 1.5, Number.NaN, 2 ** 53]) expect(s.translate(addr, 4)).toMatchObject({ ok: false, fault: 'unmapped' });
    expect(s.translate(EP_RAM_BASE, -1)).toMatchObject({ ok: false, fault: 'unmapped' });
    expect(world.host.translate(HOST_RAM_BASE - 4, 4)).toMatchObject({ ok: false, fault: 'unmapped' });
    expect(world.host.translate(0xffff_fffc, 4)).toMatchObject({ ok: false, fault: 'unmapped' });
  });

  it('a range running past the end of its region is a fault, never a partial hit', () => {
    const end = EP_RAM_BASE + world.epRam.size;
    expect(s.translate(end - 4, 5)).toEqual({ ok: false, fault: 'crosses-end', addr: end - 4, length: 5 });
    expect(s.resolve(end - 4, 5)).toBe(RESOLVE_CROSSES_END);
    expect(s.resolve(end - 4, 4)).toBeGreaterThanOrEqual(0);
    // even into an adjacent region: LL memory ends where nothing starts, the register block ends at 0x6000_2000
    const regsEnd = DMA_REGS_BASE + world.regsRegion.size;
    expect(s.translate(regsEnd - 4, 8)).toMatchObject({ ok: false, fault: 'crosses-end' });
    const hostEnd = HOST_RAM_BASE + world.hostRam.size;
    expect(world.host.translate(hostEnd - 16, 17)).toMatchObject({ ok: false, fault: 'crosses-end' });
  });

  it('adjacent RAM regions do not merge: a range spanning both is crosses-end', () => {
    const t = new AddressSpace('t', [ramRegion('a', 0x1000, 0x1000), ramRegion('b', 0x2000, 0x1000)]);
    expect(t.translate(0x1ffc, 8)).toMatchObject({ ok: false, fault: 'crosses-end' });
    expect(t.translate(0x2000, 8)).toMatchObject({ ok: true, offset: 0 });
  });

  it('MMIO translates unless memoryOnly is asked', () => {
    expectHit(s.translate(DMA_REGS_BASE + 0x58, 4), world.regsRegion, 0x58);
    expect(s.translate(DMA_REGS_BASE + 0x58, 4, true)).toEqual({ ok: false, fault: 'not-memory', addr: DMA_REGS_BASE + 0x58, length: 4 });
    expect(s.translate(EP_RAM_BASE, 4, true)).toMatchObject({ ok: true });
    expect(world.regsRegion.kind).toBe('mmio');
    expect(world.regsRegion.registers).toBe(world.regs);
  });

  it('expect() returns memory hits and names the range in EINVAL otherwise', () => {
    expect(s.expect(EP_RAM_BASE + 8, 8, 'buf').offset).toBe(8);
    expect(() => s.expect(EP_RAM_BASE - 8, 8, 'buf')).toThrow(/buf: ep-local range 0x7ffffff8\+0x8 is not mapped/);
    expect(() => s.expect(EP_RAM_BASE + world.epRam.size - 4, 8, 'buf')).toThrow(/runs past the end/);
    expect(() => s.expect(DMA_REGS_BASE, 4, 'buf')).toThrow(/is not memory/);
    expect(() => s.expect(0, 4, 'x')).toThrow(expect.objectContaining({ code: 'EINVAL' }));
  });

  it('the last-hit cache never returns a stale region', () => {
    // alternate between regions so the cached index is always the wrong one
    for (let i = 0; i < 4; i++) {
      expectHit(s.translate(LL_BASE + 4 * i, 4), world.llMem);
      expectHit(s.translate(EP_RAM_BASE + 4 * i, 4), world.epRam);
      expect(s.translate(EP_RAM_BASE - 4, 4)).toMatchObject({ ok: false });
      expectHit(s.translate(DMA_REGS_BASE, 4), world.regsRegion);
    }
  });
});

describe('describe() / fromDescription()', () => {
  it('round-trips the map and shares the same memory and registers', () => {
    const world = createWorld('hdma-native');
    const d = world.local.describe();
    // what a worker receives: structured clone keeps SharedArrayBuffers shared
    const copy = AddressSpace.fromDescription(structuredClone(d));
    expect(copy.name).toBe('ep-local');
    expect(copy.regions.map((r) => [r.name, r.base, r.size, r.kind, r.bufferOffset])).toEqual(
      world.local.regions.map((r) => [r.name, r.base, r.size, r.kind, r.bufferOffset]),
    );
    // RAM: a write through the copy is visible in the original, and the arena is still one buffer
    const hit = copy.translate(EP_RAM_BASE + 0x100, 4, true);
    if (!hit.ok) throw new Error('EP RAM did not translate');
    hit.region.bytes[hit.offset] = 0x5a;
    expect(world.epRam.bytes[0x100]).toBe(0x5a);
    const ll = copy.translate(LL_BASE, 4, true);
    if (!ll.ok) throw new Error('LL did not translate');
    expect(ll.region.buffer).toBe(hit.region.buffer);
    world.llMem.bytes[3] = 0x77;
    expect(ll.region.bytes[3]).toBe(0x77);
    // MMIO: the rebuilt register file has the same format and the same side effects
    const regs = copy.translate(DMA_REGS_BASE, 4);
    if (!regs.ok || regs.region.registers === undefined) throw new Error('register block did not translate');
    expect(regs.region.registers.format).toBe('hdma-native');
    world.regs.hwStore(0x84, 0x5);
    regs.region.registers.write32(0x8c, 0x1); // W1C through the copy
    expect(world.regs.read32(0x84)).toBe(0x4);
    regs.region.registers.write32(0x04, 1);
    expect(world.regs.takeDoorbell('write', 0)).toBe(true);
  });

  it('host side round trip', () => {
    const world = createWorld('unroll');
    const copy = AddressSpace.fromDescription(world.host.describe());
    expect(copy.translate(HOST_RAM_BASE + world.hostRam.size - 4, 4)).toMatchObject({ ok: true });
    const hit = copy.translate(HOST_RAM_BASE + 0x20, 1);
    if (!hit.ok) throw new Error('host RAM did not translate');
    world.hostRam.bytes[0x20] = 0x42;
    expect(hit.region.bytes[hit.offset]).toBe(0x42);
  });
});
