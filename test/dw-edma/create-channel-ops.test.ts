/**
 * createChannelOps fills each channel's ops table once from its map format: eDMA v0 for unroll
 * and HDMA-compat, HDMA for HDMA native. Each table drives a real ChannelEngine on the same
 * register file through multi-chunk descriptors (the routing it programs decides which
 * interrupts the engine raises), and no driver code outside the factory looks at the layout.
 */
import { describe, expect, it } from 'vitest';
import type { ChannelKind } from '../../dist/device/regs/channel-registers.js';
import type { MapFormat } from '../../dist/device/regs/map-format.js';
import { STATUS_ABORT, STATUS_DONE, STATUS_NONE, type ChannelOps } from '../../dist/dw-edma/channel-ops.js';
import { createChannelOps } from '../../dist/dw-edma/create-channel-ops.js';
import { EdmaV0ChannelOps } from '../../dist/dw-edma/edma-v0-ops.js';
import { HdmaChannelOps } from '../../dist/dw-edma/hdma-ops.js';
import {
  applyBursts,
  createEngine,
  createWorld,
  fillDmatest,
  firstDifference,
  HOST_RAM_BASE,
  llSlot,
  runEngine,
  sides,
  snapshot,
  type Burst,
  type DeviceWorld,
} from '../support/device-fixtures.js';
import { codeOnly, sourceFiles } from '../support/source-files.js';

const SELECTED: readonly (readonly [MapFormat, typeof EdmaV0ChannelOps | typeof HdmaChannelOps])[] = [
  ['unroll', EdmaV0ChannelOps],
  ['hdma-compat', EdmaV0ChannelOps],
  ['hdma-native', HdmaChannelOps],
];
/** Three data elements per chunk (0x60 / 24 - 1), so seven bursts make chunks of 3, 3 and 1. */
const LL_BYTES = 0x60;
const CH = 4;
const IRQ_OFF = 0xf_f000;
const IRQ_DATA = 0xabcd;

function channel(world: DeviceWorld, kind: ChannelKind, remote: boolean): { ops: ChannelOps; engine: ReturnType<typeof createEngine> } {
  const slot = llSlot(kind, CH);
  const m = world.llMem;
  const ll = { buffer: m.buffer, bufferOffset: m.bufferOffset + (slot.base - m.base), size: LL_BYTES, paddr: slot.base };
  const engine = createEngine(world, kind, CH, { llRegion: { base: slot.base, size: LL_BYTES } });
  return { ops: createChannelOps(world.regs, engine.regs, ll, { remote, funcNo: 0 }), engine };
}

/** What the channel core does per chunk: elements, link, start, then the interrupt status. */
function runChunk(ops: ChannelOps, engine: ReturnType<typeof createEngine>, bursts: readonly Burst[], k: number): number {
  const cb = k % 2 === 0;
  bursts.forEach((b, i) => ops.writeElement(i, cb, i === bursts.length - 1, b.size, b.sar, b.dar));
  ops.writeLink(bursts.length, cb);
  ops.start(k === 0);
  runEngine(engine);
  return ops.status();
}

describe('createChannelOps', () => {
  for (const [format, Expected] of SELECTED) {
    for (const kind of ['write', 'read'] as const) {
      it(`${format} ${kind}: selects ${Expected.name}`, () => {
        const { ops } = channel(createWorld(format), kind, false);
        expect(Object.getPrototypeOf(ops)).toBe(Expected.prototype);
      });

      for (const remote of [false, true]) {
        it(`${format} ${kind} ${remote ? 'remote' : 'local'}: drives the engine through a 3-chunk descriptor, DONE per chunk, interrupts as routed`, () => {
          const world = createWorld(format);
          fillDmatest(world, 7 + CH, kind);
          const { ops, engine } = channel(world, kind, remote);
          // Program the DONE interrupt write so a remote-routed channel's RIE lands in host RAM.
          const r = engine.regs;
          world.regs.write32(r.family === 'v0' ? r.doneImwrLo : r.msiStopLo, (HOST_RAM_BASE + IRQ_OFF) % 2 ** 32);
          world.regs.write32(r.family === 'v0' ? r.doneImwrHi : r.msiStopHi, Math.floor((HOST_RAM_BASE + IRQ_OFF) / 2 ** 32));
          if (r.family === 'v0') world.regs.write32(r.imwrData, IRQ_DATA << r.imwrDataShift);
          else world.regs.write32(r.msiMsgdata, IRQ_DATA);
          const { src, dst } = sides(world, kind);
          const bursts: Burst[] = [];
          for (let i = 0; i < 7; i++) bursts.push({ sar: src.base + 0x100 + i * 0x300, dar: dst.base + 0x80 + i * 0x280, size: 0x100 + i * 0x21 });
          const expected = applyBursts(world, snapshot(world), kind, bursts);
          if (remote) new DataView(expected.host.buffer).setUint32(IRQ_OFF, IRQ_DATA, true);
          const chunks = [bursts.slice(0, 3), bursts.slice(3, 6), bursts.slice(6)];
          expect(ops.llMax).toBe(3);
          chunks.forEach((chunk, k) => {
            const irqs = world.regs.irqSeq(kind, CH);
            expect(runChunk(ops, engine, chunk, k)).toBe(STATUS_DONE);
            expect(world.regs.irqSeq(kind, CH)).toBe(irqs + 1);
            ops.clear(STATUS_DONE);
            expect(ops.status()).toBe(STATUS_NONE);
          });
          expect(firstDifference(world.hostRam.bytes, expected.host)).toBe(-1);
          expect(firstDifference(world.epRam.bytes, expected.ep)).toBe(-1);
          expect(engine.counters).toMatchObject({ chunks: 3, elements: 7, aborts: 0, localInterrupts: remote ? 0 : 3, remoteInterrupts: remote ? 3 : 0 });
        });
      }

      it(`${format} ${kind}: a faulting chunk reads back as ABORT and clears`, () => {
        const world = createWorld(format);
        const { ops, engine } = channel(world, kind, false);
        const { dst } = sides(world, kind);
        expect(runChunk(ops, engine, [{ sar: 0x3_0000_0000, dar: dst.base, size: 16 }], 0)).toBe(STATUS_ABORT);
        ops.clear(STATUS_ABORT);
        expect(ops.status()).toBe(STATUS_NONE);
        expect(engine.counters.aborts).toBe(1);
      });
    }
  }
});

describe('the driver side looks at the layout only in the factory', () => {
  const LAYOUT = /\bfamily\b|registerFamily|'unroll'|'hdma-compat'|'hdma-native'/;

  it('no file under src/dw-edma or src/workers branches on the register family or the map format except create-channel-ops.ts', () => {
    const hits = [...sourceFiles('src/dw-edma'), ...sourceFiles('src/workers')].filter((f) => LAYOUT.test(codeOnly(f.text))).map((f) => f.path);
    expect(hits).toEqual(['src/dw-edma/create-channel-ops.ts']);
  });

  it('the channel core knows the ops only by their interface', () => {
    const core = sourceFiles('src/dw-edma').find((f) => f.path.endsWith('/channel-core.ts'))!;
    const imports = [...core.text.matchAll(/from '([^']+)'/g)].map((m) => m[1]);
    expect(imports).toContain('./channel-ops.js');
    for (const layoutSpecific of ['./edma-v0-ops.js', './hdma-ops.js', './ll-channel-ops.js', './create-channel-ops.js']) expect(imports).not.toContain(layoutSpecific);
    expect(imports.filter((p) => p!.includes('/device/regs/'))).toEqual([]);
  });
});
