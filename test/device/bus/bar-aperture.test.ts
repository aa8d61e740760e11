/** BarAperture: inbound windows (subrange mapping), contiguity, link-down loss, MMIO through a BAR. */
import { describe, expect, it } from 'vitest';
import { BarAperture } from '../../../dist/device/bus/bar-aperture.js';
import type { BusFault, BusHit } from '../../../dist/device/bus/address-space.js';
import type { MemoryRegion } from '../../../dist/device/bus/memory-region.js';
import { channelRegisters } from '../../../dist/device/regs/channel-registers.js';
import { EpdmaError } from '../../../dist/device/errors.js';
import { createWorld, DMA_REGS_BASE, EP_RAM_BASE, LL_BASE, type DeviceWorld } from '../../support/device-fixtures.js';

function expectHit(t: BusHit | BusFault, region: MemoryRegion, offset: number): void {
  expect(t.ok, JSON.stringify(t.ok ? { offset: t.offset } : t)).toBe(true);
  if (!t.ok) return;
  expect(t.region === region, `region ${t.region.name}, expected ${region.name}`).toBe(true);
  expect(t.offset).toBe(offset);
}

/** pci-epf-dma's DMA window BAR: register block, LL slots, and a data window, tiling 64 KiB. */
function subrangeBar(world: DeviceWorld): BarAperture {
  const bar = new BarAperture(2, 0x10000, world.local);
  bar.program(
    [
      // deliberately out of order: program() sorts
      { barOffset: 0x8000, size: 0x4000, localAddr: LL_BASE + 0x2000 },
      { barOffset: 0x0000, size: 0x2000, localAddr: DMA_REGS_BASE },
      { barOffset: 0x2000, size: 0x6000, localAddr: EP_RAM_BASE + 0x10000 },
      { barOffset: 0xc000, size: 0x4000, localAddr: EP_RAM_BASE },
    ],
    { contiguous: true },
  );
  return bar;
}

describe('BarAperture construction', () => {
  it('validates index and size', () => {
    const { local } = createWorld('unroll');
    for (const i of [-1, 6, 1.5]) expect(() => new BarAperture(i, 0x1000, local)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    for (const size of [0, 8, 0x1800, 0x1001]) expect(() => new BarAperture(0, size, local)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    const bar = new BarAperture(5, 16, local);
    expect(bar.programmed).toBe(false);
    expect(bar.busAddr).toBeUndefined();
  });
});

describe('subrange windows in one BAR', () => {
  it('each BAR offset lands in the right EP region at the right offset', () => {
    const world = createWorld('unroll');
    const bar = subrangeBar(world);
    expect(bar.programmed).toBe(true);
    expect(bar.windows.map((w) => w.barOffset)).toEqual([0, 0x2000, 0x8000, 0xc000]);
    expectHit(bar.translate(0x0, 4), world.regsRegion, 0);
    expectHit(bar.translate(0x1ffc, 4), world.regsRegion, 0x1ffc);
    expectHit(bar.translate(0x2000, 4), world.epRam, 0x10000);
    expectHit(bar.translate(0x7ff0, 0x10), world.epRam, 0x15ff0);
    expectHit(bar.translate(0x8000, 24), world.llMem, 0x2000);
    expectHit(bar.translate(0xbff8, 8), world.llMem, 0x5ff8);
    expectHit(bar.translate(0xc000, 0x4000), world.epRam, 0);
    expect(bar.toLocal(0x8010, 4)).toBe(LL_BASE + 0x2010);
    expect(bar.toLocal(0xc004, 4)).toBe(EP_RAM_BASE + 4);
  });

  it('a range spanning two windows or leaving the BAR is unmapped', () => {
    const world = createWorld('unroll');
    const bar = subrangeBar(world);
    expect(bar.translate(0x1ffc, 8)).toMatchObject({ ok: false, fault: 'unmapped' });
    expect(bar.translate(0x7ffc, 8)).toMatchObject({ ok: false, fault: 'unmapped' });
    expect(bar.translate(0xfffc, 8)).toMatchObject({ ok: false, fault: 'unmapped' });
    expect(bar.translate(0x10000, 4)).toMatchObject({ ok: false, fault: 'unmapped' });
    expect(bar.translate(-4, 4)).toMatchObject({ ok: false, fault: 'unmapped' });
    expect(bar.toLocal(0x1ffc, 8)).toBeUndefined();
  });

  it('read32/write32 reach RAM, little-endian, shared with the EP view', () => {
    const world = createWorld('unroll');
    const bar = subrangeBar(world);
    bar.write32(0xc010, 0x1122_3344);
    expect(Array.from(world.epRam.bytes.subarray(0x10, 0x14))).toEqual([0x44, 0x33, 0x22, 0x11]);
    world.llMem.bytes.set([0xef, 0xbe, 0xad, 0xde], 0x2008);
    expect(bar.read32(0x8008)).toBe(0xdead_beef);
    const hit = bar.iomap(0x2000, 0x100);
    expect(hit.region === world.epRam).toBe(true);
    expect(hit.offset).toBe(0x10000);
    expect(() => bar.iomap(0x1f00, 0x200)).toThrow(expect.objectContaining({ code: 'EIO' }));
  });

  it('write32 through a BAR to the register block applies side effects', () => {
    for (const format of ['unroll', 'hdma-compat', 'hdma-native'] as const) {
      const world = createWorld(format);
      const bar = new BarAperture(0, 0x2000, world.local);
      bar.program([{ barOffset: 0, size: world.regsRegion.size, localAddr: DMA_REGS_BASE }]);
      const r = channelRegisters(format, 'read', 1);
      world.regs.hwStore(r.intStatus, r.doneBit | r.abortBit);
      bar.write32(r.intClear, r.doneBit); // W1C
      expect(bar.read32(r.intStatus), format).toBe(r.abortBit);
      bar.write32(r.intStatus, 0); // read-only status
      expect(world.regs.read32(r.intStatus)).toBe(r.abortBit);
      bar.write32(r.doorbell, 1); // v0: channel 1; HDMA: START
      expect(world.regs.doorbellPending('read', 1)).toBe(true);
      bar.write32(r.llpLo, 0x7000_9000);
      expect(world.regs.read32(r.llpLo)).toBe(0x7000_9000);
    }
  });
});

describe('programming rules', () => {
  it('contiguous: gaps, a short tiling and overlaps are rejected', () => {
    const world = createWorld('unroll');
    const bar = new BarAperture(2, 0x4000, world.local);
    const ep = EP_RAM_BASE;
    const cases = [
      // gap at the start
      [{ barOffset: 0x1000, size: 0x3000, localAddr: ep }],
      // gap in the middle
      [{ barOffset: 0, size: 0x1000, localAddr: ep }, { barOffset: 0x2000, size: 0x2000, localAddr: ep + 0x2000 }],
      // short of the BAR end
      [{ barOffset: 0, size: 0x1000, localAddr: ep }, { barOffset: 0x1000, size: 0x1000, localAddr: ep + 0x4000 }],
    ];
    for (const windows of cases) {
      expect(() => bar.program(windows, { contiguous: true })).toThrow(expect.objectContaining({ code: 'EINVAL' }));
      expect(bar.programmed).toBe(false);
    }
    expect(() => bar.program(cases[1]!, { contiguous: true })).toThrow(/gap before window at 0x2000/);
    // without the rule, gaps are fine (a plain set_bar with a smaller backing)
    bar.program(cases[1]!);
    expect(bar.windows.length).toBe(2);
    expect(bar.translate(0x1000, 4)).toMatchObject({ ok: false, fault: 'unmapped' });
  });

  it('rejects overlapping windows, windows outside the BAR and unmapped targets', () => {
    const world = createWorld('unroll');
    const bar = new BarAperture(1, 0x4000, world.local);
    const ep = EP_RAM_BASE;
    const bad = [
      [{ barOffset: 0, size: 0x2000, localAddr: ep }, { barOffset: 0x1000, size: 0x3000, localAddr: ep }],
      [{ barOffset: 0x3000, size: 0x2000, localAddr: ep }],
      [{ barOffset: -0x1000, size: 0x2000, localAddr: ep }],
      [{ barOffset: 0, size: 0, localAddr: ep }],
      [{ barOffset: 0, size: 0x4000, localAddr: ep - 0x1000 }],
      [{ barOffset: 0, size: 0x4000, localAddr: ep + world.epRam.size - 0x1000 }],
      [{ barOffset: 0, size: 0x4000, localAddr: DMA_REGS_BASE }], // register block is only 0x2000
    ];
    for (const windows of bad) expect(() => bar.program(windows), JSON.stringify(windows)).toThrow(EpdmaError);
    expect(bar.programmed).toBe(false);
  });

  it('a failed program() keeps the previous windows', () => {
    const world = createWorld('unroll');
    const bar = new BarAperture(1, 0x1000, world.local);
    bar.program([{ barOffset: 0, size: 0x1000, localAddr: EP_RAM_BASE }]);
    expect(() => bar.program([{ barOffset: 0, size: 0x1000, localAddr: 0x10 }])).toThrow(EpdmaError);
    expect(bar.toLocal(0, 4)).toBe(EP_RAM_BASE);
  });
});

describe('unprogram (link down)', () => {
  it('makes every access fault with EIO', () => {
    const world = createWorld('hdma-compat');
    const bar = subrangeBar(world);
    bar.write32(0xc000, 1);
    bar.unprogram();
    expect(bar.programmed).toBe(false);
    expect(bar.translate(0xc000, 4)).toMatchObject({ ok: false, fault: 'unmapped' });
    for (const off of [0, 0x2000, 0x8000, 0xc000]) {
      expect(() => bar.read32(off)).toThrow(expect.objectContaining({ code: 'EIO' }));
      expect(() => bar.write32(off, 2)).toThrow(expect.objectContaining({ code: 'EIO' }));
    }
    expect(() => bar.read32(0)).toThrow(/BAR2\+0x0: no inbound window/);
    expect(world.epRam.bytes[0]).toBe(1); // the write after link down did not land
  });

  it('an unprogrammed BAR faults from the start', () => {
    const world = createWorld('unroll');
    const bar = new BarAperture(0, 0x1000, world.local);
    expect(() => bar.read32(0)).toThrow(expect.objectContaining({ code: 'EIO' }));
  });
});
