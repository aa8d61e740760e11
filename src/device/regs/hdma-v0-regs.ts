/**
 * DesignWare HDMA v0 native register layout (dw-hdma-v0-regs.h): every register is per
 * channel, so ownership can be split channel by channel (reference 6.2).
 */
export const HDMA_V0 = {
  /** ch[i].wr at 0x200 * i, ch[i].rd at 0x200 * i + 0x100; each set padded to 0x100. */
  chStride: 0x200,
  rdOffset: 0x100,
  setBytes: 0x100,
} as const;

export const HDMA_V0_CH = {
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
} as const;

export const HDMA_V0_BITS = {
  CH_EN: 1 << 0,
  DOORBELL_START: 1 << 0,
  /** cycle_sync: the consumer cycle bit, and the "sync" request the driver sets with it. */
  CONSUMER_CYCLE_BIT: 1 << 0,
  CONSUMER_CYCLE_STAT: 1 << 1,
  LINKLIST_EN: 1 << 0,
  /** int_stat / int_clear */
  STOP: 1 << 0,
  ABORT: 1 << 2,
  /** int_setup */
  STOP_INT_MASK: 1 << 0,
  ABORT_INT_MASK: 1 << 2,
  REMOTE_STOP_INT_EN: 1 << 3,
  LOCAL_STOP_INT_EN: 1 << 4,
  REMOTE_ABORT_INT_EN: 1 << 5,
  LOCAL_ABORT_INT_EN: 1 << 6,
  /** The int_setup bits the driver owns (masks and enables, 0x7d); it keeps every other bit. */
  INT_SETUP_FIELD: 0x7d,
  /** int_setup for a remote-routed channel (v4 part 1): remote STOP/ABORT enables only. */
  INT_SETUP_REMOTE: (1 << 3) | (1 << 5),
  /** int_setup for a local channel: local STOP/ABORT enables, masks clear. */
  INT_SETUP_LOCAL: (1 << 4) | (1 << 6),
  CH_STAT_MASK: 0x3,
} as const;

export const HDMA_V0_MAX_NR_CH = 8;
export const HDMA_V0_WINDOW_BYTES = 0x1000;
