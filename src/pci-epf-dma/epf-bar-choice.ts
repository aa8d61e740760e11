import { EpdmaError } from '../device/errors.js';
import type { EndpointController } from '../device/epc/endpoint-controller.js';
import { NO_BAR } from '../device/epc/epc-features.js';
import type { BarChoice } from './epf-attributes.js';
import type { SelectedResources } from './epf-resources.js';

export interface BarAssignment {
  readonly metadataBar: number;
  readonly metadataBarAuto: boolean;
  /** Undefined when every resource is already host-visible through a fixed BAR. */
  readonly windowBar: number | undefined;
  readonly windowBarAuto: boolean;
  /** BARs already holding a fixed EPC resource: neither ours to publish nor to remap. */
  readonly fixedBars: ReadonlySet<number>;
}

/**
 * BARs holding any fixed resource the EPC reported (register block, any descriptor memory,
 * doorbell...), selected for delegation or not: the kernel neither publishes nor remaps them.
 */
function fixedResourceBars(sel: SelectedResources): Set<number> {
  const bars = new Set<number>();
  for (const r of sel.resources) {
    if (r.bar !== NO_BAR) bars.add(r.bar);
  }
  return bars;
}

/** True if anything must be mapped through the DMA window BAR. */
function needsDmaWindow(sel: SelectedResources): boolean {
  return [sel.ctrl, ...sel.write.map((c) => c.desc), ...sel.read.map((c) => c.desc)].some((r) => r.bar === NO_BAR);
}

function firstFree(epc: EndpointController, skip: (bar: number) => boolean): number {
  for (let bar = epc.getNextFreeBar(0); bar !== NO_BAR; bar = epc.getNextFreeBar(bar + 1)) {
    if (!skip(bar)) return bar;
  }
  return NO_BAR;
}

function checkExplicit(epc: EndpointController, attr: string, bar: number, fixed: ReadonlySet<number>, metadataBar = NO_BAR): void {
  const type = epc.features.bars[bar]!.type;
  if (type !== 'usable') throw new EpdmaError('EINVAL', `pci_epf_dma: ${attr} ${bar} is ${type}`);
  if (bar === metadataBar) throw new EpdmaError('EINVAL', `pci_epf_dma: ${attr} ${bar} is the metadata BAR`);
  if (fixed.has(bar)) throw new EpdmaError('EINVAL', `pci_epf_dma: ${attr} ${bar} already holds a fixed resource of the EPC`);
}

/**
 * BAR choice (reference 3.3 step 3, 13.4). An automatic metadata BAR skips only BARs holding a
 * fixed resource, not an explicit window BAR: if it lands there, the window check fails bind
 * with EINVAL, as in the kernel. An explicit window BAR is validated even when no window is
 * needed; it is then left unused.
 */
export function chooseBars(epc: EndpointController, sel: SelectedResources, metadataBar: BarChoice, dmaWindowBar: BarChoice): BarAssignment {
  const fixedBars = fixedResourceBars(sel);
  const windowNeeded = needsDmaWindow(sel);

  let meta: number;
  if (metadataBar === 'auto') {
    meta = firstFree(epc, (b) => fixedBars.has(b));
    if (meta === NO_BAR) throw new EpdmaError('EINVAL', 'pci_epf_dma: metadata_bar auto: no free BAR without a fixed resource');
  } else {
    meta = metadataBar;
    checkExplicit(epc, 'metadata_bar', meta, fixedBars);
  }

  if (windowNeeded && (!epc.features.subrangeMapping || !epc.features.dynamicInboundMapping)) {
    throw new EpdmaError('EOPNOTSUPP', 'pci_epf_dma: a DMA resource is not in a fixed BAR, and the EPC lacks subrange or dynamic inbound mapping for a DMA window BAR');
  }
  let win: number | undefined;
  if (dmaWindowBar !== 'auto') {
    checkExplicit(epc, 'dma_window_bar', dmaWindowBar, fixedBars, meta);
    win = windowNeeded ? dmaWindowBar : undefined;
  } else if (windowNeeded) {
    win = firstFree(epc, (b) => b === meta || fixedBars.has(b));
    if (win === NO_BAR) throw new EpdmaError('EOPNOTSUPP', `pci_epf_dma: dma_window_bar auto: no free BAR besides metadata BAR ${meta}`);
  }
  return { metadataBar: meta, metadataBarAuto: metadataBar === 'auto', windowBar: win, windowBarAuto: dmaWindowBar === 'auto', fixedBars };
}
