import { EpdmaError, hex } from '../errors.js';

/** `enum pci_barno` NO_BAR: a resource not (yet) visible through any BAR. */
export const NO_BAR = -1;
export const PCI_STD_NUM_BARS = 6;

/**
 * What a BAR can be used for (`struct pci_epc_bar_desc` type): 'usable' is BAR_PROGRAMMABLE or
 * BAR_FIXED (then `fixedSize` is set), 'reserved' is owned by the platform (BAR_RESERVED, e.g.
 * the RK3588 BAR that exposes the DMA register block), 'disabled' is not implemented.
 */
type BarType = 'usable' | 'reserved' | 'disabled';

export interface BarFeature {
  readonly type: BarType;
  /** BAR_FIXED: the hardware size; a function must use exactly this size. */
  readonly fixedSize?: number;
}

/** `struct pci_epc_features` as far as pci-epf-dma reads it. */
export interface EpcFeatures {
  readonly msiCapable: boolean;
  readonly msixCapable: boolean;
  /** Inbound iATU address alignment; every BAR backing and window is aligned to it. */
  readonly align: number;
  /** A BAR may be assembled from several inbound windows (subrange mapping). */
  readonly subrangeMapping: boolean;
  /** A BAR's inbound mapping may be changed after the host assigned its address. */
  readonly dynamicInboundMapping: boolean;
  readonly bars: readonly BarFeature[];
}

export function checkBarIndex(bar: number, what: string): void {
  if (!Number.isInteger(bar) || bar < 0 || bar >= PCI_STD_NUM_BARS) {
    throw new EpdmaError('EINVAL', `${what}: BAR ${bar} out of range 0..${PCI_STD_NUM_BARS - 1}`);
  }
}

export function isPowerOfTwo(n: number): boolean {
  return Number.isSafeInteger(n) && n > 0 && 2 ** Math.round(Math.log2(n)) === n;
}

export function alignUp(value: number, align: number): number {
  return align <= 1 ? value : Math.ceil(value / align) * align;
}

export function alignDown(value: number, align: number): number {
  return align <= 1 ? value : Math.floor(value / align) * align;
}

export function roundUpPowerOfTwo(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/** Checks a features table for things the rest of the model relies on. */
export function validateFeatures(f: EpcFeatures): void {
  if (!isPowerOfTwo(f.align)) throw new EpdmaError('EINVAL', `EPC features: align ${hex(f.align)} must be a power of two`);
  if (f.bars.length !== PCI_STD_NUM_BARS) throw new EpdmaError('EINVAL', `EPC features: ${f.bars.length} BAR descriptors, need ${PCI_STD_NUM_BARS}`);
  f.bars.forEach((b, i) => {
    if (b.type !== 'usable' && b.type !== 'reserved' && b.type !== 'disabled') {
      throw new EpdmaError('EINVAL', `EPC features: BAR${i} type ${String(b.type)} unknown`);
    }
    if (b.fixedSize !== undefined && (!isPowerOfTwo(b.fixedSize) || b.fixedSize < 16)) {
      throw new EpdmaError('EINVAL', `EPC features: BAR${i} fixed size ${hex(b.fixedSize)} must be a power of two >= 16`);
    }
  });
}
