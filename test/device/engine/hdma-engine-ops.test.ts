/**
 * HdmaEngineOps: the HDMA native hardware's own register accesses (reference 6.2): ch_en,
 * ch_stat, cycle_sync with its resynchronise request, int_setup gates, MSI address and data,
 * and no error status. Offsets are typed in from the reference table.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EngineFault } from '../../../dist/device/engine/engine-fault.js';
import { HdmaEngineOps } from '../../../dist/device/engine/hdma-engine-ops.js';
import { channelRegisters, type ChannelKind } from '../../../dist/device/regs/channel-registers.js';
import { MmioRegisterFile } from '../../../dist/device/regs/register-file.js';

const CH = 3;
const BASE = { write: 0x200 * CH, read: 0x200 * CH + 0x100 } as const;

function setup(kind: ChannelKind): { file: MmioRegisterFile; ops: HdmaEngineOps; b: number } {
  const file = MmioRegisterFile.create('hdma-native', { writeChannels: 8, readChannels: 8 });
  return { file, ops: new HdmaEngineOps(file, channelRegisters('hdma-native', kind, CH)), b: BASE[kind] };
}

for (const kind of ['write', 'read'] as const) {
  describe(`${kind} channel ${CH}`, () => {
    it('runs only with ch_en bit 0 set', () => {
      const { file, ops, b } = setup(kind);
      expect(ops.enabled()).toBe(false);
      file.hwStore(b + 0x00, 0xfffe);
      expect(ops.enabled()).toBe(false);
      file.hwStore(b + 0x00, 1);
      expect(ops.enabled()).toBe(true);
    });

    it('cycle_sync: with STAT the engine takes the CB of the element at LLP (when LLP is in the region), else the cycle bit', () => {
      fc.assert(
        fc.property(fc.nat({ max: 0xffff_ffff }), fc.integer({ min: -1, max: 1 }), (sync, llpCb) => {
          const { file, ops, b } = setup(kind);
          file.hwStore(b + 0x18, sync);
          const resync = (sync & 2) !== 0 && llpCb >= 0;
          expect(ops.loadCycleState(llpCb)).toBe(resync ? llpCb : sync & 1);
        }),
      );
    });

    it('stores the cycle state to cycle_sync and the status to ch_stat, nowhere else', () => {
      for (const [ccs, cs] of [[0, 1], [1, 3], [1, 2]] as const) {
        const { file, ops, b } = setup(kind);
        file.hwStore(b + 0x18, 3);
        ops.storeCycleState(ccs);
        ops.setChannelStatus(cs);
        expect(file.hwLoad(b + 0x18)).toBe(ccs);
        expect(file.hwLoad(b + 0x80)).toBe(cs);
        expect(ops.channelStatus()).toBe(cs);
        const others = Array.from(file.words).map((w, i) => (i === (b + 0x18) >> 2 || i === (b + 0x80) >> 2 ? 0 : w));
        expect(others.every((w) => w === 0)).toBe(true);
      }
    });

    it('has no error status: an abort of any kind writes no register', () => {
      const { file, ops } = setup(kind);
      for (const fault of Object.values(EngineFault)) ops.raiseErrorStatus(fault);
      expect(Array.from(file.words).every((w) => w === 0)).toBe(true);
    });

    it('int_setup gates: local needs its enable and no mask, remote needs its enable (0x50 local routing, 0x7d remote)', () => {
      const { file, ops, b } = setup(kind);
      const gates = (): boolean[] => [ops.localInterruptEnabled(false), ops.localInterruptEnabled(true), ops.remoteInterruptEnabled(false), ops.remoteInterruptEnabled(true)];
      const CASES: readonly (readonly [number, boolean[]])[] = [
        [0x00, [false, false, false, false]],
        [0x50, [true, true, false, false]],
        [0x7d, [false, false, true, true]],
        [0x28, [false, false, true, true]],
        [0x10 | 0x04, [true, false, false, false]], // STOP local on, ABORT masked (and not enabled)
        [0x40 | 0x01, [false, true, false, false]], // ABORT local on, STOP masked
        [0x08, [false, false, true, false]],
        [0x20, [false, false, false, true]],
      ];
      for (const [value, expected] of CASES) {
        file.hwStore(b + 0x88, value);
        expect(gates(), `int_setup ${value.toString(16)}`).toEqual(expected);
      }
    });

    it('MSI: msi_stop / msi_abort addresses and msi_msgdata', () => {
      const { file, ops, b } = setup(kind);
      expect(ops.interruptAddress(false)).toBe(0);
      file.hwStore(b + 0x90, 0x8000_0040);
      file.hwStore(b + 0x94, 0x1);
      file.hwStore(b + 0xa0, 0x44);
      file.hwStore(b + 0xa4, 0x2);
      file.hwStore(b + 0x98, 0x9999); // msi_watermark is not a completion interrupt
      file.hwStore(b + 0xa8, 0xdead_beef);
      expect(ops.interruptAddress(false)).toBe(0x1_8000_0040);
      expect(ops.interruptAddress(true)).toBe(0x2_0000_0044);
      expect(ops.interruptData()).toBe(0xdead_beef);
    });
  });
}
