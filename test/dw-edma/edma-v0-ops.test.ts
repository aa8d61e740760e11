/**
 * EdmaV0ChannelOps: the exact CPU register traffic of dw_edma_v0_core_start and of a channel
 * quiesce, for unroll and HDMA-compat, both directions, local and remote routing (reference
 * 6.4, 6.7). Offsets are typed in from the reference table for write/read channel 3.
 */
import { describe, expect, it } from 'vitest';
import { channelRegisters, type ChannelKind } from '../../dist/device/regs/channel-registers.js';
import { EdmaV0ChannelOps } from '../../dist/dw-edma/edma-v0-ops.js';
import type { MapFormat } from '../../dist/device/regs/map-format.js';
import { RecordingRegisterFile } from '../support/recording-register-file.js';

const CH = 3;
/** LLP above 4 GiB so both halves carry bits. */
const LL_PADDR = 0x2_7000_3000;
const LL_LO = 0x7000_3000;
const LL_HI = 0x2;

/** Write/read channel 3 of the unroll layout (reference 6.1). */
const OFFSETS: Record<ChannelKind, { enable: number; doorbell: number; intMask: number; intClear: number; llErrEn: number; pwrEn: number; control1: number }> = {
  write: { enable: 0x00c, doorbell: 0x010, intMask: 0x054, intClear: 0x058, llErrEn: 0x090, pwrEn: 0x128 + 4 * CH, control1: 0x200 + 0x200 * CH },
  read: { enable: 0x02c, doorbell: 0x030, intMask: 0x0a8, intClear: 0x0ac, llErrEn: 0x0c4, pwrEn: 0x168 + 4 * CH, control1: 0x300 + 0x200 * CH },
};
const DONE = 1 << CH;
const ABORT = 1 << (16 + CH);
const CCS = 1 << 8;
const LLE = 1 << 9;

function setup(format: MapFormat, kind: ChannelKind, remote: boolean, funcNo = 0): { file: RecordingRegisterFile; ops: EdmaV0ChannelOps } {
  const file = RecordingRegisterFile.forFormat(format);
  const ll = { buffer: new SharedArrayBuffer(0x1000), bufferOffset: 0, size: 0x1000, paddr: LL_PADDR };
  return { file, ops: new EdmaV0ChannelOps(file, channelRegisters(format, kind, CH), ll, { remote, funcNo }) };
}

for (const format of ['unroll', 'hdma-compat'] as const) {
  for (const kind of ['write', 'read'] as const) {
    const o = OFFSETS[kind];
    const llp = [['write', o.control1 + 0x1c, LL_LO], ['write', o.control1 + 0x20, LL_HI]];
    const power = format === 'hdma-compat' ? [['write', o.pwrEn, 1]] : [];

    describe(`${format} ${kind} channel ${CH}`, () => {
      it('a local first start enables, unmasks its DONE/ABORT, enables LL errors, programs CCS|LLE|func and LLP, rings the doorbell', () => {
        const { file, ops } = setup(format, kind, false, 2);
        ops.start(true);
        expect(file.take()).toEqual([
          ['write', o.enable, 1],
          ...power,
          ['clear', o.intMask, DONE | ABORT],
          ['set', o.llErrEn, 1 << CH],
          ['write', o.control1, CCS | LLE | (2 << 12)],
          ...llp,
          ['write', o.doorbell, CH],
        ]);
        expect(file.read32(o.control1)).toBe(CCS | LLE | (2 << 12));
      });

      it('a remote first start masks the EP-local interrupt instead', () => {
        const { file, ops } = setup(format, kind, true);
        ops.start(true);
        expect(file.take()).toEqual([
          ['write', o.enable, 1],
          ...power,
          ['set', o.intMask, DONE | ABORT],
          ['set', o.llErrEn, 1 << CH],
          ['write', o.control1, CCS | LLE],
          ...llp,
          ['write', o.doorbell, CH],
        ]);
        expect(file.read32(o.intMask)).toBe(DONE | ABORT);
      });

      it('a later chunk only rings the doorbell', () => {
        const { file, ops } = setup(format, kind, true);
        ops.start(true);
        file.take();
        ops.start(false);
        ops.start(false);
        expect(file.take()).toEqual([['write', o.doorbell, CH], ['write', o.doorbell, CH]]);
      });

      it('the function number is cut to its 5-bit field of ch_control1', () => {
        const { file, ops } = setup(format, kind, false, 0x25);
        ops.start(true);
        expect(file.read32(o.control1)).toBe(CCS | LLE | (0x05 << 12));
      });

      it('quiesce masks and clears only this channel, and turns the direction off only for its owner', () => {
        const { file, ops } = setup(format, kind, false);
        const other = (1 << 5) | (1 << 21);
        file.hwStore(o.intMask, other);
        file.hwStore(o.enable, 1);
        ops.quiesce(false);
        expect(file.take()).toEqual([['set', o.intMask, DONE | ABORT], ['write', o.intClear, DONE | ABORT]]);
        expect(file.read32(o.intMask)).toBe(other | DONE | ABORT);
        expect(file.read32(o.enable)).toBe(1);
        ops.quiesce(true);
        expect(file.take()).toEqual([['set', o.intMask, DONE | ABORT], ['write', o.intClear, DONE | ABORT], ['write', o.enable, 0]]);
        expect(file.read32(o.enable)).toBe(0);
      });
    });
  }
}
