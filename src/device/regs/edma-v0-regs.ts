/**
 * DesignWare eDMA v0 register layout (dw-edma-v0-regs.h), offsets from the register window
 * base. Data only: the engine and the driver both read these tables, and tests check every
 * number against the kernel reference (section 6.1).
 */
export const EDMA_V0 = {
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
  /** wr_ch01/23/45/67_imwr_data: even channel in [15:0], odd in [31:16]. */
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
  /** Legacy map format only: channel select for the viewport (ch [2:0], BIT(31) = read). */
  legacyViewportSel: 0x0fc,
  /** Legacy map format only: the single viewed channel register set. */
  legacyViewport: 0x100,
  wrEngineChgroup: 0x100,
  rdEngineChgroup: 0x104,
  wrEngineHshakeCnt: 0x108,
  rdEngineHshakeCnt: 0x118,
  /** Unroll / HDMA-compat: wr_ch{n}_pwr_en at 0x128 + 4n, rd at 0x168 + 4n. */
  wrChPwrEn: 0x128,
  rdChPwrEn: 0x168,
  /** Unroll: write channel n at 0x200 + 0x200n, read channel n at 0x300 + 0x200n. */
  wrChBase: 0x200,
  rdChBase: 0x300,
  chStride: 0x200,
} as const;

/** One channel's register set (0x24 bytes). */
export const EDMA_V0_CH = {
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
} as const;

/** ch_control1 bits. The same CB/TCB/LLP/LIE/RIE bits start every LL element's control word. */
export const EDMA_V0_CONTROL1 = {
  CB: 1 << 0,
  TCB: 1 << 1,
  LLP: 1 << 2,
  LIE: 1 << 3,
  RIE: 1 << 4,
  CS_SHIFT: 5,
  CS_MASK: 0x3 << 5,
  CCS: 1 << 8,
  LLE: 1 << 9,
  FUNC_SHIFT: 12,
  FUNC_MASK: 0x1f << 12,
} as const;

/** Channel status values (CS in ch_control1, ch_stat on HDMA): 1 running, 2 halted, 3 stopped. */
export const CHANNEL_STATUS = { RUNNING: 1, HALTED: 2, STOPPED: 3 } as const;

/** int_status/mask/clear: DONE in [7:0], ABORT in [23:16], one bit per channel. */
export const EDMA_V0_INT = {
  doneBit: (ch: number) => 1 << ch,
  abortBit: (ch: number) => 1 << (16 + ch),
  DONE_MASK: 0xff,
  ABORT_MASK: 0xff << 16,
} as const;

/** wr/rd_doorbell: channel number in [2:0]; BIT(31) asks the channel to stop. */
export const EDMA_V0_DOORBELL = { CH_MASK: 0x7, STOP: 0x8000_0000 } as const;

/**
 * Error status bits this model reports (the driver never reads them; they explain an ABORT to
 * someone dumping registers). wr_err_status: [7:0] app read error, [23:16] LL fetch error.
 * rd_err_status lo: [7:0] app write error, [23:16] LL fetch error; hi: [7:0] unsupported
 * request (the PCIe read of an unmapped host address).
 */
export const EDMA_V0_ERR = {
  appBit: (ch: number) => 1 << ch,
  llBit: (ch: number) => 1 << (16 + ch),
  urBit: (ch: number) => 1 << ch,
} as const;

export const EDMA_V0_MAX_NR_CH = 8;
/** Register window this model publishes for unroll / HDMA-compat (8 + 8 channels fit). */
export const EDMA_V0_WINDOW_BYTES = 0x2000;
