/**
 * createChannelEngineOps picks the hardware layout once per channel from the map format, and
 * nothing else in the sources selects behaviour by register family: only the layout tables
 * (map format, channel register sets, register side effects) and the two ops factories.
 */
import { describe, expect, it } from 'vitest';
import { createChannelEngineOps } from '../../../dist/device/engine/create-channel-engine-ops.js';
import { EdmaV0EngineOps } from '../../../dist/device/engine/edma-v0-engine-ops.js';
import { HdmaEngineOps } from '../../../dist/device/engine/hdma-engine-ops.js';
import { CHANNEL_STATUS } from '../../../dist/device/regs/edma-v0-regs.js';
import { channelRegisters } from '../../../dist/device/regs/channel-registers.js';
import type { MapFormat } from '../../../dist/device/regs/map-format.js';
import { MmioRegisterFile } from '../../../dist/device/regs/register-file.js';
import { codeOnly, sourceFiles } from '../../support/source-files.js';
import { createEngine, createWorld } from '../../support/device-fixtures.js';

const SELECTED: readonly (readonly [MapFormat, typeof EdmaV0EngineOps | typeof HdmaEngineOps])[] = [
  ['unroll', EdmaV0EngineOps],
  ['hdma-compat', EdmaV0EngineOps],
  ['hdma-native', HdmaEngineOps],
];

describe('createChannelEngineOps', () => {
  for (const [format, Expected] of SELECTED) {
    for (const kind of ['write', 'read'] as const) {
      it(`${format} ${kind}: selects ${Expected.name}, bound to that channel's registers`, () => {
        const file = MmioRegisterFile.create(format, { writeChannels: 8, readChannels: 8 });
        const regs = channelRegisters(format, kind, 7);
        const ops = createChannelEngineOps(file, regs);
        expect(Object.getPrototypeOf(ops)).toBe(Expected.prototype);
        ops.setChannelStatus(CHANNEL_STATUS.HALTED);
        // The status lands in this channel's own status field and reads back through the same table.
        expect(ops.channelStatus()).toBe(CHANNEL_STATUS.HALTED);
        expect(createChannelEngineOps(file, channelRegisters(format, kind, 6)).channelStatus()).toBe(0);
      });
    }
  }

  it('every channel engine reports its status through the table its format selects', () => {
    for (const [format] of SELECTED) {
      const world = createWorld(format);
      const engine = createEngine(world, 'read', 1);
      // A doorbell on a disabled channel halts it: the halted status must be where the layout keeps it.
      world.regs.write32(engine.regs.doorbell, 1); // v0: channel id 1; HDMA: START
      engine.step();
      expect(createChannelEngineOps(world.regs, engine.regs).channelStatus()).toBe(CHANNEL_STATUS.HALTED);
    }
  });
});

describe('layout selection happens in the layout tables and the ops factories only', () => {
  const FAMILY = /\bfamily\b|registerFamily/;

  it('the register family is named only where layouts are defined or ops tables are chosen', () => {
    const hits = sourceFiles('src').filter((f) => FAMILY.test(codeOnly(f.text))).map((f) => f.path);
    expect(hits).toEqual([
      'src/device/engine/create-channel-engine-ops.ts',
      // The EP controller's reclaim quiesce (part-1 ch_quiesce: a whole direction on v0, one
      // channel on HDMA) runs on the EP without a channel driver, so it still picks its writes here.
      'src/device/epc/channel-ownership.ts',
      'src/device/regs/channel-registers.ts',
      'src/device/regs/map-format.ts',
      'src/device/regs/register-file.ts',
      'src/dw-edma/create-channel-ops.ts',
    ]);
  });

  it('the channel engine uses its ops table for every layout-specific register and bit', () => {
    const engine = codeOnly(sourceFiles('src/device/engine').find((f) => f.path.endsWith('/channel-engine.ts'))!.text);
    expect(engine).not.toMatch(/EDMA_V0_(CONTROL1|ERR|INT)|HDMA_V0_BITS|'hdma-compat'|'hdma-native'|'unroll'/);
    for (const register of ['control1', 'cycleSync', 'chStat', 'intMask', 'intSetup', 'errStatus', 'pwrEn', 'imwrData', 'msiMsgdata', 'doneImwrLo', 'msiStopLo']) {
      expect(engine, register).not.toMatch(new RegExp(`\\br\\.${register}\\b|regs\\.${register}\\b`));
    }
  });
});
