import type { MapFormat } from '../regs/map-format.js';

/**
 * `struct pci_epc_aux_resource` (reference 2.1) as plain data. Every resource carries the base
 * fields (EP-local physical address, size, and the BAR/offset through which it is already
 * host-visible, or NO_BAR); the type-specific union becomes a discriminated union here.
 */
export type AuxDmaDirection = 'ep-to-rc' | 'rc-to-ep';

interface AuxBase {
  readonly physAddr: number;
  readonly size: number;
  /** BAR the resource is already visible through (platform-reserved region), or NO_BAR. */
  readonly bar: number;
  readonly barOffset: number;
}

export interface AuxDmaCtrl extends AuxBase {
  readonly type: 'dma-ctrl-mmio';
  readonly regLayout: 'dw-edma' | 'unknown';
  readonly mapFormat: MapFormat;
  readonly epToRcChannels: number;
  readonly rcToEpChannels: number;
}

export interface AuxDmaChan extends AuxBase {
  readonly type: 'dma-chan';
  readonly dir: AuxDmaDirection;
  readonly hwChannel: number;
  readonly descMemId: number;
}

export interface AuxDmaDescMem extends AuxBase {
  readonly type: 'dma-desc-mem';
  readonly id: number;
}

interface AuxDoorbell extends AuxBase {
  readonly type: 'doorbell-mmio';
}

export type AuxResource = AuxDmaCtrl | AuxDmaChan | AuxDmaDescMem | AuxDoorbell;

/** Engine channel kind for an aux direction: EP->RC is a write channel, RC->EP a read channel. */
export function kindOfDirection(dir: AuxDmaDirection): 'write' | 'read' {
  return dir === 'ep-to-rc' ? 'write' : 'read';
}
