/**
 * EdmaV0EngineOps: the eDMA v0 hardware's own register accesses (reference 6.1, 6.4): status
 * and cycle state in ch_control1, the direction's enable (and the HDMA-compat power gate),
 * int_mask for the local interrupt, err_status bits per fault, IMWr address and data halves.
 * Offsets are typed in from the reference table.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EdmaV0EngineOps } from '../../../dist/device/engine/edma-v0-engine-ops.js';
import { EngineFault } from '../../../dist/device/engine/engine-fault.js';
import { channelRegisters, type ChannelKind } from '../../../dist/device/regs/channel-registers.js';
import type { MapFormat } from '../../../dist/device/regs/map-format.js';
import { MmioRegisterFile } from '../../../dist/device/regs/register-file.js';

function setup(format: MapFormat, kind: ChannelKind, ch: number): { file: MmioRegisterFile; ops: EdmaV0EngineOps } {
  const file = MmioRegisterFile.create(format, { writeChannels: 8, readChannels: 8 });
  return { file, ops: new EdmaV0EngineOps(file, channelRegisters(format, kind, ch)) };
}

function control1(kind: ChannelKind, ch: number): number {
  return (kind === 'write' ? 0x200 : 0x300) + 0x200 * ch;
}

/** Every word of the window, to prove an operation wrote nowhere else. */
function window(file: MmioRegisterFile): number[] {
  return Array.from(file.words);
}

describe('enable', () => {
  it('unroll: the direction engine_en alone', () => {
    const { file, ops } = setup('unroll', 'read', 2);
    expect(ops.enabled()).toBe(false);
    file.hwStore(0x02c, 1);
    expect(ops.enabled()).toBe(true);
    file.hwStore(0x00c, 0); // the other direction does not matter
    expect(ops.enabled()).toBe(true);
  });

  it('HDMA-compat: engine_en and the channel power enable chN_pwr_en', () => {
    for (const [kind, en, pwr] of [['write', 0x00c, 0x128 + 4 * 6], ['read', 0x02c, 0x168 + 4 * 6]] as const) {
      const { file, ops } = setup('hdma-compat', kind, 6);
      file.hwStore(en, 1);
      expect(ops.enabled()).toBe(false);
      file.hwStore(pwr - 4, 1); // the neighbour's power enable is not ours
      expect(ops.enabled()).toBe(false);
      file.hwStore(pwr, 1);
      expect(ops.enabled()).toBe(true);
      file.hwStore(en, 0);
      expect(ops.enabled()).toBe(false);
    }
  });
});

describe('ch_control1: cycle state (CCS, bit 8) and channel status (CS, [6:5])', () => {
  it('every write keeps the other bits of ch_control1, reads back what was written, and ignores the element at LLP', () => {
    fc.assert(
      fc.property(
        fc.constantFrom<ChannelKind>('write', 'read'),
        fc.integer({ min: 0, max: 7 }),
        fc.nat({ max: 0xffff_ffff }),
        fc.integer({ min: 0, max: 1 }),
        fc.integer({ min: 0, max: 3 }),
        fc.integer({ min: -1, max: 1 }),
        (kind, ch, initial, ccs, cs, llpCb) => {
          const { file, ops } = setup('unroll', kind, ch);
          const off = control1(kind, ch);
          file.hwStore(off, initial);
          const before = window(file);
          ops.storeCycleState(ccs);
          ops.setChannelStatus(cs);
          const expected = ((initial & ~(0x100 | 0x60)) | (ccs << 8) | (cs << 5)) >>> 0;
          expect(file.hwLoad(off)).toBe(expected);
          expect(ops.channelStatus()).toBe(cs);
          expect(ops.loadCycleState(llpCb)).toBe(ccs);
          const after = window(file);
          after[off >> 2] = before[off >> 2]!;
          expect(after).toEqual(before);
        },
      ),
    );
  });
});

describe('err_status on abort', () => {
  // [fault, kind, register, bit] for channel 5: app bit ch, ll bit 16 + ch, ur bit ch in rd hi.
  const CASES: readonly (readonly [number, ChannelKind, number | null, number])[] = [
    [EngineFault.LL_OUTSIDE_REGION, 'write', 0x05c, 1 << 21],
    [EngineFault.LL_LOOP, 'write', 0x05c, 1 << 21],
    [EngineFault.SOURCE_UNMAPPED, 'write', 0x05c, 1 << 5],
    [EngineFault.DESTINATION_UNMAPPED, 'write', 0x05c, 1 << 5],
    [EngineFault.LL_OUTSIDE_REGION, 'read', 0x0b4, 1 << 21],
    [EngineFault.LL_LOOP, 'read', 0x0b4, 1 << 21],
    [EngineFault.SOURCE_UNMAPPED, 'read', 0x0b8, 1 << 5],
    [EngineFault.DESTINATION_UNMAPPED, 'read', 0x0b4, 1 << 5],
    [EngineFault.CHANNEL_DISABLED, 'write', null, 0],
    [EngineFault.STOPPED, 'read', null, 0],
  ];
  for (const [fault, kind, reg, bit] of CASES) {
    it(`fault ${fault} on ${kind} channel 5 ${reg === null ? 'sets no error bit' : `sets ${bit.toString(16)} in ${reg.toString(16)}`}, and keeps bits already set`, () => {
      const { file, ops } = setup('unroll', kind, 5);
      const earlier = 1 << 2;
      if (reg !== null) file.hwStore(reg, earlier);
      const before = window(file);
      ops.raiseErrorStatus(fault);
      const after = window(file);
      if (reg !== null) {
        expect(after[reg >> 2]).toBe(earlier | bit);
        after[reg >> 2] = before[reg >> 2]!;
      }
      expect(after).toEqual(before);
    });
  }
});

describe('interrupts', () => {
  it('the local interrupt follows this channel\'s int_mask bit per event; the remote one is always enabled (RIE decides)', () => {
    for (const [kind, mask] of [['write', 0x054], ['read', 0x0a8]] as const) {
      const { file, ops } = setup('unroll', kind, 3);
      expect([ops.localInterruptEnabled(false), ops.localInterruptEnabled(true)]).toEqual([true, true]);
      file.hwStore(mask, 1 << 3);
      expect([ops.localInterruptEnabled(false), ops.localInterruptEnabled(true)]).toEqual([false, true]);
      file.hwStore(mask, 1 << 19);
      expect([ops.localInterruptEnabled(false), ops.localInterruptEnabled(true)]).toEqual([true, false]);
      file.hwStore(mask, ~((1 << 3) | (1 << 19)));
      expect([ops.localInterruptEnabled(false), ops.localInterruptEnabled(true)]).toEqual([true, true]);
      expect([ops.remoteInterruptEnabled(false), ops.remoteInterruptEnabled(true)]).toEqual([true, true]);
    }
  });

  it('IMWr: done/abort address per direction, data from the channel pair register, even channel [15:0], odd [31:16]', () => {
    const REGS = {
      write: { doneLo: 0x060, doneHi: 0x064, abortLo: 0x068, abortHi: 0x06c, data: 0x070 },
      read: { doneLo: 0x0cc, doneHi: 0x0d0, abortLo: 0x0d4, abortHi: 0x0d8, data: 0x0dc },
    } as const;
    for (const kind of ['write', 'read'] as const) {
      const o = REGS[kind];
      for (const ch of [4, 5]) {
        const { file, ops } = setup('unroll', kind, ch);
        expect(ops.interruptAddress(false)).toBe(0);
        file.hwStore(o.doneLo, 0x8000_0010);
        file.hwStore(o.doneHi, 0x1);
        file.hwStore(o.abortLo, 0x20);
        file.hwStore(o.abortHi, 0x3);
        file.hwStore(o.data + 4 * 2, 0xbeef_cafe); // ch45_imwr_data
        expect(ops.interruptAddress(false)).toBe(0x1_8000_0010);
        expect(ops.interruptAddress(true)).toBe(0x3_0000_0020);
        expect(ops.interruptData()).toBe(ch === 4 ? 0xcafe : 0xbeef);
      }
    }
  });
});
