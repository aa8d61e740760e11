import { EpdmaError } from '../errors.js';
import { EDMA_V0, EDMA_V0_CH, EDMA_V0_INT, EDMA_V0_MAX_NR_CH } from './edma-v0-regs.js';
import { HDMA_V0, HDMA_V0_BITS, HDMA_V0_CH, HDMA_V0_MAX_NR_CH } from './hdma-v0-regs.js';
import { registerFamily, type MapFormat } from './map-format.js';

/** Engine channel kind, named from the EP's view: write = EP->host, read = host->EP. */
export type ChannelKind = 'write' | 'read';

const NONE = -1;

/**
 * Absolute register offsets (from the window base) for one channel, resolved once from the
 * layout tables so the engine and the driver index registers without branching on the
 * format in their loops. Registers the format does not have are -1.
 *
 * `enable`, `doorbell`, `intStatus`/`intClear` and the status bits are unified: on eDMA v0
 * they are the per-direction engine_en, doorbell and int_status registers with this channel's
 * bits; on HDMA they are the channel's own ch_en, doorbell and int_stat with STOP/ABORT.
 */
export interface ChannelRegisterSet {
  readonly format: MapFormat;
  readonly family: 'v0' | 'hdma';
  readonly kind: ChannelKind;
  readonly ch: number;
  /** Start of this channel's own register set. */
  readonly base: number;
  readonly control1: number;
  readonly transferSize: number;
  readonly sarLo: number;
  readonly sarHi: number;
  readonly darLo: number;
  readonly darHi: number;
  readonly llpLo: number;
  readonly llpHi: number;
  readonly enable: number;
  readonly doorbell: number;
  readonly intStatus: number;
  readonly intMask: number;
  readonly intClear: number;
  readonly doneBit: number;
  readonly abortBit: number;
  /** v0 only */
  readonly errStatus: number;
  readonly errStatusHi: number;
  readonly llErrEn: number;
  readonly pwrEn: number;
  readonly doneImwrLo: number;
  readonly doneImwrHi: number;
  readonly abortImwrLo: number;
  readonly abortImwrHi: number;
  readonly imwrData: number;
  readonly imwrDataShift: number;
  /** HDMA only */
  readonly cycleSync: number;
  readonly chStat: number;
  readonly intSetup: number;
  readonly funcNum: number;
  readonly msiStopLo: number;
  readonly msiStopHi: number;
  readonly msiAbortLo: number;
  readonly msiAbortHi: number;
  readonly msiMsgdata: number;
}

export function channelRegisters(format: MapFormat, kind: ChannelKind, ch: number): ChannelRegisterSet {
  const family = registerFamily(format);
  const max = family === 'v0' ? EDMA_V0_MAX_NR_CH : HDMA_V0_MAX_NR_CH;
  if (!Number.isInteger(ch) || ch < 0 || ch >= max) throw new EpdmaError('EINVAL', `${kind} channel ${ch} out of range 0..${max - 1}`);
  if (family === 'v0') {
    const w = kind === 'write';
    const base = (w ? EDMA_V0.wrChBase : EDMA_V0.rdChBase) + EDMA_V0.chStride * ch;
    return {
      format, family, kind, ch, base,
      control1: base + EDMA_V0_CH.control1,
      transferSize: base + EDMA_V0_CH.transferSize,
      sarLo: base + EDMA_V0_CH.sarLo,
      sarHi: base + EDMA_V0_CH.sarHi,
      darLo: base + EDMA_V0_CH.darLo,
      darHi: base + EDMA_V0_CH.darHi,
      llpLo: base + EDMA_V0_CH.llpLo,
      llpHi: base + EDMA_V0_CH.llpHi,
      enable: w ? EDMA_V0.wrEngineEn : EDMA_V0.rdEngineEn,
      doorbell: w ? EDMA_V0.wrDoorbell : EDMA_V0.rdDoorbell,
      intStatus: w ? EDMA_V0.wrIntStatus : EDMA_V0.rdIntStatus,
      intMask: w ? EDMA_V0.wrIntMask : EDMA_V0.rdIntMask,
      intClear: w ? EDMA_V0.wrIntClear : EDMA_V0.rdIntClear,
      doneBit: EDMA_V0_INT.doneBit(ch),
      abortBit: EDMA_V0_INT.abortBit(ch),
      errStatus: w ? EDMA_V0.wrErrStatus : EDMA_V0.rdErrStatusLo,
      errStatusHi: w ? NONE : EDMA_V0.rdErrStatusHi,
      llErrEn: w ? EDMA_V0.wrLinkedListErrEn : EDMA_V0.rdLinkedListErrEn,
      pwrEn: (w ? EDMA_V0.wrChPwrEn : EDMA_V0.rdChPwrEn) + 4 * ch,
      doneImwrLo: w ? EDMA_V0.wrDoneImwrLo : EDMA_V0.rdDoneImwrLo,
      doneImwrHi: w ? EDMA_V0.wrDoneImwrHi : EDMA_V0.rdDoneImwrHi,
      abortImwrLo: w ? EDMA_V0.wrAbortImwrLo : EDMA_V0.rdAbortImwrLo,
      abortImwrHi: w ? EDMA_V0.wrAbortImwrHi : EDMA_V0.rdAbortImwrHi,
      imwrData: (w ? EDMA_V0.wrImwrData : EDMA_V0.rdImwrData) + 4 * (ch >> 1),
      imwrDataShift: (ch & 1) * 16,
      cycleSync: NONE, chStat: NONE, intSetup: NONE, funcNum: NONE,
      msiStopLo: NONE, msiStopHi: NONE, msiAbortLo: NONE, msiAbortHi: NONE, msiMsgdata: NONE,
    };
  }
  const base = HDMA_V0.chStride * ch + (kind === 'read' ? HDMA_V0.rdOffset : 0);
  return {
    format, family, kind, ch, base,
    control1: base + HDMA_V0_CH.control1,
    transferSize: base + HDMA_V0_CH.transferSize,
    sarLo: base + HDMA_V0_CH.sarLo,
    sarHi: base + HDMA_V0_CH.sarHi,
    darLo: base + HDMA_V0_CH.darLo,
    darHi: base + HDMA_V0_CH.darHi,
    llpLo: base + HDMA_V0_CH.llpLo,
    llpHi: base + HDMA_V0_CH.llpHi,
    enable: base + HDMA_V0_CH.chEn,
    doorbell: base + HDMA_V0_CH.doorbell,
    intStatus: base + HDMA_V0_CH.intStat,
    intMask: NONE,
    intClear: base + HDMA_V0_CH.intClear,
    doneBit: HDMA_V0_BITS.STOP,
    abortBit: HDMA_V0_BITS.ABORT,
    errStatus: NONE, errStatusHi: NONE, llErrEn: NONE, pwrEn: NONE,
    doneImwrLo: NONE, doneImwrHi: NONE, abortImwrLo: NONE, abortImwrHi: NONE, imwrData: NONE, imwrDataShift: 0,
    cycleSync: base + HDMA_V0_CH.cycleSync,
    chStat: base + HDMA_V0_CH.chStat,
    intSetup: base + HDMA_V0_CH.intSetup,
    funcNum: base + HDMA_V0_CH.funcNum,
    msiStopLo: base + HDMA_V0_CH.msiStopLo,
    msiStopHi: base + HDMA_V0_CH.msiStopHi,
    msiAbortLo: base + HDMA_V0_CH.msiAbortLo,
    msiAbortHi: base + HDMA_V0_CH.msiAbortHi,
    msiMsgdata: base + HDMA_V0_CH.msiMsgdata,
  };
}

/**
 * The channel's power enable (chN_pwr_en) when the layout gates the channel on it (HDMA-compat),
 * else -1. Unroll has the registers too, but dw-edma neither sets them there nor does the
 * hardware need them.
 */
export function powerEnableRegister(r: ChannelRegisterSet): number {
  return r.format === 'hdma-compat' ? r.pwrEn : NONE;
}
