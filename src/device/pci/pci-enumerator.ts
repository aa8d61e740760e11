import { EpdmaError, hex } from '../errors.js';
import type { EndpointController } from '../epc/endpoint-controller.js';
import { PciFunction, type PciBar } from './pci-function.js';
import { PCI_STD_NUM_BARS } from '../epc/epc-features.js';

export interface PciEnumeratorOptions {
  /** Start of the host's MMIO window for BARs (default 0xf000_0000). */
  mmioBase?: number;
  /** Size of that window (default 256 MiB). */
  mmioSize?: number;
  /** Bus number the EP sits on (default 1: behind the root port). */
  bus?: number;
}

/**
 * The host PCI core's view of the link: it enumerates the EP's functions and assigns every
 * implemented BAR a naturally aligned bus address from the MMIO window, in BAR order. An
 * address once assigned to an aperture is kept on re-enumeration (no resource reassignment).
 */
export class PciEnumerator {
  private readonly base: number;
  private readonly limit: number;
  private readonly bus: number;
  private next: number;

  constructor(options: PciEnumeratorOptions = {}) {
    this.base = options.mmioBase ?? 0xf000_0000;
    this.limit = this.base + (options.mmioSize ?? 0x1000_0000);
    this.bus = options.bus ?? 1;
    this.next = this.base;
  }

  /** Every function the EP presents: link up, core initialised, header written. */
  enumerate(epc: EndpointController): PciFunction[] {
    if (!epc.linkUpState) return [];
    return epc.attachedFunctions().flatMap((f) => (epc.header(f) === undefined ? [] : [this.enumerateFunction(epc, f)]));
  }

  enumerateFunction(epc: EndpointController, funcNo: number): PciFunction {
    if (!epc.linkUpState) throw new EpdmaError('ENODEV', `enumerate: link to the endpoint is down`);
    const header = epc.header(funcNo);
    if (header === undefined) throw new EpdmaError('ENODEV', `enumerate: function ${funcNo} does not respond (no configuration header written)`);
    const bars: (PciBar | undefined)[] = [];
    epc.functionBars(funcNo).forEach((ap, i) => {
      if (ap === undefined) {
        bars[i] = undefined;
        return;
      }
      if (ap.busAddr === undefined) ap.busAddr = this.assign(ap.size);
      bars[i] = { index: i, busAddr: ap.busAddr, size: ap.size, aperture: ap };
    });
    while (bars.length < PCI_STD_NUM_BARS) bars.push(undefined);
    return new PciFunction({
      bus: this.bus,
      device: 0,
      funcNo,
      config: {
        vendorId: header.vendorId,
        deviceId: header.deviceId,
        revisionId: header.revisionId,
        classCode: (header.baseClassCode << 16) | (header.subclassCode << 8) | header.progIf,
        subsysVendorId: header.subsysVendorId,
        subsysId: header.subsysId,
        interruptPin: header.interruptPin,
      },
      bars,
      msiVectors: epc.msiCount(funcNo),
      msix: epc.msixConfig(funcNo),
    });
  }

  private assign(size: number): number {
    const at = Math.ceil(this.next / size) * size;
    if (at + size > this.limit) {
      throw new EpdmaError('ENOMEM', `enumerate: no room for a ${hex(size)}-byte BAR in the MMIO window [${hex(this.base)}, ${hex(this.limit)})`);
    }
    this.next = at + size;
    return at;
  }
}
