import { EpdmaError, isEpdmaError } from '../device/errors.js';
import { headerLength, METADATA_MAX_LENGTH, PCI_EP_DMA_METADATA_HDR_LEN, PCI_EP_DMA_METADATA_MAGIC, type HeaderLayout } from '../device/metadata/metadata-format.js';
import { validateMetadataHeader, type MetadataHeader } from '../device/metadata/metadata-parser.js';
import type { PciBar, PciFunction } from '../device/pci/pci-function.js';
import { PCI_STD_NUM_BARS } from '../device/epc/epc-features.js';

/** The BAR that carries the metadata, mapped whole (pcim_iomap) as bytes and as 32-bit words. */
export interface DiscoveredMetadata {
  readonly bar: PciBar;
  /** Live view of the BAR: EP writes (R) show up here, host writes (H) land in the EP's memory. */
  readonly bytes: Uint8Array;
  readonly words: Uint32Array;
  readonly header: MetadataHeader;
}

/** A PCIe read that hits no inbound window completes as Unsupported Request: all ones. */
const UR_DATA = 0xffffffff;

function readWord(bar: PciBar, offset: number): number {
  try {
    return bar.aperture.read32(offset);
  } catch {
    return UR_DATA;
  }
}

/** Word-by-word copy through the BAR for BARs that are not one memory window. */
function snapshot(bar: PciBar, length: number): Uint8Array {
  const out = new Uint8Array(length);
  const dv = new DataView(out.buffer);
  for (let off = 0; off + 4 <= length; off += 4) dv.setUint32(off, readWord(bar, off), true);
  return out;
}

/** The whole BAR as one RAM window, or undefined (MMIO, partly mapped, or several windows). */
function mapWhole(bar: PciBar): Uint8Array | undefined {
  try {
    const hit = bar.aperture.iomap(0, bar.size);
    if (hit.region.kind !== 'ram') return undefined;
    return new Uint8Array(hit.region.buffer, hit.region.bufferOffset + hit.offset, bar.size);
  } catch {
    return undefined;
  }
}

/**
 * The BAR scan of parse_ep_dma_caps() (reference 5.2): BARs 0..5 in order, skipping missing
 * ones and those smaller than the header; the first with the magic wins. ENODEV from the
 * validator means "not this BAR"; any other error ends the probe.
 */
export function discoverMetadata(fn: PciFunction, headerLayout: HeaderLayout): DiscoveredMetadata {
  for (let i = 0; i < PCI_STD_NUM_BARS; i++) {
    const bar = fn.bars[i];
    if (bar === undefined || bar.size < PCI_EP_DMA_METADATA_HDR_LEN) continue;
    const live = mapWhole(bar);
    let bytes: Uint8Array;
    if (live !== undefined) {
      bytes = live;
    } else if (readWord(bar, 0) !== PCI_EP_DMA_METADATA_MAGIC) {
      // Not ours; the validator still decides, on just the header.
      bytes = snapshot(bar, Math.min(bar.size, headerLength(headerLayout)));
    } else {
      bytes = snapshot(bar, Math.min(bar.size, METADATA_MAX_LENGTH + 1));
    }
    let header: MetadataHeader;
    try {
      header = validateMetadataHeader(bytes, { barIndex: i, headerLayout });
    } catch (err) {
      if (isEpdmaError(err, 'ENODEV')) continue;
      throw err;
    }
    if (live === undefined) {
      throw new EpdmaError('EOPNOTSUPP', `dw-edma-pcie: metadata found in BAR${i}, but the BAR is not one memory window the handshake can use`);
    }
    return { bar, bytes, words: new Uint32Array(live.buffer, live.byteOffset, live.byteLength >>> 2), header };
  }
  throw new EpdmaError('ENODEV', `dw-edma-pcie: ${fn.bdf}: no BAR carries the endpoint DMA metadata magic`);
}
