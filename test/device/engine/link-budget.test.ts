/**
 * The link budget: with linkBytesPerSec set, a large element needs several step() calls and
 * still copies exactly. Assertions are on counts and bytes, never on timings: a grant never
 * exceeds the burst (2 ms worth of bytes) and a step makes at most one grant per element (it
 * returns after a partial move), so the number of steps has a floor.
 */
import { describe, expect, it } from 'vitest';
import { LinkBudget } from '../../../dist/device/engine/link-budget.js';
import {
  applyBursts,
  CHANNEL_STATUS,
  createEngine,
  createWorld,
  ENGINE_FORMATS,
  fillDmatest,
  firstDifference,
  KernelLikeDriver,
  sides,
  snapshot,
} from '../../support/device-fixtures.js';

const RATE = 4e6; // bytes/s: burst = 2 ms worth = 8000 bytes
const BURST = 8000;

describe('LinkBudget', () => {
  it('is unlimited by default', () => {
    const b = new LinkBudget();
    expect(b.unlimited).toBe(true);
    expect(b.grant(2 ** 40)).toBe(2 ** 40);
    expect(b.grant(0)).toBe(0);
  });

  it('never grants more than asked or more than the burst', () => {
    const b = new LinkBudget(RATE);
    expect(b.unlimited).toBe(false);
    expect(b.grant(10)).toBe(10);
    let total = 0;
    for (let i = 0; i < 100; i++) {
      const n = b.grant(1e9);
      expect(Number.isInteger(n)).toBe(true);
      expect(n).toBeGreaterThanOrEqual(0);
      expect(n).toBeLessThanOrEqual(BURST);
      total += n;
    }
    expect(total).toBeGreaterThan(0);
  });

  it('a 1-byte burst grants at most one byte at a time', () => {
    const b = new LinkBudget(1000, 1_000_000); // 1 ms of 1 kB/s is one byte: the burst
    for (let i = 0; i < 10; i++) expect(b.grant(100)).toBeLessThanOrEqual(1);
  });

  it('rejects a rate that is not positive', () => {
    for (const rate of [0, -1, Number.NaN]) expect(() => new LinkBudget(rate)).toThrow();
  });
});

describe('budgeted engine', () => {
  for (const format of ENGINE_FORMATS) {
    for (const kind of ['read', 'write'] as const) {
      it(`${format} ${kind}: a large element takes several steps and copies exactly`, () => {
        const world = createWorld(format);
        fillDmatest(world, 77, kind);
        const { src, dst } = sides(world, kind);
        const engine = createEngine(world, kind, 4, { linkBytesPerSec: RATE });
        const driver = new KernelLikeDriver(world, kind, 4);
        const bursts = [
          { sar: src.base + 3, dar: dst.base + 5, size: 0x10001 },
          { sar: src.base + 0x20000, dar: dst.base + 0x30000, size: 1 },
          { sar: src.base + 0x20010, dar: dst.base + 0x30010, size: 0x4000 },
        ];
        driver.writeChunk(bursts, true);
        const before = snapshot(world);
        driver.start(true);
        let steps = 0;
        let lastBytes = 0;
        let lastElements = 0;
        while (engine.step()) {
          steps++;
          // while running: CS = running, no DONE yet, at most one grant per element per step
          expect(driver.status()).toBe(CHANNEL_STATUS.RUNNING);
          expect(driver.done()).toBe(false);
          expect(engine.counters.bytes - lastBytes).toBeLessThanOrEqual(BURST * (engine.counters.elements - lastElements + 1));
          expect(engine.counters.elements).toBeGreaterThanOrEqual(lastElements);
          lastBytes = engine.counters.bytes;
          lastElements = engine.counters.elements;
          // the element in flight has moved a prefix, and nothing past it
          if (steps === 1) {
            expect(engine.counters.elements).toBe(0);
            expect(engine.counters.bytes).toBeLessThanOrEqual(BURST);
            const d = bursts[0]!.dar - dst.base;
            const s = bursts[0]!.sar - src.base;
            const moved = engine.counters.bytes;
            expect(firstDifference(dst.bytes.subarray(d, d + moved), src.bytes.subarray(s, s + moved))).toBe(-1);
            const beforeDst = kind === 'read' ? before.ep : before.host;
            expect(firstDifference(dst.bytes.subarray(d + moved, d + bursts[0]!.size), beforeDst.subarray(d + moved, d + bursts[0]!.size))).toBe(-1);
          }
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1); // let tokens accrue
          if (steps > 5_000) throw new Error('budgeted engine did not finish');
        }
        const total = bursts.reduce((n, b) => n + b.size, 0);
        expect(steps + 1).toBeGreaterThanOrEqual(Math.ceil(bursts[0]!.size / BURST));
        expect(driver.done()).toBe(true);
        expect(driver.status()).toBe(CHANNEL_STATUS.STOPPED);
        expect(engine.counters).toEqual({ chunks: 1, elements: 3, bytes: total, aborts: 0, localInterrupts: 1, remoteInterrupts: 0 });
        expect(world.regs.irqSeq(kind, 4)).toBe(1);
        const expected = applyBursts(world, before, kind, bursts);
        expect(firstDifference(world.hostRam.bytes, expected.host)).toBe(-1);
        expect(firstDifference(world.epRam.bytes, expected.ep)).toBe(-1);
      });
    }
  }
});
