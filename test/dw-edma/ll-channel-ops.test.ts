/**
 * The half of the channel ops both layouts share: LL elements as write_chunk writes them
 * (reference 6.3, 6.4), interrupt status read (ABORT wins) and write-one-to-clear, and the
 * register dump, through each layout's implementation.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeElement, LL_CONTROL, llMax } from '../../dist/device/ll/ll-codec.js';
import { channelRegisters, type ChannelKind } from '../../dist/device/regs/channel-registers.js';
import type { MapFormat } from '../../dist/device/regs/map-format.js';
import { MmioRegisterFile } from '../../dist/device/regs/register-file.js';
import { STATUS_ABORT, STATUS_DONE, STATUS_NONE } from '../../dist/dw-edma/channel-ops.js';
import { createChannelOps } from '../../dist/dw-edma/create-channel-ops.js';
import { ENGINE_FORMATS } from '../support/device-fixtures.js';

const LL_PADDR = 0x1_7000_0000;
const LL_BYTES = 0x200;

function setup(format: MapFormat, kind: ChannelKind, ch: number, remote: boolean) {
  const file = MmioRegisterFile.create(format, { writeChannels: 8, readChannels: 8 });
  const buffer = new SharedArrayBuffer(LL_BYTES + 64);
  // A region that does not start at the buffer's start, as an LL slot inside an arena.
  const ll = { buffer, bufferOffset: 32, size: LL_BYTES, paddr: LL_PADDR };
  const regs = channelRegisters(format, kind, ch);
  const ops = createChannelOps(file, regs, ll, { remote, funcNo: 0 });
  return { file, regs, ops, words: new Int32Array(buffer, 32, LL_BYTES / 4), guard: new Int32Array(buffer) };
}

for (const format of ENGINE_FORMATS) {
  describe(format, () => {
    it('ll_max is the region size in data elements minus the link slot', () => {
      expect(setup(format, 'write', 0, false).ops.llMax).toBe(llMax(LL_BYTES));
      expect(llMax(LL_BYTES)).toBe(20);
    });

    it('a chunk of any length: CB per chunk, LIE (and RIE when remote) on the last element only, link back with CB inverted', () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 1, max: 20 }),
          fc.boolean(),
          fc.boolean(),
          fc.array(fc.tuple(fc.nat({ max: 0xffff_ffff }), fc.maxSafeNat(), fc.maxSafeNat()), { minLength: 20, maxLength: 20 }),
          (count, cb, remote, bursts) => {
            const { ops, words, guard } = setup(format, 'read', 1, remote);
            for (let i = 0; i < count; i++) {
              const [size, sar, dar] = bursts[i]!;
              ops.writeElement(i, cb, i === count - 1, size, sar, dar);
            }
            ops.writeLink(count, cb);
            for (let i = 0; i < count; i++) {
              const e = decodeElement(words, i * 6);
              const [size, sar, dar] = bursts[i]!;
              const last = i === count - 1;
              const control = (cb ? LL_CONTROL.CB : 0) | (last ? LL_CONTROL.LIE : 0) | (last && remote ? LL_CONTROL.RIE : 0);
              expect(e).toEqual({ type: 'data', control, size, sar, dar, llp: 0 });
            }
            const link = decodeElement(words, count * 6);
            expect(link).toEqual({ type: 'link', control: LL_CONTROL.LLP | LL_CONTROL.TCB | (cb ? 0 : LL_CONTROL.CB), size: 0, sar: 0, dar: 0, llp: LL_PADDR });
            // Nothing outside the region and nothing past the link element was written.
            expect(guard.subarray(0, 8).every((w) => w === 0)).toBe(true);
            expect(words.subarray(count * 6 + 4).every((w) => w === 0)).toBe(true);
            expect(guard.subarray(8 + LL_BYTES / 4).every((w) => w === 0)).toBe(true);
          },
        ),
        { numRuns: 60 },
      );
    });

    it('status reads this channel only, ABORT wins over DONE; clear is write-one-to-clear of one bit', () => {
      const { file, regs, ops } = setup(format, 'write', 2, false);
      expect(ops.status()).toBe(STATUS_NONE);
      // Another channel's bits in a shared (v0) register do not show up for this one.
      const neighbour = format === 'hdma-native' ? 0 : (1 << 4) | (1 << 20);
      file.hwOr(regs.intStatus, neighbour);
      expect(ops.status()).toBe(STATUS_NONE);
      file.hwOr(regs.intStatus, regs.doneBit);
      expect(ops.status()).toBe(STATUS_DONE);
      file.hwOr(regs.intStatus, regs.abortBit);
      expect(ops.status()).toBe(STATUS_ABORT);
      ops.clear(STATUS_ABORT);
      expect(file.read32(regs.intStatus)).toBe((neighbour | regs.doneBit) >>> 0);
      expect(ops.status()).toBe(STATUS_DONE);
      ops.clear(STATUS_DONE);
      expect(file.read32(regs.intStatus)).toBe(neighbour);
      expect(ops.status()).toBe(STATUS_NONE);
    });

    it('the dump names every register the layout has, with its current value, and nothing else', () => {
      const { file, regs, ops } = setup(format, 'read', 5, false);
      file.hwStore(regs.llpLo, 0x1234_5678);
      file.hwStore(regs.transferSize, 0x40);
      const dump = ops.dump();
      expect(dump.llpLo).toBe(0x1234_5678);
      expect(dump.transferSize).toBe(0x40);
      for (const name of ['ch', 'base', 'doneBit', 'abortBit', 'imwrDataShift', 'format', 'family', 'kind']) expect(dump).not.toHaveProperty(name);
      const present = Object.entries(regs).filter(([n, v]) => typeof v === 'number' && v >= 0 && !['ch', 'base', 'doneBit', 'abortBit', 'imwrDataShift'].includes(n)).map(([n]) => n);
      expect(Object.keys(dump).sort()).toEqual(present.sort());
      // The layout decides which registers exist: v0 has no cycle_sync, HDMA no int_mask.
      expect('cycleSync' in dump).toBe(format === 'hdma-native');
      expect('intMask' in dump).toBe(format !== 'hdma-native');
    });
  });
}
