/**
 * Property tests: random descriptors driven chunk by chunk like dw-edma, checked dmatest-style.
 * Random burst sizes (1 byte, sizes not a multiple of 4), random source/destination offsets,
 * several chunks with alternating CB and differing element counts (a kernel-shaped variant has
 * full chunks and a short last one), both directions, every map format, local and remote
 * instances, host RAM in its own buffer or in the EP arena (the engine's two copy paths). Every destination window is copied exactly, the guard bytes around it and all
 * other memory are untouched, the source is untouched, DONE comes once per chunk.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
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
  sides,
  snapshot,
  type Burst,
} from '../../support/device-fixtures.js';

const GUARD = 16;
const RAM_BYTES = 0x40000;
const NUM_RUNS = 100;

interface BurstShape {
  readonly size: number;
  readonly srcGap: number;
  readonly dstGap: number;
}

const burstShape: fc.Arbitrary<BurstShape> = fc.record({
  size: fc.oneof(fc.constant(1), fc.integer({ min: 1, max: 17 }), fc.integer({ min: 1, max: 3000 })),
  srcGap: fc.integer({ min: 0, max: 300 }),
  dstGap: fc.integer({ min: 0, max: 300 }),
});

/** Free shape: every chunk has its own length. */
const freeChunks = fc.array(fc.array(burstShape, { minLength: 1, maxLength: 8 }), { minLength: 1, maxLength: 5 });

/** Kernel shape: chunks of ll_max-like length n, the last one shorter. */
const kernelChunks = fc
  .record({ n: fc.integer({ min: 2, max: 8 }), full: fc.integer({ min: 1, max: 4 }), last: fc.integer({ min: 1, max: 7 }) })
  .chain(({ n, full, last }) =>
    fc.tuple(
      fc.array(fc.array(burstShape, { minLength: n, maxLength: n }), { minLength: full, maxLength: full }),
      fc.array(burstShape, { minLength: Math.min(last, n - 1), maxLength: Math.min(last, n - 1) }),
    ).map(([fulls, tail]) => [...fulls, tail]),
  );

const scenario = fc.record({
  chunks: fc.oneof(freeChunks, kernelChunks),
  srcStart: fc.integer({ min: 0, max: 4096 }),
  dstStart: fc.integer({ min: GUARD, max: 4096 }),
  ch: fc.integer({ min: 0, max: 7 }),
  remote: fc.boolean(),
  sharedArena: fc.boolean(),
  seed: fc.integer(),
});

for (const format of ENGINE_FORMATS) {
  for (const kind of ['read', 'write'] as ChannelKind[]) {
    describe(`${format} ${kind} channel`, () => {
      it('random chains of bursts copy exactly, guards and source untouched, DONE once per chunk', () => {
        fc.assert(
          fc.property(scenario, ({ chunks: shapes, srcStart, dstStart, ch, remote, sharedArena, seed }) => {
            const world = createWorld(format, { epRamBytes: RAM_BYTES, hostRamBytes: RAM_BYTES, sharedArena });
            expect(world.hostRam.buffer === world.epRam.buffer).toBe(sharedArena);
            fillDmatest(world, seed, kind);
            const { src, dst } = sides(world, kind);
            // Lay the windows out: sources anywhere (read only), destinations disjoint with guards.
            let s = srcStart;
            let d = dstStart;
            const windows: { start: number; end: number }[] = [];
            const chunks: Burst[][] = shapes.map((bs) =>
              bs.map((b) => {
                s += b.srcGap;
                d += b.dstGap;
                const burst = { sar: src.base + s, dar: dst.base + d, size: b.size };
                windows.push({ start: d, end: d + b.size });
                s += b.size;
                d += b.size + 2 * GUARD;
                return burst;
              }),
            );
            expect(s).toBeLessThanOrEqual(RAM_BYTES);
            expect(d).toBeLessThanOrEqual(RAM_BYTES);

            const engine = createEngine(world, kind, ch);
            const driver = new KernelLikeDriver(world, kind, ch, { remote });
            const before = snapshot(world);
            const seen = driver.runDescriptor(engine, chunks);

            // DONE once per chunk, never ABORT, CS = stopped each time
            expect(seen.length).toBe(chunks.length);
            for (const o of seen) {
              expect(o).toMatchObject({ done: true, aborted: false, status: CHANNEL_STATUS.STOPPED, irqs: 1, steps: 1 });
            }
            // every destination byte is either copied or unchanged: whole-memory comparison
            const all = chunks.flat();
            const expected = applyBursts(world, before, kind, all);
            const dstExpected = kind === 'read' ? expected.ep : expected.host;
            const srcBefore = kind === 'read' ? before.host : before.ep;
            expect(firstDifference(dst.bytes, dstExpected), 'first wrong destination byte').toBe(-1);
            expect(firstDifference(src.bytes, srcBefore), 'first changed source byte').toBe(-1);
            // dmatest: guard bytes around every window still hold the old (bit 7 clear) pattern
            const dstBefore = kind === 'read' ? before.ep : before.host;
            for (const w of windows) {
              for (let i = w.start - GUARD; i < w.end + GUARD; i++) {
                if (i === w.start) i = w.end;
                if (dst.bytes[i] !== dstBefore[i]) throw new Error(`guard byte dst[${i}] overwritten (window ${w.start}..${w.end})`);
              }
              for (let i = w.start; i < w.end; i++) {
                if ((dst.bytes[i]! & 0x80) === 0) throw new Error(`dst[${i}] not copied (window ${w.start}..${w.end})`);
              }
            }
            expect(engine.counters).toEqual({
              chunks: chunks.length,
              elements: all.length,
              bytes: all.reduce((n, b) => n + b.size, 0),
              aborts: 0,
              localInterrupts: remote ? 0 : chunks.length,
              remoteInterrupts: 0,
            });
            expect(driver.intStatus()).toBe(0);
            expect(engine.busy).toBe(false);
          }),
          { numRuns: NUM_RUNS },
        );
      });
    });
  }
}
