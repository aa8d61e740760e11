import { EpdmaError, hex } from '../device/errors.js';
import type { AuxDmaCtrl, AuxDmaDescMem } from '../device/epc/aux-resource.js';
import type { BarSpace, EndpointController } from '../device/epc/endpoint-controller.js';
import { alignDown, alignUp, NO_BAR } from '../device/epc/epc-features.js';
import { encodeMetadata, metadataLength } from '../device/metadata/metadata-encoder.js';
import { PCI_EP_DMA_METADATA_CH_ENTRY_SIZE, PCI_EP_DMA_METADATA_REV, type HeaderLayout } from '../device/metadata/metadata-format.js';
import type { ChannelEntry, MetadataLayout } from '../device/metadata/metadata-layout.js';
import type { BarAssignment } from './epf-bar-choice.js';
import type { SelectedResources } from './epf-resources.js';

/** PCI_MSIX_ENTRY_SIZE */
const MSIX_ENTRY_SIZE = 16;

type MappedResource = AuxDmaCtrl | AuxDmaDescMem;

/** Where one resource is host-visible: a fixed BAR in place, or inside the DMA window BAR. */
interface ResourceMap {
  readonly resource: MappedResource;
  readonly bar: number;
  /** BAR offset of the resource's first byte. */
  readonly offset: number;
  readonly phys: number;
  readonly size: number;
  readonly needsSubmap: boolean;
}

/** One subrange mapping of the DMA window BAR; `padding` is the trailing scratch submap. */
interface WindowSubmap {
  readonly barOffset: number;
  readonly phys: number;
  readonly size: number;
  readonly padding: boolean;
}

export interface WindowPlan {
  readonly maps: ReadonlyMap<MappedResource, ResourceMap>;
  /** Resource windows in BAR order (no padding yet). */
  readonly submaps: readonly WindowSubmap[];
  /** Sum of the submaps: the window BAR size before rounding. */
  readonly size: number;
}

/**
 * The map loop of build_layout() (reference 3.4), pure: a fixed-BAR resource is referenced in
 * place; a NO_BAR resource (EINVAL if empty) gets the align-expanded span of its physical
 * range, reusing a submap that already covers the span, else extending the tail submap when the
 * span starts exactly where the tail ends physically, else appending a submap at the running
 * BAR offset.
 */
export function planWindow(
  resources: readonly MappedResource[],
  align: number,
  metadataBar: number,
  windowBar: number | undefined,
): WindowPlan {
  const maps = new Map<MappedResource, ResourceMap>();
  const submaps: { barOffset: number; phys: number; size: number; padding: boolean }[] = [];
  let running = 0;
  for (const res of resources) {
    if (maps.has(res)) continue;
    const what = res.type === 'dma-ctrl-mmio' ? 'register window' : `descriptor memory ${res.id}`;
    if (res.bar !== NO_BAR) {
      if (res.bar === metadataBar || res.bar === windowBar) {
        throw new EpdmaError('EINVAL', `pci_epf_dma: ${what} is fixed in BAR${res.bar}, which is the ${res.bar === metadataBar ? 'metadata' : 'DMA window'} BAR`);
      }
      maps.set(res, { resource: res, bar: res.bar, offset: res.barOffset, phys: res.physAddr, size: res.size, needsSubmap: false });
      continue;
    }
    if (windowBar === undefined) throw new EpdmaError('EOPNOTSUPP', `pci_epf_dma: ${what} is not host-visible and there is no DMA window BAR`);
    // Only mapping refuses empty memory (after delegation and the BAR checks): a zero span would
    // be a submap of nothing, and the host would find an empty window in the metadata.
    if (res.size <= 0) throw new EpdmaError('EINVAL', `pci_epf_dma: ${what} has size ${hex(res.size)}: nothing to map`);
    const start = alignDown(res.physAddr, align);
    const inner = res.physAddr - start;
    const span = alignUp(res.size + inner, align);
    let offset: number;
    const cover = submaps.find((s) => s.phys <= start && start + span <= s.phys + s.size);
    const tail = submaps[submaps.length - 1];
    if (cover !== undefined) {
      offset = cover.barOffset + (start - cover.phys) + inner;
    } else if (tail !== undefined && tail.phys + tail.size === start) {
      offset = tail.barOffset + tail.size + inner;
      tail.size += span;
      running += span;
    } else {
      submaps.push({ barOffset: running, phys: start, size: span, padding: false });
      offset = running + inner;
      running += span;
    }
    maps.set(res, { resource: res, bar: windowBar, offset, phys: res.physAddr, size: res.size, needsSubmap: true });
  }
  return { maps, submaps, size: running };
}

/** Everything bind() built: the two BARs' memory, the maps, the submaps and the metadata. */
export interface EpfLayout {
  readonly metadataBar: number;
  readonly windowBar: number | undefined;
  /** Blob length (header + tables). */
  readonly metadataLength: number;
  /** Metadata plus MSI-X table and PBA, rounded up to the EPC align: the backing requested. */
  readonly metadataBackingSize: number;
  readonly msixTableOffset: number | undefined;
  readonly msixPbaOffset: number | undefined;
  readonly metadataSpace: BarSpace;
  readonly windowSpace: BarSpace | undefined;
  readonly ctrlMap: ResourceMap;
  readonly writeMaps: readonly ResourceMap[];
  readonly readMaps: readonly ResourceMap[];
  /** Resource submaps then, if the BAR is larger, the padding submap: they tile the BAR. */
  readonly submaps: readonly WindowSubmap[];
  readonly metadata: MetadataLayout;
}

export interface LayoutInput {
  readonly selected: SelectedResources;
  readonly bars: BarAssignment;
  readonly msixInterrupts: number;
  readonly headerLayout: HeaderLayout;
}

/**
 * build_layout(): sizes and allocates the metadata BAR (metadata, then the MSI-X table at
 * ALIGN(size, 8) and its PBA), plans the window, allocates the window BAR with a trailing
 * padding submap onto its own scratch memory, and writes the metadata. Frees what it
 * allocated if anything fails.
 */
export function buildLayout(epc: EndpointController, input: LayoutInput): EpfLayout {
  const { selected: sel, bars } = input;
  const align = epc.features.align;
  const wr = sel.write.length;
  const rd = sel.read.length;
  const blobLength = metadataLength(wr, rd, PCI_EP_DMA_METADATA_CH_ENTRY_SIZE, input.headerLayout);
  let size = blobLength;
  let msixTableOffset: number | undefined;
  let msixPbaOffset: number | undefined;
  if (epc.features.msixCapable && input.msixInterrupts > 0) {
    msixTableOffset = alignUp(size, 8);
    msixPbaOffset = msixTableOffset + input.msixInterrupts * MSIX_ENTRY_SIZE;
    size = msixPbaOffset + alignUp(Math.ceil(input.msixInterrupts / 8), 8);
  }
  const backing = alignUp(size, align);

  const allocated: BarSpace[] = [];
  try {
    const metadataSpace = epc.allocSpace(bars.metadataBar, backing);
    allocated.push(metadataSpace);
    const ordered: MappedResource[] = [sel.ctrl, ...sel.write.map((c) => c.desc), ...sel.read.map((c) => c.desc)];
    const plan = planWindow(ordered, align, bars.metadataBar, bars.windowBar);
    const submaps = [...plan.submaps];
    let windowSpace: BarSpace | undefined;
    if (bars.windowBar !== undefined && plan.size > 0) {
      windowSpace = epc.allocSpace(bars.windowBar, plan.size);
      allocated.push(windowSpace);
      windowSpace.block.bytes.fill(0);
      if (windowSpace.barSize > plan.size) {
        // Subrange mappings may not leave gaps: the rest of the BAR shows the scratch memory.
        submaps.push({ barOffset: plan.size, phys: windowSpace.block.phys + plan.size, size: windowSpace.barSize - plan.size, padding: true });
      }
    }
    const map = (r: MappedResource): ResourceMap => plan.maps.get(r)!;
    const ctrlMap = map(sel.ctrl);
    const entry = (m: ResourceMap, i: number): ChannelEntry => ({ hwChannel: i, desc: { bar: m.bar, offset: BigInt(m.offset), size: m.size, addr: BigInt(m.phys) } });
    const writeMaps = sel.write.map((c) => map(c.desc));
    const readMaps = sel.read.map((c) => map(c.desc));
    const metadata: MetadataLayout = {
      revision: PCI_EP_DMA_METADATA_REV,
      length: blobLength,
      regBar: ctrlMap.bar,
      regOffset: BigInt(ctrlMap.offset),
      regSize: sel.ctrl.size,
      layout: 'dw-edma',
      mapFormat: sel.ctrl.mapFormat,
      hostRequest: false,
      ready: false,
      entrySize: PCI_EP_DMA_METADATA_CH_ENTRY_SIZE,
      write: writeMaps.map(entry),
      read: readMaps.map(entry),
      headerLayout: input.headerLayout,
    };
    const blob = encodeMetadata(metadata);
    if (blob.length > metadataSpace.barSize) {
      throw new EpdmaError('EINVAL', `pci_epf_dma: metadata ${hex(blob.length)} bytes exceed metadata BAR${bars.metadataBar} size ${hex(metadataSpace.barSize)}`);
    }
    metadataSpace.block.bytes.fill(0);
    metadataSpace.block.bytes.set(blob, 0);
    return {
      metadataBar: bars.metadataBar,
      windowBar: windowSpace === undefined ? undefined : bars.windowBar,
      metadataLength: blobLength,
      metadataBackingSize: backing,
      msixTableOffset,
      msixPbaOffset,
      metadataSpace,
      windowSpace,
      ctrlMap,
      writeMaps,
      readMaps,
      submaps,
      metadata,
    };
  } catch (err) {
    for (const s of allocated) epc.freeSpace(s);
    throw err;
  }
}
