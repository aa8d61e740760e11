import { EpdmaError, hex } from '../errors.js';
import {
  CH_AUX_ADDR_HI,
  CH_AUX_ADDR_LO,
  CH_AUX_OFF_HI,
  CH_AUX_OFF_LO,
  CH_AUX_SIZE,
  CH_CTRL_AUX_BAR_MASK,
  CH_CTRL_AUX_BAR_SHIFT,
  CH_CTRL_AUX_VALID,
  CH_CTRL_DESC_BAR_MASK,
  CH_CTRL_DESC_BAR_SHIFT,
  CH_CTRL_HW_CH_MASK,
  CH_CTRL_HW_CH_SHIFT,
  CH_DESC_ADDR_HI,
  CH_DESC_ADDR_LO,
  CH_DESC_OFF_HI,
  CH_DESC_OFF_LO,
  CH_DESC_SIZE,
  CTRL_CH_ENTRY_SIZE_MASK,
  CTRL_CH_ENTRY_SIZE_SHIFT,
  CTRL_HOST_REQ,
  CTRL_RD_CH_COUNT_MASK,
  CTRL_RD_CH_COUNT_SHIFT,
  CTRL_READY,
  CTRL_REG_BAR_MASK,
  CTRL_REG_BAR_SHIFT,
  CTRL_WR_CH_COUNT_MASK,
  CTRL_WR_CH_COUNT_SHIFT,
  EDMA_MAX_RD_CH,
  EDMA_MAX_WR_CH,
  HDR_LEN_FIELD_MASK,
  HDR_LEN_FIELD_SHIFT,
  HDR_REV_MASK,
  HDR_REV_SHIFT,
  HOST_CTRL_REQ,
  MAP_FORMAT_VALUES,
  METADATA_MAX_ENTRY_SIZE,
  METADATA_MAX_LENGTH,
  PCI_EP_DMA_METADATA_CH_CTRL,
  PCI_EP_DMA_METADATA_CH_ENTRY_SIZE,
  PCI_EP_DMA_METADATA_CTRL,
  PCI_EP_DMA_METADATA_HDR,
  PCI_EP_DMA_METADATA_HOST_CTRL,
  PCI_EP_DMA_METADATA_MAGIC,
  PCI_EP_DMA_METADATA_MAGIC_OFF,
  PCI_EP_DMA_METADATA_REG_LAYOUT,
  PCI_EP_DMA_METADATA_REG_LAYOUT_DW_EDMA,
  PCI_EP_DMA_METADATA_REG_OFF_HI,
  PCI_EP_DMA_METADATA_REG_OFF_LO,
  PCI_EP_DMA_METADATA_REG_SIZE,
  PCI_STD_MAX_BAR,
  REG_LAYOUT_DATA_MASK,
  REG_LAYOUT_DATA_SHIFT,
  REG_LAYOUT_ID_MASK,
  REG_LAYOUT_ID_SHIFT,
  headerLength,
  isHeaderLayout,
  putField,
  type HeaderLayout,
} from './metadata-format.js';
import type { ChannelEntry, MetadataLayout, MetadataWindow } from './metadata-layout.js';
import { isU64, lower32Big, upper32Big } from './metadata-u64.js';

const MAX_U32 = 0xffffffff;

/** Bytes a blob with these counts occupies: header plus both tables. */
export function metadataLength(
  wr: number,
  rd: number,
  entrySize: number = PCI_EP_DMA_METADATA_CH_ENTRY_SIZE,
  headerLayout: HeaderLayout = 'v4',
): number {
  return headerLength(headerLayout) + (wr + rd) * entrySize;
}

/**
 * Writes the blob exactly as pci-epf-dma's build_layout() would: 32-bit little-endian words,
 * reserved bits and reserved bytes zero, H and R taken from the layout. Refuses anything the
 * format cannot carry rather than truncating it into a neighbouring field; it does not refuse
 * things only a consumer objects to (a legacy map format, say), so tests and tools can build
 * blobs the host must reject.
 */
export function encodeMetadata(layout: MetadataLayout): Uint8Array {
  if (typeof layout !== 'object' || layout === null) invalid(`layout ${String(layout)} is not an object`);
  for (const table of ['write', 'read'] as const) {
    if (!Array.isArray(layout[table])) invalid(`${table} table ${String(layout[table])} is not an array`);
    for (const [i, e] of layout[table].entries()) {
      if (typeof e !== 'object' || e === null) invalid(`${table} entry ${i} ${String(e)} is not an object`);
    }
  }
  const headerLayout = layout.headerLayout ?? 'v4';
  if (!isHeaderLayout(headerLayout)) invalid(`header layout ${String(headerLayout)} unknown`);
  const hdrLen = headerLength(headerLayout);

  checkUint(layout.revision, HDR_REV_MASK, 'revision');
  if (layout.layout !== 'dw-edma') invalid(`register layout ${String(layout.layout)} unknown`);
  const mapFormat = Object.hasOwn(MAP_FORMAT_VALUES, layout.mapFormat)
    ? MAP_FORMAT_VALUES[layout.mapFormat]
    : invalid(`map format ${String(layout.mapFormat)} unknown`);
  checkBar(layout.regBar, 'register BAR');
  checkU64(layout.regOffset, 'register offset');
  checkUint(layout.regSize, MAX_U32, 'register size');

  const wr = layout.write.length;
  const rd = layout.read.length;
  if (wr > EDMA_MAX_WR_CH) invalid(`write channel count ${wr} above ${EDMA_MAX_WR_CH}`);
  if (rd > EDMA_MAX_RD_CH) invalid(`read channel count ${rd} above ${EDMA_MAX_RD_CH}`);

  const entrySize = layout.entrySize;
  checkUint(entrySize, METADATA_MAX_ENTRY_SIZE, 'entry size');
  if (entrySize < PCI_EP_DMA_METADATA_CH_ENTRY_SIZE) {
    invalid(`entry size ${hex(entrySize)} below ${hex(PCI_EP_DMA_METADATA_CH_ENTRY_SIZE)}`);
  }
  if (entrySize % 4 !== 0) invalid(`entry size ${hex(entrySize)} not a multiple of 4`);

  const needed = metadataLength(wr, rd, entrySize, headerLayout);
  checkUint(layout.length, METADATA_MAX_LENGTH, 'length');
  if (layout.length < needed) {
    invalid(`length ${hex(layout.length)} below header and tables ${hex(needed)}`);
  }

  const blob = new Uint8Array(layout.length);
  const view = new DataView(blob.buffer);
  const put = (offset: number, value: number): void => view.setUint32(offset, value >>> 0, true);

  put(PCI_EP_DMA_METADATA_MAGIC_OFF, PCI_EP_DMA_METADATA_MAGIC);
  put(
    PCI_EP_DMA_METADATA_HDR,
    putField(layout.revision, HDR_REV_MASK, HDR_REV_SHIFT) |
      putField(layout.length, HDR_LEN_FIELD_MASK, HDR_LEN_FIELD_SHIFT),
  );
  let ctrl =
    putField(layout.regBar, CTRL_REG_BAR_MASK, CTRL_REG_BAR_SHIFT) |
    putField(wr, CTRL_WR_CH_COUNT_MASK, CTRL_WR_CH_COUNT_SHIFT) |
    putField(rd, CTRL_RD_CH_COUNT_MASK, CTRL_RD_CH_COUNT_SHIFT) |
    putField(entrySize, CTRL_CH_ENTRY_SIZE_MASK, CTRL_CH_ENTRY_SIZE_SHIFT);
  if (layout.ready) ctrl |= CTRL_READY;
  if (layout.hostRequest && headerLayout === 'v4') ctrl |= CTRL_HOST_REQ;
  put(PCI_EP_DMA_METADATA_CTRL, ctrl);
  put(PCI_EP_DMA_METADATA_REG_OFF_LO, lower32Big(layout.regOffset));
  put(PCI_EP_DMA_METADATA_REG_OFF_HI, upper32Big(layout.regOffset));
  put(
    PCI_EP_DMA_METADATA_REG_LAYOUT,
    putField(PCI_EP_DMA_METADATA_REG_LAYOUT_DW_EDMA, REG_LAYOUT_ID_MASK, REG_LAYOUT_ID_SHIFT) |
      putField(mapFormat, REG_LAYOUT_DATA_MASK, REG_LAYOUT_DATA_SHIFT),
  );
  put(PCI_EP_DMA_METADATA_REG_SIZE, layout.regSize);
  if (headerLayout === 'host-ctrl') {
    put(PCI_EP_DMA_METADATA_HOST_CTRL, layout.hostRequest ? HOST_CTRL_REQ : 0);
  }

  const tables: Array<[string, ChannelEntry[], number]> = [
    ['write', layout.write, hdrLen],
    ['read', layout.read, hdrLen + wr * entrySize],
  ];
  for (const [dir, entries, base] of tables) {
    entries.forEach((entry, index) => {
      const at = base + index * entrySize;
      const field = `${dir} entry ${index}`;
      if (entry.hwChannel !== index) {
        invalid(`${field}: hw channel ${String(entry.hwChannel)} is not its index ${index}`);
      }
      checkWindow(entry.desc, `${field} desc`);
      let chCtrl =
        putField(entry.hwChannel, CH_CTRL_HW_CH_MASK, CH_CTRL_HW_CH_SHIFT) |
        putField(entry.desc.bar, CH_CTRL_DESC_BAR_MASK, CH_CTRL_DESC_BAR_SHIFT);
      put(at + CH_DESC_OFF_LO, lower32Big(entry.desc.offset));
      put(at + CH_DESC_OFF_HI, upper32Big(entry.desc.offset));
      put(at + CH_DESC_SIZE, entry.desc.size);
      put(at + CH_DESC_ADDR_LO, lower32Big(entry.desc.addr));
      put(at + CH_DESC_ADDR_HI, upper32Big(entry.desc.addr));
      if (entry.aux !== undefined) {
        checkWindow(entry.aux, `${field} aux`);
        chCtrl |=
          putField(entry.aux.bar, CH_CTRL_AUX_BAR_MASK, CH_CTRL_AUX_BAR_SHIFT) | CH_CTRL_AUX_VALID;
        put(at + CH_AUX_OFF_LO, lower32Big(entry.aux.offset));
        put(at + CH_AUX_OFF_HI, upper32Big(entry.aux.offset));
        put(at + CH_AUX_SIZE, entry.aux.size);
        put(at + CH_AUX_ADDR_LO, lower32Big(entry.aux.addr));
        put(at + CH_AUX_ADDR_HI, upper32Big(entry.aux.addr));
      }
      put(at + PCI_EP_DMA_METADATA_CH_CTRL, chCtrl);
    });
  }
  return blob;
}

function invalid(message: string): never {
  throw new EpdmaError('EINVAL', `metadata: ${message}`);
}

function checkUint(value: unknown, max: number, field: string): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > max) {
    invalid(`${field} ${describe(value)} not an integer in 0..${hex(max)}`);
  }
}

/** 64-bit fields are bigints: every u64 is carried, nothing wider is truncated into it. */
function checkU64(value: unknown, field: string): void {
  if (!isU64(value)) invalid(`${field} ${describe(value)} not a bigint in 0..2^64-1`);
}

function checkBar(value: unknown, field: string): void {
  checkUint(value, PCI_STD_MAX_BAR, field);
}

function checkWindow(window: MetadataWindow, field: string): void {
  if (typeof window !== 'object' || window === null) invalid(`${field} window missing`);
  checkBar(window.bar, `${field} BAR`);
  checkU64(window.offset, `${field} offset`);
  checkUint(window.size, MAX_U32, `${field} size`);
  checkU64(window.addr, `${field} addr`);
}

function describe(value: unknown): string {
  if (typeof value === 'bigint' && value >= 0n) return hex(value);
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0) return hex(value);
  return typeof value === 'bigint' ? `-${hex(-value)}` : String(value);
}
