import { EpdmaError, hex } from '../device/errors.js';
import type { BusHit } from '../device/bus/address-space.js';
import type { DwEdmaChannelRegion, DwEdmaChip } from '../device/dma-chip.js';
import type { ChannelEntry, MetadataLayout } from '../device/metadata/metadata-layout.js';
import { toModelNumber } from '../device/metadata/metadata-u64.js';
import type { PciFunction } from '../device/pci/pci-function.js';
import type { ChannelKind } from '../device/regs/channel-registers.js';
import { channelDirection, channelName, type Direction } from '../device/direction.js';

/** The template of ep_dma_match_data: at most 8 + 8 channels. */
const TEMPLATE_WR = 8;
const TEMPLATE_RD = 8;

/** A delegated channel as the host's DMAengine names it (reference 6.6, remote instance). */
export interface HostChannelInfo {
  readonly name: string;
  readonly kind: ChannelKind;
  readonly hwChannel: number;
  /** write (EP->RC) = the device is the source; read (RC->EP) = host memory is the source. */
  readonly direction: Direction;
}

/** pcim_iomap of (bar, offset, size): the backing the host CPU reaches through the BAR. */
function iomap(fn: PciFunction, bar: number, offset: number, size: number, what: string): BusHit {
  const b = fn.bars[bar];
  if (b === undefined) throw new EpdmaError('EINVAL', `dw-edma-pcie: ${what} is in BAR${bar}, which is not implemented`);
  return b.aperture.iomap(offset, size);
}

/**
 * The dw_edma_chip of dw-edma-pcie for an endpoint DMA function (reference 5.3): PARTIAL and
 * remote (not CHIP_LOCAL), registers and LL regions reached through the BARs, LLP = the EP-local
 * descriptor address from the metadata.
 */
export function buildRemoteChip(fn: PciFunction, md: MetadataLayout): { chip: DwEdmaChip; channels: HostChannelInfo[]; nrIrqs: number } {
  // The metadata may carry any u64 (the parser keeps it); the model's addresses are numbers.
  const regOffset = toModelNumber(md.regOffset, 'register offset', 'dw-edma-pcie');
  const regs = iomap(fn, md.regBar, regOffset, md.regSize, 'register window');
  const registers = regs.region.registers;
  if (registers === undefined) {
    throw new EpdmaError('EOPNOTSUPP', `dw-edma-pcie: register window BAR${md.regBar}+${hex(md.regOffset)} reaches ${regs.region.name}, which is memory, not a DMA register block`);
  }
  if (regs.offset !== 0) {
    throw new EpdmaError('EOPNOTSUPP', `dw-edma-pcie: register window BAR${md.regBar}+${hex(md.regOffset)} lands ${hex(regs.offset)} bytes into ${regs.region.name}; the model needs the window to start at the register block`);
  }
  if (registers.format !== md.mapFormat) {
    throw new EpdmaError('EINVAL', `dw-edma-pcie: metadata map format ${md.mapFormat} but the register block is ${registers.format}`);
  }

  const region = (kind: ChannelKind, e: ChannelEntry): DwEdmaChannelRegion => {
    const field = `${kind} entry ${e.hwChannel} desc`;
    const offset = toModelNumber(e.desc.offset, `${field} offset`, 'dw-edma-pcie');
    const paddr = toModelNumber(e.desc.addr, `${field} addr`, 'dw-edma-pcie');
    const hit = iomap(fn, e.desc.bar, offset, e.desc.size, `${kind} channel ${e.hwChannel} descriptors`);
    if (hit.region.kind !== 'ram') {
      throw new EpdmaError('EOPNOTSUPP', `dw-edma-pcie: ${kind} channel ${e.hwChannel} descriptor window BAR${e.desc.bar}+${hex(e.desc.offset)} reaches ${hit.region.name}, not memory`);
    }
    return {
      hwChannel: e.hwChannel,
      ll: { buffer: hit.region.buffer, bufferOffset: hit.region.bufferOffset + hit.offset, size: e.desc.size, paddr },
    };
  };
  const write = md.write.slice(0, TEMPLATE_WR).map((e) => region('write', e));
  const read = md.read.slice(0, TEMPLATE_RD).map((e) => region('read', e));

  // pci_alloc_irq_vectors(1, wr + rd, MSI | MSI-X)
  const vectors = Math.max(fn.msiVectors, fn.msix?.count ?? 0);
  const nrIrqs = Math.min(write.length + read.length, vectors);
  if (nrIrqs < 1) throw new EpdmaError('EPERM', `dw-edma-pcie: ${fn.bdf}: no MSI/MSI-X vectors enabled`);

  const info = (kind: ChannelKind, c: DwEdmaChannelRegion): HostChannelInfo =>
    ({ name: channelName('host', kind, c.hwChannel), kind, hwChannel: c.hwChannel, direction: channelDirection('host', kind) });
  const channels: HostChannelInfo[] = [...write.map((c) => info('write', c)), ...read.map((c) => info('read', c))];
  const chip: DwEdmaChip = { mapFormat: registers.format, local: false, partial: true, funcNo: fn.funcNo, registers, write, read };
  return { chip, channels, nrIrqs };
}
