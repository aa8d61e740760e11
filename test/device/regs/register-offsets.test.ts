/**
 * Every register offset against the kernel reference (6.1, 6.2). The expected numbers are typed
 * in from the reference tables, never computed from the model's own tables.
 */
import { describe, expect, it } from 'vitest';
import {
  CHANNEL_STATUS,
  EDMA_V0,
  EDMA_V0_CH,
  EDMA_V0_CONTROL1,
  EDMA_V0_DOORBELL,
  EDMA_V0_INT,
  EDMA_V0_MAX_NR_CH,
} from '../../../dist/device/regs/edma-v0-regs.js';
import { HDMA_V0, HDMA_V0_BITS, HDMA_V0_CH, HDMA_V0_MAX_NR_CH } from '../../../dist/device/regs/hdma-v0-regs.js';
import { channelRegisters } from '../../../dist/device/regs/channel-registers.js';
import { MAP_FORMAT_VALUE, mapFormatFromValue, registerFamily } from '../../../dist/device/regs/map-format.js';
import { EpdmaError } from '../../../dist/device/errors.js';

describe('eDMA v0 global registers (reference 6.1)', () => {
  it('has every offset of the table', () => {
    expect(EDMA_V0).toEqual({
      ctrlDataArbPrior: 0x000,
      ctrl: 0x008,
      wrEngineEn: 0x00c,
      wrDoorbell: 0x010,
      wrChArbWeightLo: 0x018,
      wrChArbWeightHi: 0x01c,
      rdEngineEn: 0x02c,
      rdDoorbell: 0x030,
      rdChArbWeightLo: 0x038,
      rdChArbWeightHi: 0x03c,
      wrIntStatus: 0x04c,
      wrIntMask: 0x054,
      wrIntClear: 0x058,
      wrErrStatus: 0x05c,
      wrDoneImwrLo: 0x060,
      wrDoneImwrHi: 0x064,
      wrAbortImwrLo: 0x068,
      wrAbortImwrHi: 0x06c,
      wrImwrData: 0x070,
      wrLinkedListErrEn: 0x090,
      rdIntStatus: 0x0a0,
      rdIntMask: 0x0a8,
      rdIntClear: 0x0ac,
      rdErrStatusLo: 0x0b4,
      rdErrStatusHi: 0x0b8,
      rdLinkedListErrEn: 0x0c4,
      rdDoneImwrLo: 0x0cc,
      rdDoneImwrHi: 0x0d0,
      rdAbortImwrLo: 0x0d4,
      rdAbortImwrHi: 0x0d8,
      rdImwrData: 0x0dc,
      legacyViewportSel: 0x0fc,
      legacyViewport: 0x100,
      wrEngineChgroup: 0x100,
      rdEngineChgroup: 0x104,
      wrEngineHshakeCnt: 0x108,
      rdEngineHshakeCnt: 0x118,
      wrChPwrEn: 0x128,
      rdChPwrEn: 0x168,
      wrChBase: 0x200,
      rdChBase: 0x300,
      chStride: 0x200,
    });
  });

  it('has the per-channel register set (0x24 bytes)', () => {
    expect(EDMA_V0_CH).toEqual({
      control1: 0x00,
      control2: 0x04,
      transferSize: 0x08,
      sarLo: 0x0c,
      sarHi: 0x10,
      darLo: 0x14,
      darHi: 0x18,
      llpLo: 0x1c,
      llpHi: 0x20,
      size: 0x24,
    });
  });

  it('has the ch_control1 bits', () => {
    expect(EDMA_V0_CONTROL1).toEqual({
      CB: 0x1,
      TCB: 0x2,
      LLP: 0x4,
      LIE: 0x8,
      RIE: 0x10,
      CS_SHIFT: 5,
      CS_MASK: 0x60,
      CCS: 0x100,
      LLE: 0x200,
      FUNC_SHIFT: 12,
      FUNC_MASK: 0x1f000,
    });
    expect(CHANNEL_STATUS).toEqual({ RUNNING: 1, HALTED: 2, STOPPED: 3 });
  });

  it('has DONE in [7:0] and ABORT in [23:16], one bit per channel', () => {
    expect(EDMA_V0_INT.DONE_MASK).toBe(0x0000ff);
    expect(EDMA_V0_INT.ABORT_MASK).toBe(0xff0000);
    const done = [0x1, 0x2, 0x4, 0x8, 0x10, 0x20, 0x40, 0x80];
    const abort = [0x10000, 0x20000, 0x40000, 0x80000, 0x100000, 0x200000, 0x400000, 0x800000];
    for (let ch = 0; ch < 8; ch++) {
      expect(EDMA_V0_INT.doneBit(ch)).toBe(done[ch]);
      expect(EDMA_V0_INT.abortBit(ch)).toBe(abort[ch]);
    }
    expect(EDMA_V0_DOORBELL).toEqual({ CH_MASK: 0x7, STOP: 0x80000000 });
    expect(EDMA_V0_MAX_NR_CH).toBe(8);
  });
});

describe('HDMA v0 native registers (reference 6.2)', () => {
  it('has the channel layout and per-channel offsets', () => {
    expect(HDMA_V0).toEqual({ chStride: 0x200, rdOffset: 0x100, setBytes: 0x100 });
    expect(HDMA_V0_CH).toEqual({
      chEn: 0x00,
      doorbell: 0x04,
      prefetch: 0x08,
      handshake: 0x0c,
      llpLo: 0x10,
      llpHi: 0x14,
      cycleSync: 0x18,
      transferSize: 0x1c,
      sarLo: 0x20,
      sarHi: 0x24,
      darLo: 0x28,
      darHi: 0x2c,
      watermarkEn: 0x30,
      control1: 0x34,
      funcNum: 0x38,
      qos: 0x3c,
      chStat: 0x80,
      intStat: 0x84,
      intSetup: 0x88,
      intClear: 0x8c,
      msiStopLo: 0x90,
      msiStopHi: 0x94,
      msiWatermarkLo: 0x98,
      msiWatermarkHi: 0x9c,
      msiAbortLo: 0xa0,
      msiAbortHi: 0xa4,
      msiMsgdata: 0xa8,
    });
    expect(HDMA_V0_MAX_NR_CH).toBe(8);
  });

  it('has the bit definitions', () => {
    expect(HDMA_V0_BITS).toEqual({
      CH_EN: 0x1,
      DOORBELL_START: 0x1,
      CONSUMER_CYCLE_BIT: 0x1,
      CONSUMER_CYCLE_STAT: 0x2,
      LINKLIST_EN: 0x1,
      STOP: 0x1,
      ABORT: 0x4,
      STOP_INT_MASK: 0x1,
      ABORT_INT_MASK: 0x4,
      REMOTE_STOP_INT_EN: 0x8,
      LOCAL_STOP_INT_EN: 0x10,
      REMOTE_ABORT_INT_EN: 0x20,
      LOCAL_ABORT_INT_EN: 0x40,
      INT_SETUP_FIELD: 0x7d,
      INT_SETUP_REMOTE: 0x28,
      INT_SETUP_LOCAL: 0x50,
      CH_STAT_MASK: 0x3,
    });
  });
});

describe('map formats', () => {
  it('has the dw_edma_map_format values and families', () => {
    expect(MAP_FORMAT_VALUE).toEqual({ legacy: 0, unroll: 1, 'hdma-compat': 5, 'hdma-native': 7 });
    expect(mapFormatFromValue(1)).toBe('unroll');
    expect(mapFormatFromValue(5)).toBe('hdma-compat');
    expect(mapFormatFromValue(7)).toBe('hdma-native');
    expect(mapFormatFromValue(0)).toBe('legacy');
    expect(mapFormatFromValue(2)).toBeUndefined();
    expect(registerFamily('unroll')).toBe('v0');
    expect(registerFamily('hdma-compat')).toBe('v0');
    expect(registerFamily('hdma-native')).toBe('hdma');
    expect(() => registerFamily('legacy')).toThrow(expect.objectContaining({ code: 'EOPNOTSUPP' }));
  });
});

describe('channelRegisters: eDMA v0 (unroll and HDMA-compat share the unroll channel layout)', () => {
  for (const format of ['unroll', 'hdma-compat'] as const) {
    for (const kind of ['write', 'read'] as const) {
      it(`${format} ${kind} channels 0..7`, () => {
        const w = kind === 'write';
        for (let ch = 0; ch < 8; ch++) {
          const r = channelRegisters(format, kind, ch);
          const base = (w ? 0x200 : 0x300) + 0x200 * ch;
          expect(r).toMatchObject({ format, family: 'v0', kind, ch, base });
          expect(r.control1).toBe(base + 0x00);
          expect(r.transferSize).toBe(base + 0x08);
          expect(r.sarLo).toBe(base + 0x0c);
          expect(r.sarHi).toBe(base + 0x10);
          expect(r.darLo).toBe(base + 0x14);
          expect(r.darHi).toBe(base + 0x18);
          expect(r.llpLo).toBe(base + 0x1c);
          expect(r.llpHi).toBe(base + 0x20);
          expect(r.enable).toBe(w ? 0x00c : 0x02c);
          expect(r.doorbell).toBe(w ? 0x010 : 0x030);
          expect(r.intStatus).toBe(w ? 0x04c : 0x0a0);
          expect(r.intMask).toBe(w ? 0x054 : 0x0a8);
          expect(r.intClear).toBe(w ? 0x058 : 0x0ac);
          expect(r.doneBit).toBe(1 << ch);
          expect(r.abortBit).toBe(0x10000 << ch);
          expect(r.errStatus).toBe(w ? 0x05c : 0x0b4);
          expect(r.errStatusHi).toBe(w ? -1 : 0x0b8);
          expect(r.llErrEn).toBe(w ? 0x090 : 0x0c4);
          expect(r.pwrEn).toBe((w ? 0x128 : 0x168) + 4 * ch);
          expect(r.doneImwrLo).toBe(w ? 0x060 : 0x0cc);
          expect(r.doneImwrHi).toBe(w ? 0x064 : 0x0d0);
          expect(r.abortImwrLo).toBe(w ? 0x068 : 0x0d4);
          expect(r.abortImwrHi).toBe(w ? 0x06c : 0x0d8);
          // ch01/23/45/67_imwr_data: even channel [15:0], odd [31:16]
          expect(r.imwrData).toBe((w ? [0x070, 0x070, 0x074, 0x074, 0x078, 0x078, 0x07c, 0x07c] : [0x0dc, 0x0dc, 0x0e0, 0x0e0, 0x0e4, 0x0e4, 0x0e8, 0x0e8])[ch]);
          expect(r.imwrDataShift).toBe(ch % 2 === 0 ? 0 : 16);
          for (const k of ['cycleSync', 'chStat', 'intSetup', 'funcNum', 'msiStopLo', 'msiStopHi', 'msiAbortLo', 'msiAbortHi', 'msiMsgdata'] as const) {
            expect(r[k], k).toBe(-1);
          }
        }
      });
    }
  }

  it('spot values from the reference', () => {
    const rd3 = channelRegisters('unroll', 'read', 3);
    expect(rd3.control1).toBe(0x900);
    expect(rd3.llpLo).toBe(0x91c);
    expect(rd3.llpHi).toBe(0x920);
    const wr7 = channelRegisters('unroll', 'write', 7);
    expect(wr7.control1).toBe(0x1000);
    expect(wr7.sarHi).toBe(0x1010);
    expect(channelRegisters('hdma-compat', 'write', 5).pwrEn).toBe(0x13c);
    expect(channelRegisters('hdma-compat', 'read', 7).pwrEn).toBe(0x184);
  });
});

describe('channelRegisters: HDMA native', () => {
  for (const kind of ['write', 'read'] as const) {
    it(`hdma-native ${kind} channels 0..7`, () => {
      for (let ch = 0; ch < 8; ch++) {
        const r = channelRegisters('hdma-native', kind, ch);
        const base = 0x200 * ch + (kind === 'read' ? 0x100 : 0);
        expect(r).toMatchObject({ format: 'hdma-native', family: 'hdma', kind, ch, base });
        expect(r.enable).toBe(base + 0x00);
        expect(r.doorbell).toBe(base + 0x04);
        expect(r.llpLo).toBe(base + 0x10);
        expect(r.llpHi).toBe(base + 0x14);
        expect(r.cycleSync).toBe(base + 0x18);
        expect(r.transferSize).toBe(base + 0x1c);
        expect(r.sarLo).toBe(base + 0x20);
        expect(r.sarHi).toBe(base + 0x24);
        expect(r.darLo).toBe(base + 0x28);
        expect(r.darHi).toBe(base + 0x2c);
        expect(r.control1).toBe(base + 0x34);
        expect(r.funcNum).toBe(base + 0x38);
        expect(r.chStat).toBe(base + 0x80);
        expect(r.intStatus).toBe(base + 0x84);
        expect(r.intSetup).toBe(base + 0x88);
        expect(r.intClear).toBe(base + 0x8c);
        expect(r.msiStopLo).toBe(base + 0x90);
        expect(r.msiStopHi).toBe(base + 0x94);
        expect(r.msiAbortLo).toBe(base + 0xa0);
        expect(r.msiAbortHi).toBe(base + 0xa4);
        expect(r.msiMsgdata).toBe(base + 0xa8);
        expect(r.doneBit).toBe(0x1);
        expect(r.abortBit).toBe(0x4);
        for (const k of ['intMask', 'errStatus', 'errStatusHi', 'llErrEn', 'pwrEn', 'doneImwrLo', 'doneImwrHi', 'abortImwrLo', 'abortImwrHi', 'imwrData'] as const) {
          expect(r[k], k).toBe(-1);
        }
      }
    });
  }

  it('spot values from the reference', () => {
    expect(channelRegisters('hdma-native', 'read', 2).intClear).toBe(0x58c);
    expect(channelRegisters('hdma-native', 'write', 7).msiMsgdata).toBe(0xea8);
    expect(channelRegisters('hdma-native', 'read', 0).doorbell).toBe(0x104);
  });

  it('rejects channel numbers outside 0..7 and the legacy format', () => {
    for (const format of ['unroll', 'hdma-compat', 'hdma-native'] as const) {
      for (const ch of [-1, 8, 1.5, Number.NaN]) {
        expect(() => channelRegisters(format, 'read', ch)).toThrow(EpdmaError);
        expect(() => channelRegisters(format, 'read', ch)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
      }
    }
    expect(() => channelRegisters('legacy', 'write', 0)).toThrow(expect.objectContaining({ code: 'EOPNOTSUPP' }));
  });
});
