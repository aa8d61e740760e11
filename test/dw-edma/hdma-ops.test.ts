/**
 * HdmaChannelOps: the exact CPU register traffic of dw_hdma_v0_core_start and of a channel
 * quiesce on HDMA native, both directions, local and remote routing (reference 6.2, 6.4,
 * 6.7). Offsets are typed in from the reference table for write/read channel 3.
 */
import { describe, expect, it } from 'vitest';
import { channelRegisters } from '../../dist/device/regs/channel-registers.js';
import { HdmaChannelOps } from '../../dist/dw-edma/hdma-ops.js';
import { RecordingRegisterFile } from '../support/recording-register-file.js';

const CH = 3;
const LL_PADDR = 0x2_7000_3000;
const BASE = { write: 0x200 * CH, read: 0x200 * CH + 0x100 } as const;

function setup(kind: 'write' | 'read', remote: boolean, funcNo = 0): { file: RecordingRegisterFile; ops: HdmaChannelOps } {
  const file = RecordingRegisterFile.forFormat('hdma-native');
  const ll = { buffer: new SharedArrayBuffer(0x1000), bufferOffset: 0, size: 0x1000, paddr: LL_PADDR };
  return { file, ops: new HdmaChannelOps(file, channelRegisters('hdma-native', kind, CH), ll, { remote, funcNo }) };
}

for (const kind of ['write', 'read'] as const) {
  const b = BASE[kind];
  const ch = { chEn: b + 0x00, doorbell: b + 0x04, llpLo: b + 0x10, llpHi: b + 0x14, cycleSync: b + 0x18, control1: b + 0x34, funcNum: b + 0x38, intSetup: b + 0x88, intClear: b + 0x8c };

  describe(`hdma-native ${kind} channel ${CH}`, () => {
    for (const [remote, intSetup] of [[false, 0x50], [true, 0x28]] as const) {
      it(`a ${remote ? 'remote' : 'local'} first start: ch_en, int_setup ${intSetup.toString(16)} (read-modify-write), LINKLIST_EN, LLP, cycle_sync 3, doorbell START`, () => {
        const { file, ops } = setup(kind, remote, 0x1a5);
        ops.start(true);
        expect(file.take()).toEqual([
          ['write', ch.chEn, 1],
          ['write', ch.intSetup, intSetup],
          ['write', ch.control1, 1],
          ['write', ch.llpLo, 0x7000_3000],
          ['write', ch.llpHi, 0x2],
          ['write', ch.cycleSync, 3],
          ['write', ch.doorbell, 1],
        ]);
        expect(file.read32(ch.intSetup)).toBe(intSetup);
        expect(file.doorbellPending(kind, CH)).toBe(true);
      });
    }

    it('configure (ch_config) programs func_num once; start leaves it alone', () => {
      const { file, ops } = setup(kind, true, 0x1a5);
      ops.configure();
      expect(file.take()).toEqual([['write', ch.funcNum, 0xa5]]);
      ops.start(true);
      expect(file.take().filter(([, offset]) => offset === ch.funcNum)).toEqual([]);
    });

    it('a later chunk resynchronises the cycle state and rings the doorbell', () => {
      const { file, ops } = setup(kind, false);
      ops.start(true);
      file.take();
      ops.start(false);
      expect(file.take()).toEqual([['write', ch.cycleSync, 3], ['write', ch.doorbell, 1]]);
    });

    it('quiesce masks both interrupts, clears them and turns the channel off, whoever owns the direction', () => {
      for (const ownsDirection of [false, true]) {
        const { file, ops } = setup(kind, false);
        ops.start(true);
        file.take();
        ops.quiesce(ownsDirection);
        expect(file.take()).toEqual([['write', ch.intSetup, 0x5], ['write', ch.intClear, 0x5], ['write', ch.chEn, 0]]);
        expect(file.read32(ch.chEn)).toBe(0);
      }
    });
  });
}
