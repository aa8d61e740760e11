/**
 * Every fault kind aborts the channel: ABORT status, the documented err_status bits, CS =
 * halted, the fault log, and memory exactly as if the elements before the faulting one ran
 * and nothing after (a full snapshot comparison of host RAM, EP RAM and LL memory).
 */
import { describe, expect, it } from 'vitest';
import { EngineFault, engineFaultText } from '../../../dist/device/engine/engine-fault.js';
import type { ChannelEngine } from '../../../dist/device/engine/channel-engine.js';
import type { ChannelKind } from '../../../dist/device/regs/channel-registers.js';
import { LL_CONTROL, writeDataElement, writeLinkElement } from '../../../dist/device/ll/ll-codec.js';
import {
  applyBursts,
  CHANNEL_STATUS,
  createEngine,
  createWorld,
  DMA_REGS_BASE,
  ENGINE_FORMATS,
  EP_RAM_BASE,
  fillDmatest,
  firstDifference,
  KernelLikeDriver,
  runEngine,
  sides,
  snapshot,
  type Burst,
  type DeviceWorld,
  type MemorySnapshot,
} from '../../support/device-fixtures.js';

const KINDS: readonly ChannelKind[] = ['read', 'write'];
const CH = 3;

interface Rig {
  world: DeviceWorld;
  engine: ChannelEngine;
  driver: KernelLikeDriver;
  src: DeviceWorld['hostRam'];
  dst: DeviceWorld['hostRam'];
}

function rig(format: (typeof ENGINE_FORMATS)[number], kind: ChannelKind, linkBytesPerSec?: number): Rig {
  const world = createWorld(format);
  fillDmatest(world, 0xfa17, kind);
  const engine = createEngine(world, kind, CH, linkBytesPerSec !== undefined ? { linkBytesPerSec } : {});
  const driver = new KernelLikeDriver(world, kind, CH);
  return { world, engine, driver, ...sides(world, kind) };
}

function expectMemory(world: DeviceWorld, expected: MemorySnapshot): void {
  expect(firstDifference(world.hostRam.bytes, expected.host), 'first differing host byte').toBe(-1);
  expect(firstDifference(world.epRam.bytes, expected.ep), 'first differing EP byte').toBe(-1);
  expect(firstDifference(world.llMem.bytes, expected.ll), 'first differing LL byte').toBe(-1);
}

/** Error status words of the channel's direction (v0), or [] on HDMA, which has none. */
function errWords(world: DeviceWorld, d: KernelLikeDriver): number[] {
  const r = d.regs;
  if (r.family !== 'v0') return [];
  return r.kind === 'write' ? [world.regs.read32(r.errStatus)] : [world.regs.read32(r.errStatus), world.regs.read32(r.errStatusHi)];
}

/** Expected err_status words, as EDMA_V0_ERR documents them. */
function expectedErr(kind: ChannelKind, code: number): number[] {
  const app = 1 << CH;
  const ll = 1 << (16 + CH);
  const ur = 1 << CH;
  let lo = 0;
  let hi = 0;
  if (code === EngineFault.LL_OUTSIDE_REGION || code === EngineFault.LL_LOOP) lo = ll;
  else if (code === EngineFault.SOURCE_UNMAPPED && kind === 'read') hi = ur; // PCIe read of nothing: UR
  else if (code === EngineFault.SOURCE_UNMAPPED || code === EngineFault.DESTINATION_UNMAPPED) lo = app;
  return kind === 'write' ? [lo] : [lo, hi];
}

function expectAborted(r: Rig, code: number, addr: number, before: MemorySnapshot, completed: readonly Burst[]): void {
  const { world, driver, engine } = r;
  const regs = world.regs;
  expect(driver.aborted(), 'ABORT status bit').toBe(true);
  expect(driver.done(), 'DONE status bit').toBe(false);
  if (driver.regs.family === 'v0') {
    expect(regs.read32(driver.regs.intStatus)).toBe(1 << (16 + CH)); // ABORT [23:16] only
  } else {
    expect(regs.read32(driver.regs.intStatus)).toBe(0x4); // int_stat ABORT bit 2 only
  }
  expect(driver.status(), 'CS').toBe(CHANNEL_STATUS.HALTED);
  expect(regs.lastFault(driver.kind, CH)).toEqual({ code, addr });
  expect(engineFaultText(code)).not.toMatch(/unknown/);
  expect(errWords(world, driver)).toEqual(driver.regs.family === 'v0' ? expectedErr(driver.kind, code) : []);
  expect(engine.counters.aborts).toBe(1);
  expect(engine.counters.localInterrupts).toBe(1); // local driver: abort unmasked
  expect(regs.irqSeq(driver.kind, CH)).toBe(1);
  expect(engine.busy).toBe(false);
  expect(engine.wantsStep).toBe(false);
  expect(engine.step()).toBe(false);
  expectMemory(world, applyBursts(world, before, driver.kind, completed));
}

function llpRegister(r: Rig): number {
  const f = r.world.regs;
  return f.read32(r.driver.regs.llpHi) * 0x1_0000_0000 + f.read32(r.driver.regs.llpLo);
}

for (const format of ENGINE_FORMATS) {
  describe(`${format}`, () => {
    for (const kind of KINDS) {
      describe(`${kind} channel`, () => {
        /** A chunk whose second element is `bad`: the first completes, the second and third never run. */
        function faultingChunk(r: Rig, bad: Burst, code: number, addr: number): void {
          const good1 = { sar: r.src.base + 0x100, dar: r.dst.base + 0x200, size: 333 };
          const good3 = { sar: r.src.base + 0x1000, dar: r.dst.base + 0x3000, size: 64 };
          r.driver.writeChunk([good1, bad, good3], true);
          const before = snapshot(r.world);
          r.driver.start(true);
          expect(runEngine(r.engine)).toBe(1);
          expectAborted(r, code, addr, before, [good1]);
          expect(r.engine.counters).toMatchObject({ elements: 1, bytes: 333, chunks: 0 });
          expect(llpRegister(r), 'LLP names the faulting element').toBe(r.driver.ll.base + 24);
          expect(r.world.regs.read32(r.driver.regs.transferSize)).toBe(bad.size);
        }

        const farSrc = kind === 'read' ? 0x2_0000_0000 : 0x9000_0000;
        const farDst = kind === 'read' ? 0x9000_0000 : 0x2_0000_0000;

        it('source unmapped', () => {
          const r = rig(format, kind);
          faultingChunk(r, { sar: farSrc, dar: r.dst.base + 0x800, size: 50 }, EngineFault.SOURCE_UNMAPPED, farSrc);
        });

        it('destination unmapped', () => {
          const r = rig(format, kind);
          faultingChunk(r, { sar: r.src.base + 0x800, dar: farDst, size: 50 }, EngineFault.DESTINATION_UNMAPPED, farDst);
        });

        it('source range crossing its region end (logged at the range end)', () => {
          const r = rig(format, kind);
          const sar = r.src.base + r.src.size - 10;
          faultingChunk(r, { sar, dar: r.dst.base + 0x800, size: 20 }, EngineFault.SOURCE_UNMAPPED, sar + 20);
        });

        it('destination range crossing its region end (logged at the range end)', () => {
          const r = rig(format, kind);
          const dar = r.dst.base + r.dst.size - 7;
          faultingChunk(r, { sar: r.src.base + 0x800, dar, size: 8 }, EngineFault.DESTINATION_UNMAPPED, dar + 8);
        });

        it('a source or destination in the register block (MMIO) is not memory', () => {
          const r = rig(format, kind);
          const regsBefore = new Uint8Array(r.world.regs.buffer.slice(0)); // copy of the registers
          if (kind === 'read') {
            faultingChunk(r, { sar: r.src.base, dar: DMA_REGS_BASE + 0x100, size: 16 }, EngineFault.DESTINATION_UNMAPPED, DMA_REGS_BASE + 0x100);
          } else {
            faultingChunk(r, { sar: DMA_REGS_BASE, dar: r.dst.base, size: 16 }, EngineFault.SOURCE_UNMAPPED, DMA_REGS_BASE);
          }
          // the registers the element pointed at were not written by the copy
          const now = new Uint8Array(r.world.regs.buffer);
          for (let i = 0x100; i < 0x110; i++) expect(now[i]).toBe(regsBefore[i]);
        });

        it('LLP outside the LL region (another channel\'s slot, EP RAM)', () => {
          for (const target of [CH + 1, -1]) {
            const r = rig(format, kind);
            r.driver.writeChunk([{ sar: r.src.base, dar: r.dst.base, size: 100 }], true);
            const before = snapshot(r.world);
            r.driver.start(true);
            const bad = target >= 0 ? r.driver.ll.base + r.driver.ll.size : EP_RAM_BASE + 0x40;
            r.world.regs.write32(r.driver.regs.llpLo, bad % 0x1_0000_0000);
            r.world.regs.write32(r.driver.regs.llpHi, Math.floor(bad / 0x1_0000_0000));
            runEngine(r.engine);
            expectAborted(r, EngineFault.LL_OUTSIDE_REGION, bad, before, []);
          }
        });

        it('a link element pointing outside the region: the chunk\'s elements ran, DONE is not raised', () => {
          const r = rig(format, kind);
          const bursts = [{ sar: r.src.base, dar: r.dst.base + 8, size: 100 }, { sar: r.src.base + 500, dar: r.dst.base + 900, size: 5 }];
          r.driver.writeChunk(bursts, true);
          writeLinkElement(r.driver.words, 12, LL_CONTROL.LLP | LL_CONTROL.TCB, EP_RAM_BASE); // replaces the link at 48
          const before = snapshot(r.world);
          r.driver.start(true);
          runEngine(r.engine);
          expectAborted(r, EngineFault.LL_OUTSIDE_REGION, EP_RAM_BASE, before, bursts);
          expect(r.engine.counters).toMatchObject({ elements: 2, bytes: 105 });
        });

        it('a data element crossing the region end', () => {
          const r = rig(format, kind);
          const { base, size } = r.driver.ll;
          const first = { sar: r.src.base + 4, dar: r.dst.base + 4, size: 17 };
          // element 0 runs, then a link (no TCB) to a data element 12 bytes before the region end
          writeDataElement(r.driver.words, 0, LL_CONTROL.CB, first.size, first.sar, first.dar);
          writeLinkElement(r.driver.words, 6, LL_CONTROL.LLP | LL_CONTROL.CB, base + size - 12);
          r.driver.words[(size - 12) / 4] = LL_CONTROL.CB | LL_CONTROL.LIE;
          r.driver.words[(size - 8) / 4] = 4;
          const before = snapshot(r.world);
          r.driver.start(true);
          runEngine(r.engine);
          expectAborted(r, EngineFault.LL_OUTSIDE_REGION, base + size - 12, before, [first]);
          expect(r.engine.counters.elements).toBe(1);
        });

        it('a link element crossing the region end', () => {
          const r = rig(format, kind);
          const { base, size } = r.driver.ll;
          writeLinkElement(r.driver.words, 0, LL_CONTROL.LLP | LL_CONTROL.CB, base + size - 8);
          r.driver.words[(size - 8) / 4] = LL_CONTROL.LLP | LL_CONTROL.TCB;
          const before = snapshot(r.world);
          r.driver.start(true);
          runEngine(r.engine);
          expectAborted(r, EngineFault.LL_OUTSIDE_REGION, base + size - 8, before, []);
        });

        it('a link loop without data elements', () => {
          for (const twoHop of [false, true]) {
            const r = rig(format, kind);
            const { base } = r.driver.ll;
            if (twoHop) {
              writeLinkElement(r.driver.words, 0, LL_CONTROL.LLP | LL_CONTROL.TCB | LL_CONTROL.CB, base + 16);
              writeLinkElement(r.driver.words, 4, LL_CONTROL.LLP | LL_CONTROL.TCB, base);
            } else {
              writeLinkElement(r.driver.words, 0, LL_CONTROL.LLP | LL_CONTROL.TCB | LL_CONTROL.CB, base);
            }
            const before = snapshot(r.world);
            r.driver.start(true);
            expect(runEngine(r.engine, 10)).toBe(1);
            const f = r.world.regs.lastFault(kind, CH);
            expect(f.code).toBe(EngineFault.LL_LOOP);
            expect([base, base + 16]).toContain(f.addr);
            expectAborted(r, EngineFault.LL_LOOP, f.addr, before, []);
          }
        });

        if (format === 'hdma-native') {
          it('HDMA ch_en 0', () => {
            const r = rig(format, kind);
            r.driver.writeChunk([{ sar: r.src.base, dar: r.dst.base, size: 100 }], true);
            const before = snapshot(r.world);
            r.driver.start(true);
            r.world.regs.write32(r.driver.regs.enable, 0);
            runEngine(r.engine);
            expectAborted(r, EngineFault.CHANNEL_DISABLED, r.driver.ll.base, before, []);
            expect(r.engine.counters).toMatchObject({ elements: 0, bytes: 0 });
          });

          it('HDMA has no stop doorbell: BIT(31) without START is ignored', () => {
            const r = rig(format, kind, 1e6);
            const burst = { sar: r.src.base, dar: r.dst.base, size: 0x8000 };
            r.driver.writeChunk([burst], true);
            const before = snapshot(r.world);
            r.driver.start(true);
            expect(r.engine.step()).toBe(true);
            r.world.regs.write32(r.driver.regs.doorbell, 0x8000_0000);
            runEngine(r.engine, 5_000, 1);
            expect(r.driver.done()).toBe(true);
            expect(r.driver.aborted()).toBe(false);
            expectMemory(r.world, applyBursts(r.world, before, kind, [burst]));
          });
        } else {
          it('engine disabled (engine_en 0)', () => {
            const r = rig(format, kind);
            r.driver.writeChunk([{ sar: r.src.base, dar: r.dst.base, size: 100 }], true);
            const before = snapshot(r.world);
            r.driver.start(true);
            r.world.regs.write32(r.driver.regs.enable, 0);
            runEngine(r.engine);
            expectAborted(r, EngineFault.CHANNEL_DISABLED, r.driver.ll.base, before, []);
          });

          it(`pwr_en 0 ${format === 'hdma-compat' ? 'disables the channel' : 'is ignored (unroll has no power gating)'}`, () => {
            const r = rig(format, kind);
            const burst = { sar: r.src.base, dar: r.dst.base, size: 100 };
            r.driver.writeChunk([burst], true);
            const before = snapshot(r.world);
            r.driver.start(true);
            r.world.regs.write32(r.driver.regs.pwrEn, 0);
            runEngine(r.engine);
            if (format === 'hdma-compat') {
              expectAborted(r, EngineFault.CHANNEL_DISABLED, r.driver.ll.base, before, []);
            } else {
              expect(r.driver.done()).toBe(true);
              expectMemory(r.world, applyBursts(r.world, before, kind, [burst]));
            }
          });

          it('stop via doorbell BIT(31) while running', () => {
            const r = rig(format, kind, 1e6); // 2 ms burst = 2000 bytes per grant at most
            const small = { sar: r.src.base + 0x10, dar: r.dst.base + 0x20, size: 100 };
            const big = { sar: r.src.base + 0x1000, dar: r.dst.base + 0x2000, size: 0x10000 };
            const tail = { sar: r.src.base + 0x20000, dar: r.dst.base + 0x30000, size: 10 };
            r.driver.writeChunk([small, big, tail], true);
            const before = snapshot(r.world);
            r.driver.start(true);
            expect(r.engine.step()).toBe(true);
            expect(r.driver.status()).toBe(CHANNEL_STATUS.RUNNING);
            expect(r.engine.counters.elements).toBe(1);
            const moved = r.engine.counters.bytes - small.size;
            expect(moved).toBeGreaterThanOrEqual(0);
            expect(moved).toBeLessThan(big.size);
            // another channel's stop does not touch this one
            r.world.regs.write32(r.driver.regs.doorbell, 0x8000_0000 | (CH + 1));
            r.world.regs.write32(r.driver.regs.doorbell, 0x8000_0000 | CH);
            expect(r.engine.step()).toBe(false);
            expect(r.engine.counters.bytes - small.size).toBe(moved); // nothing moved after the stop
            // the stopped element moved exactly its first `moved` bytes; nothing else changed
            expectAborted(r, EngineFault.STOPPED, r.driver.ll.base + 24, before, [small, { ...big, size: moved }]);
          });

          it('a stop latched while idle is dropped', () => {
            const r = rig(format, kind);
            const burst = { sar: r.src.base, dar: r.dst.base, size: 10 };
            r.world.regs.write32(r.driver.regs.doorbell, 0x8000_0000 | CH);
            expect(r.engine.step()).toBe(false);
            r.driver.writeChunk([burst], true);
            r.driver.start(true);
            runEngine(r.engine);
            expect(r.driver.done()).toBe(true);
            expect(r.engine.counters.aborts).toBe(0);
          });
        }

        it('after an abort the driver can start a new descriptor', () => {
          const r = rig(format, kind);
          r.driver.writeChunk([{ sar: farSrc, dar: r.dst.base, size: 4 }], true);
          r.driver.start(true);
          runEngine(r.engine);
          expect(r.driver.aborted()).toBe(true);
          r.driver.clearInterrupts();
          const before = snapshot(r.world);
          const bursts = [{ sar: r.src.base + 1, dar: r.dst.base + 3, size: 77 }];
          const seen = r.driver.runDescriptor(r.engine, [bursts, bursts]);
          expect(seen.map((o) => o.done && !o.aborted)).toEqual([true, true]);
          expect(firstDifference(r.dst.bytes, kind === 'read' ? applyBursts(r.world, before, kind, bursts).ep : applyBursts(r.world, before, kind, bursts).host)).toBe(-1);
        });
      });
    }
  });
}

describe('engineFaultText', () => {
  it('names every fault and survives unknown codes', () => {
    for (const code of [1, 2, 3, 4, 5, 6]) expect(engineFaultText(code).length).toBeGreaterThan(5);
    expect(engineFaultText(99)).toBe('unknown fault 99');
    expect(EngineFault).toEqual({
      NONE: 0, SOURCE_UNMAPPED: 1, DESTINATION_UNMAPPED: 2, LL_OUTSIDE_REGION: 3, CHANNEL_DISABLED: 4, STOPPED: 5, LL_LOOP: 6,
    });
  });
});
