import { EpdmaError, hex } from '../errors.js';
import type { AddressSpace } from '../bus/address-space.js';
import { BarAperture, type InboundWindow } from '../bus/bar-aperture.js';
import { checkBarIndex, isPowerOfTwo, PCI_STD_NUM_BARS, type EpcFeatures } from './epc-features.js';
import type { EpfHeader, MsixConfig } from './epf-header.js';

/** The callbacks an EPC makes into a bound function (`struct pci_epc_event_ops`). */
export interface EpcFunctionDriver {
  epcInit(): void;
  epcDeinit(): void;
  linkUp(): void;
  linkDown(): void;
}

/** A BAR the platform maps itself (BAR_RESERVED with a DMA subregion), per function. */
export interface ReservedBarMapping {
  readonly bar: number;
  readonly size: number;
  readonly windows: readonly InboundWindow[];
}

interface FunctionSlot {
  driver: EpcFunctionDriver;
  header: EpfHeader | undefined;
  bars: (BarAperture | undefined)[];
  msi: number;
  msix: MsixConfig | undefined;
}

/**
 * The per-function state of an EPC: what each physical function shows in configuration space
 * (header, MSI/MSI-X) and its six BARs with their inbound windows (set_bar / clear_bar).
 */
export class FunctionSlots {
  private readonly slots: (FunctionSlot | undefined)[];
  private readonly features: EpcFeatures;
  private readonly space: AddressSpace;
  private readonly reserved: ReservedBarMapping | undefined;

  constructor(maxFunctions: number, features: EpcFeatures, space: AddressSpace, reserved: ReservedBarMapping | undefined) {
    this.slots = new Array<FunctionSlot | undefined>(maxFunctions).fill(undefined);
    this.features = features;
    this.space = space;
    this.reserved = reserved;
  }

  /** pci_epc_add_epf(): the function gets the lowest free function number. */
  attach(driver: EpcFunctionDriver): number {
    const funcNo = this.slots.findIndex((s) => s === undefined);
    if (funcNo < 0) throw new EpdmaError('EBUSY', `EPC: all ${this.slots.length} function slots are in use`);
    const bars = new Array<BarAperture | undefined>(PCI_STD_NUM_BARS).fill(undefined);
    if (this.reserved !== undefined) {
      // The platform maps the reserved BAR itself; functions never set it.
      const ap = new BarAperture(this.reserved.bar, this.reserved.size, this.space);
      ap.program(this.reserved.windows);
      bars[this.reserved.bar] = ap;
    }
    this.slots[funcNo] = { driver, header: undefined, bars, msi: 0, msix: undefined };
    return funcNo;
  }

  /** pci_epc_remove_epf(): drops every BAR of the function. */
  detach(funcNo: number): void {
    const slot = this.slots[funcNo];
    if (slot === undefined) return;
    for (const ap of slot.bars) ap?.unprogram();
    this.slots[funcNo] = undefined;
  }

  get(funcNo: number, what: string): FunctionSlot {
    const s = Number.isInteger(funcNo) ? this.slots[funcNo] : undefined;
    if (s === undefined) throw new EpdmaError('EINVAL', `${what}: function ${funcNo} is not attached (max functions ${this.slots.length})`);
    return s;
  }

  attached(): number[] {
    return this.slots.flatMap((s, i) => (s === undefined ? [] : [i]));
  }

  /** The bound drivers, snapshotted so a callback may detach itself. */
  drivers(): EpcFunctionDriver[] {
    return this.slots.flatMap((s) => (s === undefined ? [] : [s.driver]));
  }

  writeHeader(funcNo: number, header: EpfHeader): void {
    this.get(funcNo, 'write_header').header = { ...header };
  }
  header(funcNo: number): EpfHeader | undefined {
    return this.slots[funcNo]?.header;
  }

  setMsi(funcNo: number, count: number): void {
    const s = this.get(funcNo, 'set_msi');
    if (!this.features.msiCapable) throw new EpdmaError('EOPNOTSUPP', 'set_msi: the EPC is not MSI capable');
    if (!Number.isInteger(count) || count < 1 || count > 32) throw new EpdmaError('EINVAL', `set_msi: ${count} vectors, must be 1..32`);
    s.msi = count;
  }
  setMsix(funcNo: number, config: MsixConfig): void {
    const s = this.get(funcNo, 'set_msix');
    if (!this.features.msixCapable) throw new EpdmaError('EOPNOTSUPP', 'set_msix: the EPC is not MSI-X capable');
    if (!Number.isInteger(config.count) || config.count < 1 || config.count > 2048) throw new EpdmaError('EINVAL', `set_msix: ${config.count} vectors, must be 1..2048`);
    checkBarIndex(config.bir, 'set_msix');
    s.msix = { ...config };
  }
  msiCount(funcNo: number): number {
    return this.slots[funcNo]?.msi ?? 0;
  }
  msixConfig(funcNo: number): MsixConfig | undefined {
    return this.slots[funcNo]?.msix;
  }
  clearInterrupts(funcNo: number): void {
    const s = this.slots[funcNo];
    if (s === undefined) return;
    s.msi = 0;
    s.msix = undefined;
  }

  private usableBar(funcNo: number, bar: number, what: string): FunctionSlot {
    const s = this.get(funcNo, what);
    checkBarIndex(bar, what);
    const type = this.features.bars[bar]!.type;
    if (type !== 'usable') throw new EpdmaError('EINVAL', `${what}: BAR${bar} is ${type}`);
    return s;
  }

  /** pci_epc_set_bar() with plain backing: one inbound window over the whole BAR. */
  setBar(funcNo: number, bar: number, backing: { phys: number; size: number }): BarAperture {
    const s = this.usableBar(funcNo, bar, 'set_bar');
    const fixed = this.features.bars[bar]!.fixedSize;
    if (!isPowerOfTwo(backing.size)) throw new EpdmaError('EINVAL', `set_bar: BAR${bar} size ${hex(backing.size)} is not a power of two`);
    if (fixed !== undefined && backing.size !== fixed) throw new EpdmaError('EINVAL', `set_bar: BAR${bar} size ${hex(backing.size)} differs from its fixed size ${hex(fixed)}`);
    if (backing.phys % this.features.align !== 0) throw new EpdmaError('EINVAL', `set_bar: BAR${bar} backing ${hex(backing.phys)} is not aligned to ${hex(this.features.align)}`);
    let ap = s.bars[bar];
    // Re-setting a BAR of the same size keeps the aperture, so the host's address stays valid.
    if (ap === undefined || ap.size !== backing.size) {
      ap?.unprogram();
      ap = new BarAperture(bar, backing.size, this.space);
      s.bars[bar] = ap;
    }
    ap.program([{ barOffset: 0, size: backing.size, localAddr: backing.phys }]);
    return ap;
  }

  /**
   * pci_epc_set_bar() with subrange mappings on an already published BAR: dynamic inbound
   * remapping, which needs the address the host assigned to the BAR (hence pci-epf-dma waits
   * for H). The windows must tile the BAR.
   */
  setBarSubmaps(funcNo: number, bar: number, windows: readonly InboundWindow[]): void {
    const s = this.usableBar(funcNo, bar, 'set_bar(submaps)');
    if (!this.features.subrangeMapping || !this.features.dynamicInboundMapping) {
      throw new EpdmaError('EOPNOTSUPP', `set_bar: BAR${bar} subrange mapping needs subrangeMapping and dynamicInboundMapping`);
    }
    const ap = s.bars[bar];
    if (ap === undefined) throw new EpdmaError('EINVAL', `set_bar: BAR${bar} of function ${funcNo} was never set`);
    if (ap.busAddr === undefined) throw new EpdmaError('EINVAL', `set_bar: BAR${bar} has no host-assigned address yet; dynamic inbound mapping needs it`);
    for (const w of windows) {
      if (w.barOffset % this.features.align !== 0 || w.localAddr % this.features.align !== 0) {
        throw new EpdmaError('EINVAL', `set_bar: BAR${bar} window ${hex(w.barOffset)} -> ${hex(w.localAddr)} is not aligned to ${hex(this.features.align)}`);
      }
    }
    ap.program(windows, { contiguous: true });
  }

  dropInboundWindows(funcNo: number, bar: number): void {
    this.slots[funcNo]?.bars[bar]?.unprogram();
  }

  /** pci_epc_clear_bar(): only BARs a function may set; reserved ones stay mapped. */
  clearBar(funcNo: number, bar: number): void {
    const s = this.slots[funcNo];
    if (s === undefined || this.features.bars[bar]?.type !== 'usable') return;
    s.bars[bar]?.unprogram();
    s.bars[bar] = undefined;
  }

  bars(funcNo: number): readonly (BarAperture | undefined)[] {
    return this.slots[funcNo]?.bars ?? [];
  }
}
