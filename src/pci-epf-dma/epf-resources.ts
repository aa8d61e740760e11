import { EpdmaError } from '../device/errors.js';
import type { AuxDmaChan, AuxDmaCtrl, AuxDmaDescMem, AuxDmaDirection, AuxResource } from '../device/epc/aux-resource.js';
import type { DelegatedDmaChan, EndpointController } from '../device/epc/endpoint-controller.js';

/** A selected channel: its CHAN resource and the descriptor memory it names by ID. */
interface SelectedChannel {
  readonly chan: AuxDmaChan;
  readonly desc: AuxDmaDescMem;
}

/** What collect_resources() leaves behind: the copied resources and the delegated handles. */
export interface SelectedResources {
  /** Every resource the EPC reported (the kernel's copied array), doorbells included. */
  readonly resources: readonly AuxResource[];
  readonly ctrl: AuxDmaCtrl;
  readonly write: readonly SelectedChannel[];
  readonly read: readonly SelectedChannel[];
  /** Write channels first, then read channels, in delegation order. */
  readonly handles: readonly DelegatedDmaChan[];
}

const MAX_HW_CH = 8;

/** Releases every handle without quiesce: nothing was exposed to the host yet. */
export function releaseAll(epc: EndpointController, handles: readonly DelegatedDmaChan[]): void {
  for (const h of handles) epc.reclaimDmaChan(h, false);
}

/**
 * collect_resources() and the delegation that ends it (reference 3.3 step 2), every rule in the
 * kernel's order with its error kind. Descriptor memory sizes are not checked here: the kernel
 * refuses an empty one only when it maps it (build_layout), after delegating.
 */
export function collectAndDelegate(epc: EndpointController, funcNo: number, wr: number, rd: number): SelectedResources {
  const resources: AuxResource[] = epc.getAuxResources(funcNo);
  if (resources.length <= 0) throw new EpdmaError('ENODEV', 'pci_epf_dma: the EPC reports no auxiliary resources');

  let ctrl: AuxDmaCtrl | undefined;
  const chans: Record<AuxDmaDirection, (AuxDmaChan | undefined)[]> = { 'ep-to-rc': [], 'rc-to-ep': [] };
  const descs = new Map<number, AuxDmaDescMem>();
  for (const res of resources) {
    switch (res.type) {
      case 'dma-ctrl-mmio':
        if (ctrl !== undefined) throw new EpdmaError('EINVAL', 'pci_epf_dma: duplicate DMA_CTRL_MMIO resource');
        ctrl = res;
        break;
      case 'dma-chan': {
        if (res.dir !== 'ep-to-rc' && res.dir !== 'rc-to-ep') throw new EpdmaError('EINVAL', `pci_epf_dma: channel resource direction ${String(res.dir)} unknown`);
        if (!Number.isInteger(res.hwChannel) || res.hwChannel < 0 || res.hwChannel >= MAX_HW_CH) {
          throw new EpdmaError('EINVAL', `pci_epf_dma: ${res.dir} channel resource hw_ch ${res.hwChannel} out of range 0..${MAX_HW_CH - 1}`);
        }
        if (chans[res.dir][res.hwChannel] !== undefined) throw new EpdmaError('EINVAL', `pci_epf_dma: duplicate ${res.dir} channel resource hw_ch ${res.hwChannel}`);
        chans[res.dir][res.hwChannel] = res;
        break;
      }
      case 'dma-desc-mem':
        if (descs.has(res.id)) throw new EpdmaError('EINVAL', `pci_epf_dma: duplicate descriptor memory id ${res.id}`);
        descs.set(res.id, res);
        break;
      default:
        break; // doorbells and anything newer are not ours
    }
  }
  if (ctrl === undefined) throw new EpdmaError('ENODEV', 'pci_epf_dma: no DMA_CTRL_MMIO resource (no DMA controller exposed by the EPC)');
  if (wr === 0 && rd === 0) throw new EpdmaError('EINVAL', 'pci_epf_dma: no DMA channels requested (wr_chans = rd_chans = 0)');
  if (wr > ctrl.epToRcChannels) throw new EpdmaError('EINVAL', `pci_epf_dma: wr_chans ${wr} exceeds the ${ctrl.epToRcChannels} EP-to-RC channels available`);
  if (rd > ctrl.rcToEpChannels) throw new EpdmaError('EINVAL', `pci_epf_dma: rd_chans ${rd} exceeds the ${ctrl.rcToEpChannels} RC-to-EP channels available`);
  if (ctrl.regLayout !== 'dw-edma') throw new EpdmaError('EOPNOTSUPP', `pci_epf_dma: register layout ${ctrl.regLayout} is not DW_EDMA`);
  checkMapFormat(ctrl, wr, rd);

  const pick = (dir: AuxDmaDirection, n: number): SelectedChannel[] => {
    const out: SelectedChannel[] = [];
    for (let i = 0; i < n; i++) {
      const chan = chans[dir][i];
      if (chan === undefined) throw new EpdmaError('EINVAL', `pci_epf_dma: missing dense ${dir} channel ${i}`);
      const desc = descs.get(chan.descMemId);
      if (desc === undefined) throw new EpdmaError('EINVAL', `pci_epf_dma: ${dir} channel ${i} names descriptor memory id ${chan.descMemId}, which does not exist`);
      out.push({ chan, desc });
    }
    return out;
  };
  const write = pick('ep-to-rc', wr);
  const read = pick('rc-to-ep', rd);

  const handles: DelegatedDmaChan[] = [];
  try {
    for (const c of [...write, ...read]) handles.push(epc.delegateDmaChan(funcNo, c.chan.dir, c.chan.hwChannel));
  } catch (err) {
    releaseAll(epc, handles);
    throw err;
  }
  return { resources, ctrl, write, read, handles };
}

/**
 * Legacy is rejected; unroll and HDMA-compat share enable/doorbell/interrupt registers per
 * direction, so a direction is exposed wholly or not at all; HDMA native is per channel.
 */
function checkMapFormat(ctrl: AuxDmaCtrl, wr: number, rd: number): void {
  switch (ctrl.mapFormat) {
    case 'legacy':
      throw new EpdmaError('EOPNOTSUPP', 'pci_epf_dma: map format legacy (0) is not supported');
    case 'unroll':
    case 'hdma-compat':
      for (const [name, n, avail] of [['wr_chans', wr, ctrl.epToRcChannels], ['rd_chans', rd, ctrl.rcToEpChannels]] as const) {
        if (n !== 0 && n !== avail) {
          throw new EpdmaError('EOPNOTSUPP', `pci_epf_dma: ${ctrl.mapFormat} shares registers per direction: ${name} must be 0 or all ${avail} channels, not ${n}`);
        }
      }
      return;
    case 'hdma-native':
      return;
    default:
      throw new EpdmaError('EINVAL', `pci_epf_dma: map format ${String(ctrl.mapFormat)} unknown`);
  }
}
