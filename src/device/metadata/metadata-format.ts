import { PCI_STD_NUM_BARS } from '../epc/epc-features.js';

/**
 * The pci-ep-dma metadata BAR binary format (include/linux/pci-ep-dma.h, revision 1), as
 * constants. Everything else in this folder reads and writes the blob only through these names,
 * so a later revision of the format is a change to this file first.
 *
 * Two header layouts exist:
 * - 'v4': the posted series v1-v4. Header 0x1c bytes; the host request H lives in CTRL bit 30,
 *   next to the EP's READY bit 31, so host and EP both read-modify-write the same dword.
 * - 'host-ctrl': the later intel-lab-lkp layout. Header 0x20 bytes; H moves to its own HOST_CTRL
 *   dword at 0x1c (bit 0), CTRL bits 30:27 become reserved and the tables start at 0x20.
 */

export type HeaderLayout = 'v4' | 'host-ctrl';

/** "PEDM" as little-endian bytes P, E, D, M. */
export const PCI_EP_DMA_METADATA_MAGIC = 0x4d444550;
export const PCI_EP_DMA_METADATA_REV = 0x1;

// Header dword offsets.
export const PCI_EP_DMA_METADATA_MAGIC_OFF = 0x00;
export const PCI_EP_DMA_METADATA_HDR = 0x04;
export const PCI_EP_DMA_METADATA_CTRL = 0x08;
export const PCI_EP_DMA_METADATA_REG_OFF_LO = 0x0c;
export const PCI_EP_DMA_METADATA_REG_OFF_HI = 0x10;
export const PCI_EP_DMA_METADATA_REG_LAYOUT = 0x14;
export const PCI_EP_DMA_METADATA_REG_SIZE = 0x18;

/** Header length of the v1-v4 layout; also the smallest BAR the host will look at. */
export const PCI_EP_DMA_METADATA_HDR_LEN = 0x1c;

// HDR dword fields.
export const HDR_REV_MASK = 0x000000ff; // GENMASK(7, 0)
export const HDR_REV_SHIFT = 0;
export const HDR_LEN_FIELD_MASK = 0xffff0000; // GENMASK(31, 16)
export const HDR_LEN_FIELD_SHIFT = 16;
/** The length field is 16 bits wide: a blob is at most 0xffff bytes. */
export const METADATA_MAX_LENGTH = 0xffff;

// CTRL dword fields.
export const CTRL_REG_BAR_MASK = 0x00000007; // GENMASK(2, 0)
export const CTRL_REG_BAR_SHIFT = 0;
export const CTRL_WR_CH_COUNT_MASK = 0x000007f8; // GENMASK(10, 3)
export const CTRL_WR_CH_COUNT_SHIFT = 3;
export const CTRL_RD_CH_COUNT_MASK = 0x0007f800; // GENMASK(18, 11)
export const CTRL_RD_CH_COUNT_SHIFT = 11;
export const CTRL_CH_ENTRY_SIZE_MASK = 0x07f80000; // GENMASK(26, 19)
export const CTRL_CH_ENTRY_SIZE_SHIFT = 19;
/** H: set only by the host once it has found and validated the metadata (v4 layout). */
export const CTRL_HOST_REQ = 0x40000000; // BIT(30)
/** R: set only by the EP once every window the metadata describes is programmed. */
export const CTRL_READY = 0x80000000; // BIT(31), kept unsigned on purpose

// REG_LAYOUT dword fields.
export const REG_LAYOUT_ID_MASK = 0x000000ff; // GENMASK(7, 0)
export const REG_LAYOUT_ID_SHIFT = 0;
export const REG_LAYOUT_DATA_MASK = 0x0000ff00; // GENMASK(15, 8)
export const REG_LAYOUT_DATA_SHIFT = 8;
export const PCI_EP_DMA_METADATA_REG_LAYOUT_DW_EDMA = 0x1;

/** `enum dw_edma_map_format` values carried in the layout data byte. */
export const DW_EDMA_MF_EDMA_LEGACY = 0x0;
const DW_EDMA_MF_EDMA_UNROLL = 0x1;
const DW_EDMA_MF_HDMA_COMPAT = 0x5;
const DW_EDMA_MF_HDMA_NATIVE = 0x7;

export type MapFormatName = 'legacy' | 'unroll' | 'hdma-compat' | 'hdma-native';

export const MAP_FORMAT_VALUES: Readonly<Record<MapFormatName, number>> = {
  legacy: DW_EDMA_MF_EDMA_LEGACY,
  unroll: DW_EDMA_MF_EDMA_UNROLL,
  'hdma-compat': DW_EDMA_MF_HDMA_COMPAT,
  'hdma-native': DW_EDMA_MF_HDMA_NATIVE,
};

export function mapFormatName(value: number): MapFormatName | undefined {
  switch (value) {
    case DW_EDMA_MF_EDMA_LEGACY:
      return 'legacy';
    case DW_EDMA_MF_EDMA_UNROLL:
      return 'unroll';
    case DW_EDMA_MF_HDMA_COMPAT:
      return 'hdma-compat';
    case DW_EDMA_MF_HDMA_NATIVE:
      return 'hdma-native';
    default:
      return undefined;
  }
}

// Channel table entry.
export const PCI_EP_DMA_METADATA_CH_ENTRY_SIZE = 0x2c;
/** The entry-size field is 8 bits wide. */
export const METADATA_MAX_ENTRY_SIZE = 0xff;
export const PCI_EP_DMA_METADATA_CH_CTRL = 0x00;
export const CH_DESC_OFF_LO = 0x04;
export const CH_DESC_OFF_HI = 0x08;
export const CH_DESC_SIZE = 0x0c;
export const CH_DESC_ADDR_LO = 0x10;
export const CH_DESC_ADDR_HI = 0x14;
export const CH_AUX_OFF_LO = 0x18;
export const CH_AUX_OFF_HI = 0x1c;
export const CH_AUX_SIZE = 0x20;
export const CH_AUX_ADDR_LO = 0x24;
export const CH_AUX_ADDR_HI = 0x28;

// CH_CTRL dword fields.
export const CH_CTRL_HW_CH_MASK = 0x000000ff; // GENMASK(7, 0)
export const CH_CTRL_HW_CH_SHIFT = 0;
export const CH_CTRL_DESC_BAR_MASK = 0x00000700; // GENMASK(10, 8)
export const CH_CTRL_DESC_BAR_SHIFT = 8;
export const CH_CTRL_AUX_BAR_MASK = 0x00007000; // GENMASK(14, 12)
export const CH_CTRL_AUX_BAR_SHIFT = 12;
export const CH_CTRL_AUX_VALID = 0x00010000; // BIT(16)

/** Consumers cap each direction at EDMA_MAX_WR_CH / EDMA_MAX_RD_CH. */
export const EDMA_MAX_WR_CH = 8;
export const EDMA_MAX_RD_CH = 8;
/** PCI_STD_NUM_BARS - 1: BAR indices are 0..5 even though the fields are 3 bits wide. */
export const PCI_STD_MAX_BAR = PCI_STD_NUM_BARS - 1;

// Later (intel-lab-lkp, post-v4) layout.
const PCI_EP_DMA_METADATA_HDR_LEN_HOST_CTRL = 0x20;
export const PCI_EP_DMA_METADATA_HOST_CTRL = 0x1c;
export const HOST_CTRL_REQ = 0x00000001; // BIT(0)

/** Handshake timing the kernel uses (the model's pollers take these as defaults). */
export const PCI_EPF_DMA_HOST_REQ_POLL_MS = 500;
export const DW_PCIE_EP_DMA_READY_POLL_US = 1000;
export const DW_PCIE_EP_DMA_READY_TIMEOUT_US = 2_000_000;

export function headerLength(headerLayout: HeaderLayout): number {
  return headerLayout === 'host-ctrl'
    ? PCI_EP_DMA_METADATA_HDR_LEN_HOST_CTRL
    : PCI_EP_DMA_METADATA_HDR_LEN;
}

/** Extracts a field; `>>> 0` keeps bit 31 fields unsigned in JS. */
export function getField(word: number, mask: number, shift: number): number {
  return ((word & mask) >>> shift) >>> 0;
}

/** Places a field; callers validate the range first so nothing spills into a neighbour. */
export function putField(value: number, mask: number, shift: number): number {
  return ((value << shift) & mask) >>> 0;
}

export function isHeaderLayout(value: unknown): value is HeaderLayout {
  return value === 'v4' || value === 'host-ctrl';
}
