import { EpdmaError, hex, type EpdmaErrorCode } from '../errors.js';
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
  DW_EDMA_MF_EDMA_LEGACY,
  EDMA_MAX_RD_CH,
  EDMA_MAX_WR_CH,
  HDR_LEN_FIELD_MASK,
  HDR_LEN_FIELD_SHIFT,
  HDR_REV_MASK,
  HDR_REV_SHIFT,
  HOST_CTRL_REQ,
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
  PCI_EP_DMA_METADATA_REV,
  PCI_STD_MAX_BAR,
  REG_LAYOUT_DATA_MASK,
  REG_LAYOUT_DATA_SHIFT,
  REG_LAYOUT_ID_MASK,
  REG_LAYOUT_ID_SHIFT,
  getField,
  headerLength,
  isHeaderLayout,
  mapFormatName,
  type HeaderLayout,
  type MapFormatName,
} from './metadata-format.js';
import type { ChannelEntry, MetadataLayout, MetadataWindow } from './metadata-layout.js';
import { join64Big } from './metadata-u64.js';

export interface ParseMetadataOptions {
  /** The BAR the blob was read from; only used to name it in messages. */
  barIndex?: number;
  /**
   * Sizes of BARs 0..5 as the host sees them. A window is checked against its BAR only when that
   * BAR's size is known here (undefined = unknown, 0 = BAR not implemented). Without it only
   * emptiness and BAR index are checked.
   */
  barSizes?: readonly (number | undefined)[];
  headerLayout?: HeaderLayout;
}

/** What rules 1-9 of the host's header validation establish. */
export interface MetadataHeader {
  headerLayout: HeaderLayout;
  headerLength: number;
  revision: number;
  length: number;
  regBar: number;
  layoutId: number;
  mapFormat: MapFormatName;
  writeCount: number;
  readCount: number;
  entrySize: number;
  hostRequest: boolean;
  ready: boolean;
  writeTableOffset: number;
  readTableOffset: number;
  tableEnd: number;
}

/**
 * Bounds-checked 32-bit LE reads over any Uint8Array view (byteOffset respected). Every read of
 * the blob goes through here, so a hostile blob can produce an EpdmaError but never a RangeError.
 */
class BarReader {
  private readonly view: DataView;
  readonly length: number;

  constructor(
    bar: Uint8Array,
    private readonly ctx: ParseContext,
  ) {
    this.view = new DataView(bar.buffer, bar.byteOffset, bar.byteLength);
    this.length = bar.byteLength;
  }

  word(offset: number): number {
    if (offset < 0 || offset + 4 > this.length) {
      this.ctx.fail('EINVAL', `read of dword ${hex(offset)} beyond BAR length ${hex(this.length)}`);
    }
    return this.view.getUint32(offset, true);
  }

  /** The full u64 from its lo/hi dwords: like the kernel, any value is accepted. */
  u64(loOffset: number, hiOffset: number): bigint {
    const lo = this.word(loOffset);
    return join64Big(this.word(hiOffset), lo);
  }
}

class ParseContext {
  private readonly prefix: string;

  constructor(
    barIndex: number | undefined,
    readonly barSizes: readonly (number | undefined)[] | undefined,
  ) {
    this.prefix = barIndex === undefined ? 'metadata' : `BAR${barIndex} metadata`;
  }

  fail(code: EpdmaErrorCode, message: string): never {
    throw new EpdmaError(code, `${this.prefix}: ${message}`);
  }

  barSize(bar: number): number | undefined {
    const size = this.barSizes?.[bar];
    return typeof size === 'number' && Number.isSafeInteger(size) && size >= 0 ? size : undefined;
  }

  /**
   * The kernel's "valid non-empty in-BAR range": BAR 0..5, size > 0, and [offset, offset+size)
   * inside the BAR when its size is known. Written as offset <= barSize - size, the kernel's
   * overflow-free form, on the exact 64-bit offset.
   */
  checkRange(field: string, bar: number, offset: bigint, size: number): void {
    if (bar > PCI_STD_MAX_BAR) this.fail('EINVAL', `${field} BAR ${hex(bar)} above ${PCI_STD_MAX_BAR}`);
    if (size === 0) this.fail('EINVAL', `${field} window empty (size 0x0)`);
    const barSize = this.barSize(bar);
    if (barSize !== undefined && (size > barSize || offset > BigInt(barSize - size))) {
      this.fail(
        'EINVAL',
        `${field} window ${hex(offset)}+${hex(size)} outside BAR${bar} size ${hex(barSize)}`,
      );
    }
  }
}

function makeContext(bar: unknown, options: ParseMetadataOptions | undefined): ParseContext {
  const barIndex = options?.barIndex;
  const validIndex =
    barIndex === undefined ||
    (Number.isInteger(barIndex) && barIndex >= 0 && barIndex <= PCI_STD_MAX_BAR);
  const ctx = new ParseContext(validIndex ? barIndex : undefined, options?.barSizes);
  if (!validIndex) ctx.fail('EINVAL', `barIndex ${String(barIndex)} not in 0..${PCI_STD_MAX_BAR}`);
  const headerLayout = options?.headerLayout ?? 'v4';
  if (!isHeaderLayout(headerLayout)) ctx.fail('EINVAL', `header layout ${String(headerLayout)} unknown`);
  if (!(bar instanceof Uint8Array)) ctx.fail('EINVAL', 'BAR contents must be a Uint8Array');
  return ctx;
}

/**
 * Rules 1-9 of parse_ep_dma_caps() (reference 5.2) in the kernel's order with its error kinds:
 * what the host checks before it sets H. ENODEV means "not this BAR, try the next one"; anything
 * else fails the probe.
 */
export function validateMetadataHeader(
  bar: Uint8Array,
  options?: ParseMetadataOptions,
): MetadataHeader {
  const ctx = makeContext(bar, options);
  const headerLayout: HeaderLayout = options?.headerLayout ?? 'v4';
  return readHeader(new BarReader(bar, ctx), ctx, headerLayout);
}

function readHeader(r: BarReader, ctx: ParseContext, headerLayout: HeaderLayout): MetadataHeader {
  const hdrLen = headerLength(headerLayout);
  // The host skips BARs smaller than the header before it maps them.
  if (r.length < hdrLen) {
    ctx.fail('ENODEV', `BAR length ${hex(r.length)} below header length ${hex(hdrLen)}: not this BAR`);
  }

  // 1. magic
  const magic = r.word(PCI_EP_DMA_METADATA_MAGIC_OFF);
  if (magic !== PCI_EP_DMA_METADATA_MAGIC) {
    ctx.fail('ENODEV', `magic ${hex(magic)} is not ${hex(PCI_EP_DMA_METADATA_MAGIC)}: not this BAR`);
  }

  // 2. revision
  const hdr = r.word(PCI_EP_DMA_METADATA_HDR);
  const revision = getField(hdr, HDR_REV_MASK, HDR_REV_SHIFT);
  if (revision !== PCI_EP_DMA_METADATA_REV) {
    ctx.fail('EINVAL', `revision ${hex(revision)} is not ${hex(PCI_EP_DMA_METADATA_REV)}`);
  }

  // 3. length
  const length = getField(hdr, HDR_LEN_FIELD_MASK, HDR_LEN_FIELD_SHIFT);
  if (length < hdrLen) ctx.fail('EINVAL', `length ${hex(length)} below header length ${hex(hdrLen)}`);
  if (length > r.length) ctx.fail('EINVAL', `length ${hex(length)} exceeds BAR length ${hex(r.length)}`);

  // 4. register layout id
  const regLayout = r.word(PCI_EP_DMA_METADATA_REG_LAYOUT);
  const layoutId = getField(regLayout, REG_LAYOUT_ID_MASK, REG_LAYOUT_ID_SHIFT);
  if (layoutId !== PCI_EP_DMA_METADATA_REG_LAYOUT_DW_EDMA) {
    ctx.fail('EOPNOTSUPP', `register layout ${hex(layoutId)} is not DW_EDMA (0x1)`);
  }

  // 5. layout data = dw_edma_map_format
  const mf = getField(regLayout, REG_LAYOUT_DATA_MASK, REG_LAYOUT_DATA_SHIFT);
  if (mf === DW_EDMA_MF_EDMA_LEGACY) ctx.fail('EOPNOTSUPP', `map format ${hex(mf)} (legacy) not supported`);
  const mapFormat = mapFormatName(mf);
  if (mapFormat === undefined) ctx.fail('EINVAL', `map format ${hex(mf)} unknown`);

  // 6. register BAR
  const ctrl = r.word(PCI_EP_DMA_METADATA_CTRL);
  const regBar = getField(ctrl, CTRL_REG_BAR_MASK, CTRL_REG_BAR_SHIFT);
  if (regBar > PCI_STD_MAX_BAR) ctx.fail('EINVAL', `register BAR ${hex(regBar)} above ${PCI_STD_MAX_BAR}`);

  // 7. channel counts
  const writeCount = getField(ctrl, CTRL_WR_CH_COUNT_MASK, CTRL_WR_CH_COUNT_SHIFT);
  const readCount = getField(ctrl, CTRL_RD_CH_COUNT_MASK, CTRL_RD_CH_COUNT_SHIFT);
  if (writeCount === 0 && readCount === 0) ctx.fail('EINVAL', 'write and read channel counts both 0x0');
  if (writeCount > EDMA_MAX_WR_CH) {
    ctx.fail('EINVAL', `write channel count ${hex(writeCount)} above ${EDMA_MAX_WR_CH}`);
  }
  if (readCount > EDMA_MAX_RD_CH) {
    ctx.fail('EINVAL', `read channel count ${hex(readCount)} above ${EDMA_MAX_RD_CH}`);
  }

  // 8. entry size
  const entrySize = getField(ctrl, CTRL_CH_ENTRY_SIZE_MASK, CTRL_CH_ENTRY_SIZE_SHIFT);
  if (entrySize < PCI_EP_DMA_METADATA_CH_ENTRY_SIZE) {
    ctx.fail('EINVAL', `entry size ${hex(entrySize)} below ${hex(PCI_EP_DMA_METADATA_CH_ENTRY_SIZE)}`);
  }
  if (entrySize % 4 !== 0) ctx.fail('EINVAL', `entry size ${hex(entrySize)} not a multiple of 4`);

  // 9. tables inside the blob. Counts <= 8 and entry size <= 0xff keep this far below 2^53, so
  // the kernel's check_mul/add_overflow has no JS counterpart to trip.
  const tableEnd = hdrLen + (writeCount + readCount) * entrySize;
  if (tableEnd > length) ctx.fail('EINVAL', `tables end ${hex(tableEnd)} beyond length ${hex(length)}`);

  const hostRequest =
    headerLayout === 'host-ctrl'
      ? (r.word(PCI_EP_DMA_METADATA_HOST_CTRL) & HOST_CTRL_REQ) !== 0
      : (ctrl & CTRL_HOST_REQ) !== 0;
  return {
    headerLayout,
    headerLength: hdrLen,
    revision,
    length,
    regBar,
    layoutId,
    mapFormat,
    writeCount,
    readCount,
    entrySize,
    hostRequest,
    ready: (ctrl & CTRL_READY) !== 0,
    writeTableOffset: hdrLen,
    readTableOffset: hdrLen + writeCount * entrySize,
    tableEnd,
  };
}

/**
 * The whole of parse_ep_dma_caps(): header rules 1-9, then (as the kernel's second, post-ready
 * pass does) the register window and every channel entry. Pure: reads `bar` once per field and
 * never writes it.
 */
export function parseMetadata(bar: Uint8Array, options?: ParseMetadataOptions): MetadataLayout {
  const ctx = makeContext(bar, options);
  const r = new BarReader(bar, ctx);
  const header = readHeader(r, ctx, options?.headerLayout ?? 'v4');

  const regOffset = r.u64(PCI_EP_DMA_METADATA_REG_OFF_LO, PCI_EP_DMA_METADATA_REG_OFF_HI);
  const regSize = r.word(PCI_EP_DMA_METADATA_REG_SIZE);
  ctx.checkRange('register', header.regBar, regOffset, regSize);

  const write = readTable(r, ctx, 'write', header.writeTableOffset, header.writeCount, header.entrySize);
  const read = readTable(r, ctx, 'read', header.readTableOffset, header.readCount, header.entrySize);

  return {
    revision: header.revision,
    length: header.length,
    regBar: header.regBar,
    regOffset,
    regSize,
    layout: 'dw-edma',
    mapFormat: header.mapFormat,
    hostRequest: header.hostRequest,
    ready: header.ready,
    entrySize: header.entrySize,
    write,
    read,
    headerLayout: header.headerLayout,
  };
}

function readTable(
  r: BarReader,
  ctx: ParseContext,
  dir: 'write' | 'read',
  base: number,
  count: number,
  stride: number,
): ChannelEntry[] {
  const entries: ChannelEntry[] = [];
  for (let index = 0; index < count; index++) {
    const at = base + index * stride;
    const field = `${dir} entry ${index}`;
    const chCtrl = r.word(at + PCI_EP_DMA_METADATA_CH_CTRL);
    const hwChannel = getField(chCtrl, CH_CTRL_HW_CH_MASK, CH_CTRL_HW_CH_SHIFT);
    if (hwChannel !== index) {
      ctx.fail('EOPNOTSUPP', `${field}: hw channel ${hex(hwChannel)} is not its index ${hex(index)}`);
    }
    const descBar = getField(chCtrl, CH_CTRL_DESC_BAR_MASK, CH_CTRL_DESC_BAR_SHIFT);
    const desc = readWindow(r, ctx, `${field} desc`, descBar, {
      offLo: at + CH_DESC_OFF_LO,
      offHi: at + CH_DESC_OFF_HI,
      size: at + CH_DESC_SIZE,
      addrLo: at + CH_DESC_ADDR_LO,
      addrHi: at + CH_DESC_ADDR_HI,
    });
    const entry: ChannelEntry = { hwChannel, desc };
    // With A clear the aux fields are ignored entirely, whatever they hold.
    if ((chCtrl & CH_CTRL_AUX_VALID) !== 0) {
      const auxBar = getField(chCtrl, CH_CTRL_AUX_BAR_MASK, CH_CTRL_AUX_BAR_SHIFT);
      entry.aux = readWindow(r, ctx, `${field} aux`, auxBar, {
        offLo: at + CH_AUX_OFF_LO,
        offHi: at + CH_AUX_OFF_HI,
        size: at + CH_AUX_SIZE,
        addrLo: at + CH_AUX_ADDR_LO,
        addrHi: at + CH_AUX_ADDR_HI,
      });
    }
    entries.push(entry);
  }
  return entries;
}

interface WindowOffsets {
  offLo: number;
  offHi: number;
  size: number;
  addrLo: number;
  addrHi: number;
}

function readWindow(
  r: BarReader,
  ctx: ParseContext,
  field: string,
  bar: number,
  at: WindowOffsets,
): MetadataWindow {
  const offset = r.u64(at.offLo, at.offHi);
  const size = r.word(at.size);
  ctx.checkRange(field, bar, offset, size);
  const addr = r.u64(at.addrLo, at.addrHi);
  return { bar, offset, size, addr };
}
