import { EpdmaError } from '../../device/errors.js';
import { NO_BAR } from '../../device/epc/epc-features.js';
import { PCI_ANY_ID } from '../../device/epc/epf-header.js';
import type { HeaderLayout } from '../../device/metadata/metadata-format.js';

/** A BAR attribute: 'auto' (configfs -1 / NO_BAR) or a BAR number. */
export type BarChoice = 'auto' | number;

/**
 * pci-epf-dma's configfs attributes (reference 3.1) plus the common EPF ones it uses. Numbers
 * here, not strings, so configfs's base auto-detect has no counterpart; ranges and errors are
 * the kernel's.
 */
export interface EpfAttributes {
  vendorId: number;
  deviceId: number;
  metadataBar: BarChoice;
  dmaWindowBar: BarChoice;
  wrChans: number;
  rdChans: number;
  msiInterrupts: number;
  msixInterrupts: number;
  /** Which metadata header layout to publish ('v4' = the posted series, 'host-ctrl' = later). */
  headerLayout: HeaderLayout;
}

/**
 * Defaults: the kernel's configfs defaults (vendor/device PCI_ANY_ID, BARs auto, no channels),
 * except msiInterrupts = 1 so a function is bindable once channels are chosen.
 */
export const EPF_DEFAULT_ATTRIBUTES: Readonly<EpfAttributes> = {
  vendorId: PCI_ANY_ID,
  deviceId: PCI_ANY_ID,
  metadataBar: 'auto',
  dmaWindowBar: 'auto',
  wrChans: 0,
  rdChans: 0,
  msiInterrupts: 1,
  msixInterrupts: 0,
  headerLayout: 'v4',
};

const CONFIGFS_NAME: Readonly<Record<keyof EpfAttributes, string>> = {
  vendorId: 'vendorid',
  deviceId: 'deviceid',
  metadataBar: 'metadata_bar',
  dmaWindowBar: 'dma_window_bar',
  wrChans: 'wr_chans',
  rdChans: 'rd_chans',
  msiInterrupts: 'msi_interrupts',
  msixInterrupts: 'msix_interrupts',
  headerLayout: 'header_layout',
};

const INT_RANGE: Partial<Record<keyof EpfAttributes, readonly [number, number]>> = {
  vendorId: [0, 0xffff],
  deviceId: [0, 0xffff],
  wrChans: [0, 8],
  rdChans: [0, 8],
  msiInterrupts: [0, 32],
  msixInterrupts: [0, 2048],
};

function fail(name: keyof EpfAttributes, value: unknown, why: string): never {
  throw new EpdmaError('EINVAL', `pci_epf_dma: ${name} (${CONFIGFS_NAME[name]}) ${String(value)} ${why}`);
}

/** Validates one attribute value and returns it normalised (NO_BAR / -1 becomes 'auto'). */
export function validateAttribute<K extends keyof EpfAttributes>(name: K, value: unknown): EpfAttributes[K] {
  if (!Object.hasOwn(CONFIGFS_NAME, name)) throw new EpdmaError('EINVAL', `pci_epf_dma: no attribute ${String(name)}`);
  if (name === 'metadataBar' || name === 'dmaWindowBar') {
    if (value === 'auto' || value === NO_BAR) return 'auto' as EpfAttributes[K];
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 5) fail(name, value, "is not 'auto', -1 or a BAR 0..5");
    return value as EpfAttributes[K];
  }
  if (name === 'headerLayout') {
    if (value !== 'v4' && value !== 'host-ctrl') fail(name, value, "is not 'v4' or 'host-ctrl'");
    return value as EpfAttributes[K];
  }
  const [lo, hi] = INT_RANGE[name]!;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < lo || value > hi) fail(name, value, `out of range ${lo}..${hi}`);
  return value as EpfAttributes[K];
}

export function validateAttributes(partial: Partial<EpfAttributes>): Partial<EpfAttributes> {
  const out: Partial<EpfAttributes> = {};
  for (const key of Object.keys(partial) as (keyof EpfAttributes)[]) {
    if (partial[key] === undefined) continue;
    (out as Record<string, unknown>)[key] = validateAttribute(key, partial[key]);
  }
  return out;
}

export function configfsName(name: keyof EpfAttributes): string {
  return CONFIGFS_NAME[name];
}
