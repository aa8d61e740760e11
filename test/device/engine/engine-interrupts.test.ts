/**
 * Interrupt routing: local interrupt masking (v0 int_mask, HDMA int_setup) and the engine's
 * IMWr/MSI write to host memory for RIE (v0 done/abort_imwr + chXY_imwr_data halves; HDMA
 * msi_stop/msi_abort/msi_msgdata gated by REMOTE_*_INT_EN).
 */
import { describe, expect, it } from 'vitest';
import type { ChannelKind } from '../../../dist/device/regs/channel-registers.js';
import { HDMA_V0_BITS } from '../../../dist/device/regs/hdma-v0-regs.js';
import {
  applyBursts,
  CHANNEL_STATUS,
  createEngine,
  createWorld,
  fillDmatest,
  firstDifference,
  HOST_RAM_BASE,
  KernelLikeDriver,
  runEngine,
  sides,
  snapshot,
  type DeviceWorld,
} from '../../support/device-fixtures.js';

const KINDS: readonly ChannelKind[] = ['read', 'write'];
const MSI_OFF = 0xf_f000; // near the end of host RAM, away from payload
const MSI_ADDR = HOST_RAM_BASE + MSI_OFF;

function hostWord(world: DeviceWorld, off: number): number {
  return new DataView(world.hostRam.buffer, world.hostRam.bufferOffset).getUint32(off, true);
}

function oneChunk(world: DeviceWorld, kind: ChannelKind, driver: KernelLikeDriver, size = 64): void {
  const { src, dst } = sides(world, kind);
  driver.writeChunk([{ sar: src.base + 0x40, dar: dst.base + 0x80, size }], true);
  driver.start(true);
}

function oneFaultingChunk(world: DeviceWorld, kind: ChannelKind, driver: KernelLikeDriver): void {
  const { dst } = sides(world, kind);
  driver.writeChunk([{ sar: 0x3_0000_0000, dar: dst.base, size: 4 }], true);
  driver.start(true);
}

describe('eDMA v0 local interrupt mask', () => {
  for (const format of ['unroll', 'hdma-compat'] as const) {
    for (const kind of KINDS) {
      it(`${format} ${kind}: int_mask set -> DONE status still set, no local interrupt`, () => {
        const world = createWorld(format);
        const ch = 6;
        const engine = createEngine(world, kind, ch);
        const driver = new KernelLikeDriver(world, kind, ch, { remote: true }); // remote-routed: masks DONE/ABORT
        oneChunk(world, kind, driver);
        expect(world.regs.read32(driver.regs.intMask)).toBe((1 << ch) | (1 << (16 + ch)));
        runEngine(engine);
        expect(driver.done()).toBe(true);
        expect(driver.status()).toBe(CHANNEL_STATUS.STOPPED);
        expect(engine.counters.localInterrupts).toBe(0);
        expect(engine.counters.remoteInterrupts).toBe(0); // no IMWr address programmed
        expect(world.regs.irqSeq(kind, ch)).toBe(1); // the model still signals its waiters
      });

      it(`${format} ${kind}: masking another channel does not mask this one`, () => {
        const world = createWorld(format);
        const engine = createEngine(world, kind, 1);
        const driver = new KernelLikeDriver(world, kind, 1);
        world.regs.write32(driver.regs.intMask, 0x00fd_00fd); // everything but ch1
        oneChunk(world, kind, driver);
        expect(world.regs.read32(driver.regs.intMask)).toBe(0x00fd_00fd);
        runEngine(engine);
        expect(engine.counters.localInterrupts).toBe(1);
      });

      it(`${format} ${kind}: masked ABORT still sets the status bit`, () => {
        const world = createWorld(format);
        const engine = createEngine(world, kind, 0);
        const driver = new KernelLikeDriver(world, kind, 0, { remote: true });
        oneFaultingChunk(world, kind, driver);
        runEngine(engine);
        expect(driver.aborted()).toBe(true);
        expect(engine.counters.localInterrupts).toBe(0);
      });
    }
  }
});

describe('eDMA v0 IMWr (RIE)', () => {
  for (const format of ['unroll', 'hdma-compat'] as const) {
    for (const kind of KINDS) {
      it(`${format} ${kind}: done IMWr writes the channel's half of chXY_imwr_data to host memory`, () => {
        for (const ch of [2, 3]) {
          const world = createWorld(format);
          const engine = createEngine(world, kind, ch);
          const driver = new KernelLikeDriver(world, kind, ch, { remote: true });
          const r = driver.regs;
          world.regs.write32(r.doneImwrLo, MSI_ADDR % 0x1_0000_0000);
          world.regs.write32(r.doneImwrHi, Math.floor(MSI_ADDR / 0x1_0000_0000));
          world.regs.write32(r.imwrData, 0xbeef_1234); // ch2 (even) = 0x1234, ch3 (odd) = 0xbeef
          new DataView(world.hostRam.buffer).setUint32(MSI_OFF, 0xffff_ffff, true);
          oneChunk(world, kind, driver);
          runEngine(engine);
          expect(driver.done()).toBe(true);
          expect(hostWord(world, MSI_OFF), `ch${ch}`).toBe(ch === 2 ? 0x1234 : 0xbeef);
          expect(engine.counters.remoteInterrupts).toBe(1);
          expect(engine.counters.localInterrupts).toBe(0);
          // offsets as in reference 6.1
          expect(r.doneImwrLo).toBe(kind === 'write' ? 0x60 : 0xcc);
          expect(r.imwrData).toBe(kind === 'write' ? 0x74 : 0xe0);
        }
      });

      it(`${format} ${kind}: one IMWr per chunk`, () => {
        const world = createWorld(format);
        const engine = createEngine(world, kind, 4);
        const driver = new KernelLikeDriver(world, kind, 4, { remote: true });
        world.regs.write32(driver.regs.doneImwrLo, MSI_ADDR % 0x1_0000_0000);
        world.regs.write32(driver.regs.doneImwrHi, 1);
        world.regs.write32(driver.regs.imwrData, 0x0000_0042);
        const { src, dst } = sides(world, kind);
        const chunk = [{ sar: src.base, dar: dst.base, size: 8 }, { sar: src.base + 8, dar: dst.base + 8, size: 8 }];
        const seen = driver.runDescriptor(engine, [chunk, chunk, chunk]);
        expect(seen.every((o) => o.done)).toBe(true);
        expect(engine.counters.remoteInterrupts).toBe(3);
        expect(hostWord(world, MSI_OFF)).toBe(0x42);
      });

      it(`${format} ${kind}: without RIE (local instance) no IMWr is sent`, () => {
        const world = createWorld(format);
        const engine = createEngine(world, kind, 0);
        const driver = new KernelLikeDriver(world, kind, 0);
        world.regs.write32(driver.regs.doneImwrLo, MSI_ADDR % 0x1_0000_0000);
        world.regs.write32(driver.regs.doneImwrHi, 1);
        world.regs.write32(driver.regs.imwrData, 0x5555);
        oneChunk(world, kind, driver);
        runEngine(engine);
        expect(hostWord(world, MSI_OFF)).toBe(0);
        expect(engine.counters.remoteInterrupts).toBe(0);
        expect(engine.counters.localInterrupts).toBe(1);
      });

      it(`${format} ${kind}: an IMWr address of 0 or outside host memory is dropped`, () => {
        for (const addr of [0, 0x7_0000_0000, HOST_RAM_BASE + 0x10_0000 - 2]) {
          const world = createWorld(format);
          const engine = createEngine(world, kind, 0);
          const driver = new KernelLikeDriver(world, kind, 0, { remote: true });
          world.regs.write32(driver.regs.doneImwrLo, addr % 0x1_0000_0000);
          world.regs.write32(driver.regs.doneImwrHi, Math.floor(addr / 0x1_0000_0000));
          world.regs.write32(driver.regs.imwrData, 0x7777);
          fillDmatest(world, 0x1e, kind);
          const before = snapshot(world);
          oneChunk(world, kind, driver);
          runEngine(engine);
          expect(driver.done()).toBe(true);
          expect(engine.counters.remoteInterrupts).toBe(0);
          // Memory is exactly what the copy alone makes of it: the IMWr wrote nowhere.
          const { src, dst } = sides(world, kind);
          const expected = applyBursts(world, before, kind, [{ sar: src.base + 0x40, dar: dst.base + 0x80, size: 64 }]);
          expect(firstDifference(world.hostRam.bytes, expected.host)).toBe(-1);
          expect(firstDifference(world.epRam.bytes, expected.ep)).toBe(-1);
        }
      });

      it(`${format} ${kind}: abort IMWr goes to abort_imwr`, () => {
        const world = createWorld(format);
        const engine = createEngine(world, kind, 1);
        const driver = new KernelLikeDriver(world, kind, 1, { remote: true });
        const r = driver.regs;
        world.regs.write32(r.doneImwrLo, (MSI_ADDR + 4) % 0x1_0000_0000);
        world.regs.write32(r.doneImwrHi, 1);
        world.regs.write32(r.abortImwrLo, MSI_ADDR % 0x1_0000_0000);
        world.regs.write32(r.abortImwrHi, 1);
        world.regs.write32(r.imwrData, 0xabcd_0000); // ch1 = odd half
        oneFaultingChunk(world, kind, driver);
        runEngine(engine);
        expect(driver.aborted()).toBe(true);
        expect(hostWord(world, MSI_OFF)).toBe(0xabcd);
        expect(hostWord(world, MSI_OFF + 4)).toBe(0);
        expect(engine.counters.remoteInterrupts).toBe(1);
      });
    }
  }
});

describe('HDMA native interrupts', () => {
  for (const kind of KINDS) {
    it(`${kind}: local STOP interrupt needs LOCAL_STOP_INT_EN and no STOP_INT_MASK`, () => {
      const cases: [number, number][] = [
        [HDMA_V0_BITS.LOCAL_STOP_INT_EN, 1],
        [HDMA_V0_BITS.LOCAL_STOP_INT_EN | HDMA_V0_BITS.STOP_INT_MASK, 0],
        [0, 0],
      ];
      for (const [setup, expected] of cases) {
        const world = createWorld('hdma-native');
        const engine = createEngine(world, kind, 5);
        const driver = new KernelLikeDriver(world, kind, 5);
        oneChunk(world, kind, driver);
        world.regs.write32(driver.regs.intSetup, setup); // after start(): overrides the driver's setup
        runEngine(engine);
        expect(driver.done()).toBe(true); // STOP status regardless of the mask
        expect(world.regs.read32(driver.regs.intStatus)).toBe(HDMA_V0_BITS.STOP);
        expect(engine.counters.localInterrupts, `int_setup ${setup}`).toBe(expected);
      }
    });

    it(`${kind}: remote-routed: msi_msgdata lands at msi_stop with REMOTE_STOP_INT_EN, local output masked`, () => {
      const world = createWorld('hdma-native');
      const engine = createEngine(world, kind, 2);
      const driver = new KernelLikeDriver(world, kind, 2, { remote: true });
      const r = driver.regs;
      world.regs.write32(r.msiStopLo, MSI_ADDR % 0x1_0000_0000);
      world.regs.write32(r.msiStopHi, 1);
      world.regs.write32(r.msiMsgdata, 0xcafe_f00d);
      oneChunk(world, kind, driver);
      const setup = world.regs.read32(r.intSetup);
      expect(setup & HDMA_V0_BITS.REMOTE_STOP_INT_EN).not.toBe(0);
      expect(setup & HDMA_V0_BITS.LOCAL_STOP_INT_EN).toBe(0);
      runEngine(engine);
      expect(driver.done()).toBe(true);
      expect(hostWord(world, MSI_OFF)).toBe(0xcafe_f00d);
      expect(engine.counters.remoteInterrupts).toBe(1);
      expect(engine.counters.localInterrupts).toBe(0);
    });

    it(`${kind}: RIE without REMOTE_STOP_INT_EN sends nothing`, () => {
      const world = createWorld('hdma-native');
      const engine = createEngine(world, kind, 2);
      const driver = new KernelLikeDriver(world, kind, 2, { remote: true });
      const r = driver.regs;
      world.regs.write32(r.msiStopLo, MSI_ADDR % 0x1_0000_0000);
      world.regs.write32(r.msiStopHi, 1);
      world.regs.write32(r.msiMsgdata, 0x1111);
      oneChunk(world, kind, driver);
      world.regs.write32(r.intSetup, world.regs.read32(r.intSetup) & ~HDMA_V0_BITS.REMOTE_STOP_INT_EN);
      runEngine(engine);
      expect(hostWord(world, MSI_OFF)).toBe(0);
      expect(engine.counters.remoteInterrupts).toBe(0);
    });

    it(`${kind}: abort MSI goes to msi_abort with REMOTE_ABORT_INT_EN`, () => {
      const world = createWorld('hdma-native');
      const engine = createEngine(world, kind, 7);
      const driver = new KernelLikeDriver(world, kind, 7, { remote: true });
      const r = driver.regs;
      world.regs.write32(r.msiStopLo, (MSI_ADDR + 8) % 0x1_0000_0000);
      world.regs.write32(r.msiStopHi, 1);
      world.regs.write32(r.msiAbortLo, MSI_ADDR % 0x1_0000_0000);
      world.regs.write32(r.msiAbortHi, 1);
      world.regs.write32(r.msiMsgdata, 0x0bad);
      oneFaultingChunk(world, kind, driver);
      runEngine(engine);
      expect(driver.aborted()).toBe(true);
      expect(world.regs.read32(r.intStatus)).toBe(HDMA_V0_BITS.ABORT);
      expect(hostWord(world, MSI_OFF)).toBe(0x0bad);
      expect(hostWord(world, MSI_OFF + 8)).toBe(0);
      expect(engine.counters).toMatchObject({ remoteInterrupts: 1, localInterrupts: 0, aborts: 1 });
    });
  }
});
