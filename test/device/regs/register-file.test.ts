/** MmioRegisterFile: CPU-side effects of register writes (W1C, read-only status, doorbells). */
import { describe, expect, it } from 'vitest';
import { MmioRegisterFile } from '../../../dist/device/regs/register-file.js';
import { channelRegisters } from '../../../dist/device/regs/channel-registers.js';
import { EpdmaError } from '../../../dist/device/errors.js';
import { createEngine, createWorld, KernelLikeDriver, runEngine } from '../../support/device-fixtures.js';

const V0_FORMATS = ['unroll', 'hdma-compat'] as const;

describe('MmioRegisterFile geometry', () => {
  it('windows are 0x2000 (v0) and 0x1000 (HDMA) plus the shadow area', () => {
    const v0 = MmioRegisterFile.create('unroll', { writeChannels: 1, readChannels: 1 });
    expect(v0.windowBytes).toBe(0x2000);
    const hd = MmioRegisterFile.create('hdma-native', { writeChannels: 1, readChannels: 1 });
    expect(hd.windowBytes).toBe(0x1000);
    expect(MmioRegisterFile.bytesFor('unroll')).toBeGreaterThan(0x2000);
    expect(MmioRegisterFile.bytesFor('hdma-native')).toBeGreaterThan(0x1000);
  });

  it('rejects a buffer too small, the legacy format and bad channel counts', () => {
    expect(() => new MmioRegisterFile(new SharedArrayBuffer(0x2000), 'unroll')).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => MmioRegisterFile.create('legacy', { writeChannels: 1, readChannels: 1 })).toThrow(expect.objectContaining({ code: 'EOPNOTSUPP' }));
    expect(() => MmioRegisterFile.create('unroll', { writeChannels: 9, readChannels: 1 })).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => MmioRegisterFile.create('unroll', { writeChannels: 1, readChannels: -1 })).toThrow(expect.objectContaining({ code: 'EINVAL' }));
  });

  it('two views of one buffer see the same registers and effects', () => {
    const a = MmioRegisterFile.create('unroll', { writeChannels: 2, readChannels: 2 });
    const b = new MmioRegisterFile(a.buffer, 'unroll');
    b.write32(0x00c, 1);
    expect(a.read32(0x00c)).toBe(1);
    b.write32(0x010, 1);
    expect(a.takeDoorbell('write', 1)).toBe(true);
    expect(b.takeDoorbell('write', 1)).toBe(false);
  });
});

describe('ctrl reports the channel counts (v0)', () => {
  for (const format of V0_FORMATS) {
    it(format, () => {
      const f = MmioRegisterFile.create(format, { writeChannels: 3, readChannels: 5 });
      const ctrl = f.read32(0x008);
      expect(ctrl & 0xf).toBe(3);
      expect((ctrl >>> 16) & 0xf).toBe(5);
      expect(ctrl).toBe(0x0005_0003);
      f.write32(0x008, 0xffff_ffff); // hardware-owned: CPU writes are dropped
      expect(f.read32(0x008)).toBe(0x0005_0003);
    });
  }
});

describe('window bounds and alignment', () => {
  for (const [format, window] of [['unroll', 0x2000], ['hdma-compat', 0x2000], ['hdma-native', 0x1000]] as const) {
    it(`${format}: out-of-window and unaligned accesses are EINVAL`, () => {
      const f = MmioRegisterFile.create(format, { writeChannels: 8, readChannels: 8 });
      for (const off of [window, window - 2, -4, 2, 0x101, 1.5, Number.NaN]) {
        expect(() => f.read32(off), `read32(${off})`).toThrow(EpdmaError);
        expect(() => f.read32(off)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
        expect(() => f.write32(off, 1), `write32(${off})`).toThrow(expect.objectContaining({ code: 'EINVAL' }));
      }
      f.write32(window - 4, 0x1234_5678);
      expect(f.read32(window - 4)).toBe(0x1234_5678);
    });
  }
});

describe('plain registers store the written value, read back unsigned', () => {
  it('v0 llp and control1', () => {
    const f = MmioRegisterFile.create('unroll', { writeChannels: 8, readChannels: 8 });
    const r = channelRegisters('unroll', 'read', 3);
    f.write32(r.llpLo, 0xdead_beef);
    f.write32(r.llpHi, 0x1);
    expect(f.read32(r.llpLo)).toBe(0xdead_beef);
    expect(f.read32(r.llpHi)).toBe(1);
    expect(f.hwLoad(r.llpLo)).toBe(0xdead_beef);
  });
});

describe('W1C interrupt clear', () => {
  for (const format of V0_FORMATS) {
    for (const kind of ['write', 'read'] as const) {
      it(`${format} ${kind}: int_clear clears only the written bits`, () => {
        const f = MmioRegisterFile.create(format, { writeChannels: 8, readChannels: 8 });
        const r = channelRegisters(format, kind, 0);
        f.hwStore(r.intStatus, 0x00ff_00ff);
        f.write32(r.intClear, 0x0001_0004); // ABORT ch0, DONE ch2
        expect(f.read32(r.intStatus)).toBe(0x00fe_00fb);
        f.write32(r.intClear, 0);
        expect(f.read32(r.intStatus)).toBe(0x00fe_00fb);
        expect(f.read32(r.intClear)).toBe(0); // int_clear never stores
        // the other direction's status is untouched
        const other = channelRegisters(format, kind === 'write' ? 'read' : 'write', 0);
        f.hwStore(other.intStatus, 0x0000_0003);
        f.write32(r.intClear, 0xffff_ffff);
        expect(f.read32(r.intStatus)).toBe(0);
        expect(f.read32(other.intStatus)).toBe(3);
      });
    }
  }

  it('hdma-native: int_clear clears only the written bits of that channel', () => {
    const f = MmioRegisterFile.create('hdma-native', { writeChannels: 8, readChannels: 8 });
    const rd2 = channelRegisters('hdma-native', 'read', 2);
    const wr2 = channelRegisters('hdma-native', 'write', 2);
    const rd3 = channelRegisters('hdma-native', 'read', 3);
    for (const r of [rd2, wr2, rd3]) f.hwStore(r.intStatus, 0x5);
    f.write32(rd2.intClear, 0x4);
    expect(f.read32(rd2.intStatus)).toBe(0x1);
    expect(f.read32(wr2.intStatus)).toBe(0x5);
    expect(f.read32(rd3.intStatus)).toBe(0x5);
    f.write32(rd2.intClear, 0x1);
    expect(f.read32(rd2.intStatus)).toBe(0);
  });
});

describe('status registers ignore CPU writes', () => {
  for (const format of V0_FORMATS) {
    it(`${format}: int_status and err_status`, () => {
      const f = MmioRegisterFile.create(format, { writeChannels: 8, readChannels: 8 });
      for (const off of [0x04c, 0x0a0, 0x05c, 0x0b4, 0x0b8]) {
        f.hwStore(off, 0x0101);
        f.write32(off, 0xffff_ffff);
        expect(f.read32(off), `offset ${off.toString(16)}`).toBe(0x0101);
        f.write32(off, 0);
        expect(f.read32(off), `offset ${off.toString(16)}`).toBe(0x0101);
      }
    });
  }

  it('hdma-native: int_stat and ch_stat of every channel', () => {
    const f = MmioRegisterFile.create('hdma-native', { writeChannels: 8, readChannels: 8 });
    for (let ch = 0; ch < 8; ch++) {
      for (const kind of ['write', 'read'] as const) {
        const r = channelRegisters('hdma-native', kind, ch);
        f.hwStore(r.intStatus, 0x4);
        f.hwStore(r.chStat, 0x3);
        f.write32(r.intStatus, 0);
        f.write32(r.chStat, 0);
        expect(f.read32(r.intStatus)).toBe(0x4);
        expect(f.read32(r.chStat)).toBe(0x3);
      }
    }
  });
});

describe('doorbells', () => {
  for (const format of V0_FORMATS) {
    it(`${format}: the shared doorbell latches several channels' starts without losing any`, () => {
      const f = MmioRegisterFile.create(format, { writeChannels: 8, readChannels: 8 });
      const wake0 = Atomics.load(f.shadowWords, MmioRegisterFile.ENGINE_WAKE_INDEX);
      for (const ch of [0, 3, 5, 7]) f.write32(0x010, ch);
      f.write32(0x030, 3); // read doorbell, channel 3
      expect(Atomics.load(f.shadowWords, MmioRegisterFile.ENGINE_WAKE_INDEX) - wake0).toBe(5);
      expect(f.read32(0x010)).toBe(0); // a doorbell is an event, not a stored value
      for (let ch = 0; ch < 8; ch++) {
        expect(f.doorbellPending('write', ch), `wr${ch}`).toBe([0, 3, 5, 7].includes(ch));
        expect(f.doorbellPending('read', ch), `rd${ch}`).toBe(ch === 3);
      }
      for (const ch of [7, 0, 5, 3]) expect(f.takeDoorbell('write', ch)).toBe(true);
      for (const ch of [0, 3, 5, 7]) expect(f.takeDoorbell('write', ch)).toBe(false);
      expect(f.takeDoorbell('read', 3)).toBe(true);
      expect(f.takeDoorbell('read', 3)).toBe(false);
    });

    it(`${format}: doorbell BIT(31) latches a stop, not a start`, () => {
      const f = MmioRegisterFile.create(format, { writeChannels: 8, readChannels: 8 });
      f.write32(0x030, 0x8000_0000 | 6);
      expect(f.doorbellPending('read', 6)).toBe(false);
      expect(f.takeStop('read', 6)).toBe(true);
      expect(f.takeStop('read', 6)).toBe(false);
      expect(f.takeStop('write', 6)).toBe(false);
    });

    it(`${format}: engines on one shared doorbell all run when rung before any steps`, () => {
      const world = createWorld(format);
      const chans = [0, 3, 5];
      const engines = chans.map((ch) => createEngine(world, 'write', ch));
      const drivers = chans.map((ch) => new KernelLikeDriver(world, 'write', ch));
      world.epRam.bytes.fill(0xa5, 0, 0x800);
      chans.forEach((ch, i) => {
        drivers[i]!.submitChunk([{ sar: world.epRam.base + ch * 0x100, dar: world.hostRam.base + ch * 0x100, size: 0x100 }], 0);
      });
      for (const e of engines) runEngine(e);
      chans.forEach((ch, i) => {
        expect(drivers[i]!.done()).toBe(true);
        expect(engines[i]!.counters.bytes).toBe(0x100);
        expect(world.hostRam.bytes.subarray(ch * 0x100, ch * 0x100 + 0x100).every((b) => b === 0xa5)).toBe(true);
      });
      expect(world.regs.read32(0x04c)).toBe(0b101001); // DONE ch0, ch3, ch5
    });
  }

  it('hdma-native: the doorbell needs START', () => {
    const f = MmioRegisterFile.create('hdma-native', { writeChannels: 8, readChannels: 8 });
    const r = channelRegisters('hdma-native', 'read', 4);
    f.write32(r.doorbell, 0);
    f.write32(r.doorbell, 0x8000_0000);
    f.write32(r.doorbell, 0x2);
    expect(f.doorbellPending('read', 4)).toBe(false);
    f.write32(r.doorbell, 0x1);
    expect(f.doorbellPending('read', 4)).toBe(true);
    expect(f.doorbellPending('write', 4)).toBe(false);
    expect(f.read32(r.doorbell)).toBe(0);
    expect(f.takeDoorbell('read', 4)).toBe(true);
    expect(f.takeDoorbell('read', 4)).toBe(false);
  });
});

describe('fault log and interrupt sequence', () => {
  it('records a fault per channel with a 64-bit address', () => {
    const f = MmioRegisterFile.create('hdma-native', { writeChannels: 8, readChannels: 8 });
    expect(f.lastFault('read', 1)).toEqual({ code: 0, addr: 0 });
    f.recordFault('read', 1, 3, 0x1_2345_6789);
    expect(f.lastFault('read', 1)).toEqual({ code: 3, addr: 0x1_2345_6789 });
    expect(f.lastFaultCode('read', 1)).toBe(3);
    expect(f.lastFault('write', 1)).toEqual({ code: 0, addr: 0 });
    f.recordFault('write', 7, 1, 0xffff_fffc);
    expect(f.lastFault('write', 7)).toEqual({ code: 1, addr: 0xffff_fffc });
  });

  it('counts interrupts per channel', () => {
    const f = MmioRegisterFile.create('unroll', { writeChannels: 8, readChannels: 8 });
    f.signalIrq('write', 2);
    f.signalIrq('write', 2);
    f.signalIrq('read', 2);
    expect(f.irqSeq('write', 2)).toBe(2);
    expect(f.irqSeq('read', 2)).toBe(1);
    expect(f.irqSeq('write', 3)).toBe(0);
  });

  it('without waiters to wake (an engine stepped in the ringing thread) it counts interrupts but wakes nobody', () => {
    const f = MmioRegisterFile.create('unroll', { writeChannels: 8, readChannels: 8 });
    const notified: number[] = [];
    f.crossProcessNotify = (_view, index) => notified.push(index);
    f.signalIrq('write', 2);
    f.write32(0x010, 2); // the write doorbell: wakes the engine
    expect(notified).toEqual([MmioRegisterFile.irqIndex('write', 2), MmioRegisterFile.ENGINE_WAKE_INDEX]);
    const wakes = Atomics.load(f.shadowWords, MmioRegisterFile.ENGINE_WAKE_INDEX);
    f.wakesWaiters = false;
    f.signalIrq('write', 2);
    f.write32(0x010, 2);
    expect(notified).toHaveLength(2);
    expect(f.irqSeq('write', 2)).toBe(2);
    expect(Atomics.load(f.shadowWords, MmioRegisterFile.ENGINE_WAKE_INDEX)).toBe(wakes);
    expect(f.takeDoorbell('write', 2)).toBe(true);
  });
});
