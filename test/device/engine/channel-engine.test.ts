/**
 * ChannelEngine driven the way dw-edma drives it: a single chunk, several chunks with
 * alternating CB, full ll_max chunks, consecutive descriptors, for every map format and both
 * directions.
 */
import { describe, expect, it } from 'vitest';
import { ChannelEngine } from '../../../dist/device/engine/channel-engine.js';
import { EngineFault } from '../../../dist/device/engine/engine-fault.js';
import { EDMA_V0_CONTROL1 } from '../../../dist/device/regs/edma-v0-regs.js';
import { HDMA_V0_BITS } from '../../../dist/device/regs/hdma-v0-regs.js';
import { llMax, LL_CONTROL, writeLinkElement } from '../../../dist/device/ll/ll-codec.js';
import { MmioRegisterFile } from '../../../dist/device/regs/register-file.js';
import type { ChannelKind } from '../../../dist/device/regs/channel-registers.js';
import {
  applyBursts,
  CHANNEL_STATUS,
  createEngine,
  createWorld,
  ENGINE_FORMATS,
  fillDmatest,
  firstDifference,
  KernelLikeDriver,
  LL_BASE,
  LL_SLOT_BYTES,
  llSlot,
  runEngine,
  sides,
  snapshot,
  type Burst,
  type DeviceWorld,
  type MemorySnapshot,
} from '../../support/device-fixtures.js';

const KINDS: readonly ChannelKind[] = ['read', 'write'];

function expectMemory(world: DeviceWorld, expected: MemorySnapshot): void {
  expect(firstDifference(world.hostRam.bytes, expected.host), 'first differing host byte').toBe(-1);
  expect(firstDifference(world.epRam.bytes, expected.ep), 'first differing EP byte').toBe(-1);
  expect(firstDifference(world.llMem.bytes, expected.ll), 'first differing LL byte').toBe(-1);
}

function llp(world: DeviceWorld, d: KernelLikeDriver): number {
  return world.regs.read32(d.regs.llpHi) * 0x1_0000_0000 + world.regs.read32(d.regs.llpLo);
}

/** The cycle state the engine wrote back: v0 CCS in ch_control1, HDMA cycle_sync bit 0. */
function cycleState(world: DeviceWorld, d: KernelLikeDriver): number {
  if (d.regs.family === 'v0') return (world.regs.read32(d.regs.control1) & EDMA_V0_CONTROL1.CCS) !== 0 ? 1 : 0;
  return world.regs.read32(d.regs.cycleSync) & HDMA_V0_BITS.CONSUMER_CYCLE_BIT;
}

/** Bursts laid out one after another with small gaps, starting at the given offsets. */
function linearBursts(world: DeviceWorld, kind: ChannelKind, sizes: readonly number[], srcOff: number, dstOff: number): Burst[] {
  const { src, dst } = sides(world, kind);
  let s = srcOff;
  let d = dstOff;
  return sizes.map((size) => {
    const b = { sar: src.base + s, dar: dst.base + d, size };
    s += size + 3;
    d += size + 5;
    return b;
  });
}

for (const format of ENGINE_FORMATS) {
  describe(`${format}`, () => {
    for (const kind of KINDS) {
      it(`${kind}: a single chunk copies exactly and raises DONE with CS = stopped`, () => {
        const world = createWorld(format);
        fillDmatest(world, 11);
        const ch = 2;
        const engine = createEngine(world, kind, ch);
        const driver = new KernelLikeDriver(world, kind, ch);
        const bursts = linearBursts(world, kind, [1001, 1, 4096, 7], 0x123, 0x4567);
        driver.writeChunk(bursts, true);
        const before = snapshot(world);
        expect(engine.wantsStep).toBe(false);
        driver.start(true);
        expect(engine.wantsStep).toBe(true);
        expect(engine.busy).toBe(false);

        expect(runEngine(engine)).toBe(1);
        expectMemory(world, applyBursts(world, before, kind, bursts));
        expect(driver.done()).toBe(true);
        expect(driver.aborted()).toBe(false);
        expect(driver.status()).toBe(CHANNEL_STATUS.STOPPED);
        expect(world.regs.irqSeq(kind, ch)).toBe(1);
        expect(engine.counters).toEqual({ chunks: 1, elements: 4, bytes: 1001 + 1 + 4096 + 7, aborts: 0, localInterrupts: 1, remoteInterrupts: 0 });
        expect(world.regs.lastFault(kind, ch).code).toBe(EngineFault.NONE);
        // the link element jumped back to the region start and toggled the cycle state
        expect(llp(world, driver)).toBe(driver.ll.base);
        expect(cycleState(world, driver)).toBe(0);
        expect(engine.busy).toBe(false);
        expect(engine.wantsStep).toBe(false);
        expect(engine.step()).toBe(false);
        expect(world.regs.irqSeq(kind, ch)).toBe(1);
        // no other channel's status moved
        const otherStatus = world.regs.read32(new KernelLikeDriver(world, kind === 'read' ? 'write' : 'read', ch).regs.intStatus);
        expect(otherStatus).toBe(0);
      });

      it(`${kind}: several chunks of different lengths with alternating CB, DONE once per chunk`, () => {
        const world = createWorld(format);
        fillDmatest(world, 12);
        const ch = 5;
        const engine = createEngine(world, kind, ch);
        const driver = new KernelLikeDriver(world, kind, ch);
        // long, longer, short, shorter: stale elements of earlier chunks stay in the region
        const chunkSizes = [[100, 200, 300], [5, 6, 7, 8, 9, 10, 11], [4096], [33, 1]];
        let srcOff = 0;
        let dstOff = 0x40;
        const chunks = chunkSizes.map((sizes) => {
          const b = linearBursts(world, kind, sizes, srcOff, dstOff);
          srcOff += 0x3000;
          dstOff += 0x3000;
          return b;
        });
        const before = snapshot(world);
        const seen = driver.runDescriptor(engine, chunks);
        expect(seen.map((o) => [o.done, o.aborted, o.status, o.irqs])).toEqual(chunks.map(() => [true, false, CHANNEL_STATUS.STOPPED, 1]));
        const expected = applyBursts(world, before, kind, chunks.flat());
        expect(firstDifference(world.hostRam.bytes, expected.host)).toBe(-1);
        expect(firstDifference(world.epRam.bytes, expected.ep)).toBe(-1);
        const all = chunks.flat();
        expect(engine.counters).toEqual({
          chunks: 4, elements: all.length, bytes: all.reduce((n, b) => n + b.size, 0), aborts: 0, localInterrupts: 4, remoteInterrupts: 0,
        });
        expect(driver.intStatus()).toBe(0);
      });

      it(`${kind}: a full ll_max chunk (link element at the region end) then a short one`, () => {
        const world = createWorld(format);
        fillDmatest(world, 13);
        const ch = 7;
        const engine = createEngine(world, kind, ch);
        const driver = new KernelLikeDriver(world, kind, ch);
        const max = llMax(LL_SLOT_BYTES);
        expect(max).toBe(169);
        const full = linearBursts(world, kind, Array.from({ length: max }, (_, i) => 1 + ((i * 37) % 300)), 0x10, 0x20);
        const short = linearBursts(world, kind, [3, 64], 0x80000, 0x80000);
        const before = snapshot(world);
        const seen = driver.runDescriptor(engine, [full, short]);
        expect(seen.map((o) => o.done && !o.aborted)).toEqual([true, true]);
        const expected = applyBursts(world, before, kind, [...full, ...short]);
        expect(firstDifference(world.hostRam.bytes, expected.host)).toBe(-1);
        expect(firstDifference(world.epRam.bytes, expected.ep)).toBe(-1);
        expect(engine.counters.elements).toBe(max + 2);
        expect(engine.counters.chunks).toBe(2);
      });
    }

    it('consecutive descriptors restart at CB = 1 with a fresh CCS and LLP', () => {
      const world = createWorld(format);
      fillDmatest(world, 14);
      const engine = createEngine(world, 'write', 0);
      const driver = new KernelLikeDriver(world, 'write', 0);
      const before = snapshot(world);
      const descA = [linearBursts(world, 'write', [10, 20, 30, 40, 50], 0, 0)];
      const descB = [linearBursts(world, 'write', [7], 0x1000, 0x1000), linearBursts(world, 'write', [9, 9], 0x2000, 0x2000)];
      const descC = [linearBursts(world, 'write', [1, 2], 0x3000, 0x3000)];
      for (const desc of [descA, descB, descC]) {
        const seen = driver.runDescriptor(engine, desc);
        expect(seen.every((o) => o.done && !o.aborted && o.irqs === 1)).toBe(true);
      }
      const expected = applyBursts(world, before, 'write', [...descA, ...descB, ...descC].flat());
      expect(firstDifference(world.hostRam.bytes, expected.host)).toBe(-1);
      expect(engine.counters).toMatchObject({ chunks: 4, elements: 10, aborts: 0, localInterrupts: 4 });
    });

    it('channels of both directions run independently on their own LL slots', () => {
      const world = createWorld(format);
      fillDmatest(world, 15);
      const pairs = [['read', 0], ['read', 7], ['write', 0], ['write', 7]] as const;
      const engines = pairs.map(([k, c]) => createEngine(world, k, c));
      const drivers = pairs.map(([k, c]) => new KernelLikeDriver(world, k, c));
      const bursts = pairs.map(([k, c], i) => linearBursts(world, k, [100 + i, 3], 0x1000 * i, 0x10000 * (i + 1) + 0x1000 * c));
      drivers.forEach((d, i) => d.submitChunk(bursts[i]!, 0));
      const before = snapshot(world);
      engines.forEach((e) => runEngine(e));
      let expected = before;
      pairs.forEach(([k], i) => {
        expected = applyBursts(world, expected, k, bursts[i]!);
      });
      expectMemory(world, expected);
      drivers.forEach((d) => {
        expect(d.done()).toBe(true);
        expect(d.status()).toBe(CHANNEL_STATUS.STOPPED);
      });
    });

    it('a chunk written with CB = 0 as a first chunk: v0 (CCS = 1) stops at once, HDMA resyncs to it', () => {
      const world = createWorld(format);
      fillDmatest(world, 17);
      const engine = createEngine(world, 'read', 1);
      const driver = new KernelLikeDriver(world, 'read', 1);
      const bursts = linearBursts(world, 'read', [64], 0, 0);
      driver.writeChunk(bursts, false);
      const before = snapshot(world);
      driver.start(true);
      expect(runEngine(engine)).toBe(1);
      expect(driver.aborted()).toBe(false);
      expect(driver.status()).toBe(CHANNEL_STATUS.STOPPED);
      expect(llp(world, driver)).toBe(driver.ll.base);
      if (format === 'hdma-native') {
        // cycle_sync = CCS_STAT | CB: the engine takes its cycle state from the element at LLP
        expect(driver.done()).toBe(true);
        expectMemory(world, applyBursts(world, before, 'read', bursts));
        expect(engine.counters).toMatchObject({ elements: 1, bytes: 64, localInterrupts: 1 });
      } else {
        expect(driver.done()).toBe(false);
        expectMemory(world, before);
        expect(engine.counters).toMatchObject({ elements: 0, bytes: 0, aborts: 0, localInterrupts: 0 });
        expect(world.regs.irqSeq('read', 1)).toBe(0);
      }
    });

    it('a zero-length element completes without moving a byte', () => {
      const world = createWorld(format);
      fillDmatest(world, 16);
      const engine = createEngine(world, 'read', 3);
      const driver = new KernelLikeDriver(world, 'read', 3);
      const before = snapshot(world);
      driver.writeChunk([{ sar: world.hostRam.base, dar: world.epRam.base, size: 0 }], true);
      driver.start(true);
      runEngine(engine);
      expect(driver.done()).toBe(true);
      expect(firstDifference(world.epRam.bytes, before.ep)).toBe(-1);
      expect(engine.counters).toMatchObject({ elements: 1, bytes: 0 });
    });

    it('reset() forgets a running transfer but keeps the registers', () => {
      const world = createWorld(format);
      const engine = createEngine(world, 'write', 1, { linkBytesPerSec: 1e6 });
      const driver = new KernelLikeDriver(world, 'write', 1);
      driver.submitChunk([{ sar: world.epRam.base, dar: world.hostRam.base, size: 0x10000 }], 0);
      expect(engine.step()).toBe(true);
      expect(engine.busy).toBe(true);
      engine.reset();
      expect(engine.busy).toBe(false);
      expect(engine.wantsStep).toBe(false);
      expect(engine.step()).toBe(false);
      expect(driver.status()).toBe(CHANNEL_STATUS.RUNNING); // the register still says what it said
      expect(driver.done()).toBe(false);
    });
  });
}

/** Records the channel state at the moment the engine publishes DONE. */
class DoneSpy extends MmioRegisterFile {
  seen: { cs: number; llpLo: number; intStatus: number }[] = [];
  watch: { intStatus: number; doneBit: number; control1: number; chStat: number; llpLo: number; family: string } | undefined;
  override hwOr(offset: number, bits: number): void {
    const w = this.watch;
    if (w !== undefined && offset === w.intStatus && (bits & w.doneBit) !== 0) {
      const cs = w.family === 'v0' ? (this.hwLoad(w.control1) >>> 5) & 3 : this.hwLoad(w.chStat) & 3;
      this.seen.push({ cs, llpLo: this.hwLoad(w.llpLo), intStatus: this.hwLoad(w.intStatus) });
    }
    super.hwOr(offset, bits);
  }
}

describe('ordering and liveness', () => {
  for (const format of ENGINE_FORMATS) {
    it(`${format}: DONE is published after CS = stopped and the LLP write-back`, () => {
      const world = createWorld(format);
      const spy = new DoneSpy(world.regs.buffer, format);
      const engine = new ChannelEngine({ registers: spy, kind: 'write', ch: 1, local: world.local, remote: world.host, llRegion: llSlot('write', 1) });
      const driver = new KernelLikeDriver(world, 'write', 1);
      spy.watch = { ...driver.regs, family: driver.regs.family };
      const b = { sar: world.epRam.base, dar: world.hostRam.base, size: 32 };
      driver.runDescriptor(engine, [[b, b], [b]]);
      expect(spy.seen).toEqual([
        { cs: CHANNEL_STATUS.STOPPED, llpLo: driver.ll.base, intStatus: 0 },
        { cs: CHANNEL_STATUS.STOPPED, llpLo: driver.ll.base, intStatus: 0 },
      ]);
    });

    it(`${format}: a list that cycles through data elements forever still lets step() return`, () => {
      const world = createWorld(format);
      const engine = createEngine(world, 'read', 0);
      const driver = new KernelLikeDriver(world, 'read', 0);
      const b = { sar: world.hostRam.base, dar: world.epRam.base, size: 8 };
      driver.writeChunk([b, b], true);
      // link back to the start without TCB: the cycle state never changes, the walk never stops
      writeLinkElement(driver.words, 12, LL_CONTROL.LLP | LL_CONTROL.CB, driver.ll.base);
      driver.start(true);
      for (let i = 1; i <= 3; i++) {
        expect(engine.step()).toBe(true);
        expect(engine.counters.elements).toBe(i * (Math.floor(LL_SLOT_BYTES / 24) + 1));
        expect(driver.status()).toBe(CHANNEL_STATUS.RUNNING);
      }
      if (driver.regs.family === 'v0') {
        world.regs.write32(driver.regs.doorbell, 0x8000_0000); // stop channel 0
        expect(engine.step()).toBe(false);
        expect(driver.status()).toBe(CHANNEL_STATUS.HALTED);
        expect(world.regs.lastFault('read', 0).code).toBe(EngineFault.STOPPED);
      } else {
        engine.reset(); // HDMA has no stop doorbell: only the host side can give up on it
        expect(engine.busy).toBe(false);
      }
    });
  }
});

describe('ChannelEngine construction', () => {
  it('rejects an LL region that is not aligned EP memory', () => {
    const world = createWorld('unroll');
    const make = (base: number, size: number) => () =>
      new ChannelEngine({ registers: world.regs, kind: 'read', ch: 0, local: world.local, remote: world.host, llRegion: { base, size } });
    // An aligned slot is taken, and a chunk run through it moves its bytes.
    const aligned = make(LL_BASE, LL_SLOT_BYTES)();
    const driver = new KernelLikeDriver(world, 'read', 0, { llRegion: { base: LL_BASE, size: LL_SLOT_BYTES } });
    world.hostRam.bytes.fill(0xa5, 0, 256);
    const [obs] = driver.runDescriptor(aligned, [[{ sar: world.hostRam.base, dar: world.epRam.base, size: 256 }]]);
    expect(obs).toMatchObject({ done: true, aborted: false });
    expect(world.epRam.bytes.subarray(0, 256).every((b) => b === 0xa5)).toBe(true);
    expect(aligned.counters).toMatchObject({ chunks: 1, bytes: 256 });
    for (const [base, size] of [[LL_BASE + 2, 0x100], [LL_BASE - 0x1000, 0x2000], [0x6000_0000, 0x100], [0x1234_0000, 0x100]]) {
      expect(make(base!, size!), `${base}+${size}`).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    }
  });

  it('rejects a channel number outside 0..7', () => {
    const world = createWorld('hdma-native');
    expect(() => createEngine(world, 'write', 8, { llRegion: { base: LL_BASE, size: 0x1000 } })).toThrow(expect.objectContaining({ code: 'EINVAL' }));
  });
});
