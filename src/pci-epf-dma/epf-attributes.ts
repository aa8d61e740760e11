import { EpdmaError } from '../device/errors.js';
import { NO_BAR, PCI_STD_NUM_BARS } from '../device/epc/epc-features.js';
import { PCI_ANY_ID } from '../device/epc/epf-header.js';
import type { HeaderLayout } from '../device/metadata/metadata-format.js';

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
function validateAttribute<K extends keyof EpfAttributes>(name: K, value: unknown): EpfAttributes[K] {
  if (!Object.hasOwn(CONFIGFS_NAME, name)) throw new EpdmaError('EINVAL', `pci_epf_dma: no attribute ${String(name)}`);
  if (name === 'metadataBar' || name === 'dmaWindowBar') {
    if (value === 'auto' || value === NO_BAR) return 'auto' as EpfAttributes[K];
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value >= PCI_STD_NUM_BARS) fail(name, value, `is not 'auto', -1 or a BAR 0..${PCI_STD_NUM_BARS - 1}`);
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

const OTHER_BAR: Partial<Record<keyof EpfAttributes, 'metadataBar' | 'dmaWindowBar'>> = {
  metadataBar: 'dmaWindowBar',
  dmaWindowBar: 'metadataBar',
};

/**
 * One configfs store: the value is validated, and metadata_bar and dma_window_bar may not name
 * the same BAR (both 'auto' is fine). A refused store throws EINVAL and changes nothing; the
 * kernel refuses at the write, not at bind.
 */
export function storeAttribute<K extends keyof EpfAttributes>(attrs: Readonly<EpfAttributes>, name: K, value: unknown): EpfAttributes {
  const valid = validateAttribute(name, value);
  const other = OTHER_BAR[name];
  if (other !== undefined && valid !== 'auto' && attrs[other] === valid) {
    fail(name, value, `is already ${configfsName(other)}: the metadata and DMA window BARs must differ`);
  }
  return { ...attrs, [name]: valid };
}

/** Stores every defined attribute in key order, as successive configfs writes would. */
export function storeAttributes(attrs: Readonly<EpfAttributes>, partial: Partial<EpfAttributes>): EpfAttributes {
  let out: EpfAttributes = { ...attrs };
  for (const key of Object.keys(partial) as (keyof EpfAttributes)[]) {
    if (partial[key] !== undefined) out = storeAttribute(out, key, partial[key]);
  }
  return out;
}

export function configfsName(name: keyof EpfAttributes): string {
  return CONFIGFS_NAME[name];
}
