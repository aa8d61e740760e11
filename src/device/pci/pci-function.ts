import type { BarAperture } from '../bus/bar-aperture.js';
import type { MsixConfig } from '../epc/epf-header.js';
import { PCI_STD_NUM_BARS } from '../epc/epc-features.js';

/** A memory BAR as the host's PCI core records it after enumeration (`struct resource`). */
export interface PciBar {
  readonly index: number;
  /** Host bus address assigned at enumeration, naturally aligned. */
  readonly busAddr: number;
  readonly size: number;
  /** The aperture behind it: every CPU access through the BAR goes through its windows. */
  readonly aperture: BarAperture;
}

/** The type-0 configuration header fields the host reads. */
export interface PciConfigHeader {
  readonly vendorId: number;
  readonly deviceId: number;
  readonly revisionId: number;
  /** 24-bit class code: base << 16 | sub << 8 | prog-if. */
  readonly classCode: number;
  readonly subsysVendorId: number;
  readonly subsysId: number;
  readonly interruptPin: number;
}

/**
 * The EP function as the host enumerated it (`struct pci_dev`): bus/device/function, header,
 * the memory BARs with their assigned addresses, interrupt capabilities, and the sysfs
 * `driver_override` string that is the only way to bind dw-edma-pcie to it.
 */
export class PciFunction {
  readonly bdf: string;
  readonly funcNo: number;
  readonly config: PciConfigHeader;
  readonly bars: readonly (PciBar | undefined)[];
  /** MSI vectors the function advertises (Multiple Message Capable), 0 if none. */
  readonly msiVectors: number;
  readonly msix: MsixConfig | undefined;
  /** sysfs driver_override: `echo dw-edma-pcie > .../driver_override`. */
  driverOverride: string | undefined;

  constructor(init: {
    bus: number;
    device: number;
    funcNo: number;
    config: PciConfigHeader;
    bars: readonly (PciBar | undefined)[];
    msiVectors: number;
    msix: MsixConfig | undefined;
  }) {
    this.funcNo = init.funcNo;
    this.bdf = `0000:${hex2(init.bus)}:${hex2(init.device)}.${init.funcNo}`;
    this.config = init.config;
    this.bars = init.bars;
    this.msiVectors = init.msiVectors;
    this.msix = init.msix;
  }

  /** Base class 0x08 / subclass 0x01 as lspci prints it ("0801"). */
  get classBaseSub(): number {
    return this.config.classCode >>> 8;
  }

  /** BAR sizes 0..5 (0 = not implemented), the way the metadata parser wants them. */
  barSizes(): number[] {
    const out: number[] = [];
    for (let i = 0; i < PCI_STD_NUM_BARS; i++) out.push(this.bars[i]?.size ?? 0);
    return out;
  }
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}
