import type { MapFormat } from './regs/map-format.js';
import type { MmioRegisterFile } from './regs/register-file.js';

/** One channel's LL region as a driver sees it (`dw_edma_region`). */
export interface LlRegion {
  /** CPU view: where the driver writes descriptors (through the BAR on the host side). */
  readonly buffer: SharedArrayBuffer;
  readonly bufferOffset: number;
  readonly size: number;
  /** EP-local address the engine fetches from: what goes into LLP. */
  readonly paddr: number;
}

export interface DwEdmaChannelRegion {
  readonly hwChannel: number;
  readonly ll: LlRegion;
}

/**
 * What a dw-edma instance is built from (`struct dw_edma_chip`): the register block, the map
 * format, and one LL region per channel it owns. The EP-local instance is CHIP_LOCAL and owns
 * every channel not delegated; the host's dw-edma-pcie instance is PARTIAL and remote-routed,
 * owns only the delegated channels, reaches the registers and LL regions through BARs, and
 * passes device-side addresses to the engine raw.
 */
export interface DwEdmaChip {
  readonly mapFormat: MapFormat;
  readonly local: boolean;
  readonly partial: boolean;
  /** PCI function number programmed per channel (ch_control1 [16:12] / HDMA func_num). */
  readonly funcNo: number;
  readonly registers: MmioRegisterFile;
  readonly write: readonly DwEdmaChannelRegion[];
  readonly read: readonly DwEdmaChannelRegion[];
}
