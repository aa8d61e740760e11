import { EpdmaError, hex } from '../errors.js';
import type { AddressSpace } from '../bus/address-space.js';
import type { MemoryRegion } from '../bus/memory-region.js';
import type { BarAperture, InboundWindow } from '../bus/bar-aperture.js';
import type { DwEdmaChannelRegion, DwEdmaChip, LlRegion } from '../dma-chip.js';
import { channelRegisters, type ChannelKind } from '../regs/channel-registers.js';
import { EDMA_V0_MAX_NR_CH } from '../regs/edma-v0-regs.js';
import type { MapFormat } from '../regs/map-format.js';
import type { MmioRegisterFile } from '../regs/register-file.js';
import { kindOfDirection, type AuxDmaDirection, type AuxResource } from './aux-resource.js';
import { ChannelOwnership, type QuiesceRecord, type ReclaimRecord } from './channel-ownership.js';
import { EP_DEFAULT_MEMORY_BYTES, EP_DMA_REGS_BASE, EpLocalBus, LL_REGION_BYTES } from './ep-local-bus.js';
import { alignUp, checkBarIndex, NO_BAR, PCI_STD_NUM_BARS, roundUpPowerOfTwo, validateFeatures, type BarFeature, type EpcFeatures } from './epc-features.js';
import type { EpfHeader, MsixConfig } from './epf-header.js';
import type { ScratchBlock } from './scratch-memory.js';
import { FunctionSlots, type EpcFunctionDriver } from './function-slots.js';

export type { EpcFunctionDriver } from './function-slots.js';

export interface EndpointControllerOptions {
  mapFormat?: MapFormat;                 // default 'unroll'
  writeChannels?: number;                // 0..8, default 8
  readChannels?: number;                 // 0..8, default 8
  memoryBytes?: number;                  // EP RAM, default 64 MiB
  align?: number;                        // default 4096
  msiCapable?: boolean;                  // default true
  msixCapable?: boolean;                 // default true
  subrangeMapping?: boolean;             // default true
  dynamicInboundMapping?: boolean;       // default true
  /** Per-BAR overrides of the default (every BAR usable and programmable). */
  bars?: readonly (BarFeature | undefined)[];
  /**
   * The register block is visible through a platform-reserved BAR at `offset` (RK3588, SpacemiT
   * K3). Without it the register block is NO_BAR and needs the DMA window BAR (R-Car S4).
   */
  registerBar?: { bar: number; offset?: number; size?: number };
  maxFunctions?: number;                 // default 1
  /** The local dw-edma provider exists (`edma->dw`); without it no DMA resources are reported. */
  dmaProvider?: boolean;                 // default true
  /** Every channel has LL memory; without it the DMA resources are EOPNOTSUPP (non-LL TODO). */
  llMemory?: boolean;                    // default true
  /** The EPC implements delegate/reclaim ops. */
  delegationOps?: boolean;               // default true
  /** Report a DOORBELL_MMIO resource after the DMA resources. */
  doorbell?: boolean;                    // default true
  /** Passed on to the engines' LinkBudget; stored only. */
  linkBytesPerSec?: number;
  /** Regions allocated in the EP arena but not on the EP bus (the testbed's host RAM). */
  companionRegions?: readonly { name: string; base: number; size: number }[];
  /**
   * Memory supplied from outside instead of allocated here (two-process mode maps files and
   * shares them with a host process); see EpLocalBusOptions.shared.
   */
  shared?: { arena?: SharedArrayBuffer; registers?: SharedArrayBuffer; scratch?: SharedArrayBuffer; scratchBytes?: number };
  /**
   * Called with a BAR's inbound windows whenever a function's BAR is set, (re)programmed or
   * cleared (empty list): lets another process mirror the iATU (two-process mode).
   */
  onBarWindows?: (funcNo: number, bar: number, windows: readonly InboundWindow[]) => void;
  /** Fault injection: rewrite what get_aux_resources reports (a buggy backend). */
  auxResourceFilter?: (resources: AuxResource[]) => AuxResource[];
}

/** `struct pci_epc_dma_chan`: the opaque handle of a delegated channel. */
export interface DelegatedDmaChan {
  readonly funcNo: number;
  readonly dir: AuxDmaDirection;
  readonly hwChannel: number;
  readonly released: boolean;
}

/** A BAR's backing from `allocSpace`: the BAR size and the (align-rounded) memory behind it. */
export interface BarSpace {
  readonly bar: number;
  readonly barSize: number;
  readonly block: ScratchBlock;
}

class ChanHandle implements DelegatedDmaChan {
  released = false;
  constructor(readonly funcNo: number, readonly dir: AuxDmaDirection, readonly hwChannel: number) {}
}

const MIN_BAR_SPACE = 128;

/**
 * A DesignWare PCIe endpoint controller with its integrated eDMA: the EP-local bus, the BARs
 * each function publishes, the auxiliary DMA resources (reference 2.1/2.3), channel delegation
 * (2.2-2.4), MSI/MSI-X configuration and the init/link notifications to bound functions.
 * Synchronous like the kernel's EPC core; the timers live in the functions.
 */
export class EndpointController {
  readonly features: EpcFeatures;
  readonly mapFormat: MapFormat;
  readonly writeChannels: number;
  readonly readChannels: number;
  readonly maxFunctions: number;
  readonly linkBytesPerSec: number;
  private readonly bus: EpLocalBus;
  private readonly ownership: ChannelOwnership;
  private readonly slots: FunctionSlots;
  private readonly registerBar: { bar: number; offset: number; size: number } | undefined;
  private readonly opts: EndpointControllerOptions;
  private initDone = false;
  private linkIsUp = false;

  constructor(options: EndpointControllerOptions = {}) {
    this.opts = options;
    this.mapFormat = options.mapFormat ?? 'unroll';
    this.writeChannels = options.writeChannels ?? 8;
    this.readChannels = options.readChannels ?? 8;
    for (const [what, n] of [['writeChannels', this.writeChannels], ['readChannels', this.readChannels]] as const) {
      if (!Number.isInteger(n) || n < 0 || n > EDMA_V0_MAX_NR_CH) throw new EpdmaError('EINVAL', `endpoint ${what} ${n} out of range 0..${EDMA_V0_MAX_NR_CH}`);
    }
    this.maxFunctions = options.maxFunctions ?? 1;
    if (!Number.isInteger(this.maxFunctions) || this.maxFunctions < 1 || this.maxFunctions > 8) {
      throw new EpdmaError('EINVAL', `endpoint maxFunctions ${this.maxFunctions} out of range 1..8`);
    }
    this.linkBytesPerSec = options.linkBytesPerSec ?? Infinity;
    const align = options.align ?? 4096;
    const bars: BarFeature[] = [];
    for (let i = 0; i < PCI_STD_NUM_BARS; i++) bars.push(options.bars?.[i] ?? { type: 'usable' });
    const reg = options.registerBar;
    if (reg !== undefined) {
      checkBarIndex(reg.bar, 'registerBar');
      const offset = reg.offset ?? 0;
      const size = reg.size ?? 0x10_0000;
      this.registerBar = { bar: reg.bar, offset, size };
      bars[reg.bar] = { type: 'reserved', fixedSize: size };
    }
    this.features = {
      msiCapable: options.msiCapable ?? true,
      msixCapable: options.msixCapable ?? true,
      align,
      subrangeMapping: options.subrangeMapping ?? true,
      dynamicInboundMapping: options.dynamicInboundMapping ?? true,
      bars,
    };
    validateFeatures(this.features);
    this.bus = new EpLocalBus({
      mapFormat: this.mapFormat,
      writeChannels: this.writeChannels,
      readChannels: this.readChannels,
      memoryBytes: options.memoryBytes ?? EP_DEFAULT_MEMORY_BYTES,
      align,
      ...(options.companionRegions !== undefined ? { companions: options.companionRegions } : {}),
      ...(options.shared !== undefined ? { shared: options.shared } : {}),
    });
    if (this.registerBar !== undefined) {
      const { offset, size } = this.registerBar;
      if (offset % align !== 0 || offset + this.bus.registers.windowBytes > size) {
        throw new EpdmaError('EINVAL', `registerBar: offset ${hex(offset)} must be aligned to ${hex(align)} and leave the ${hex(this.bus.registers.windowBytes)}-byte register window inside the ${hex(size)}-byte BAR`);
      }
    }
    this.ownership = new ChannelOwnership(this.bus.registers, this.writeChannels, this.readChannels);
    const reserved = this.registerBar === undefined ? undefined : {
      bar: this.registerBar.bar,
      size: this.registerBar.size,
      windows: [{ barOffset: this.registerBar.offset, size: this.bus.registers.windowBytes, localAddr: EP_DMA_REGS_BASE }],
    };
    this.slots = new FunctionSlots(this.maxFunctions, this.features, this.bus.space, reserved);
  }

  // ---- the EP-local side ----

  get localSpace(): AddressSpace {
    return this.bus.space;
  }
  get memory(): MemoryRegion {
    return this.bus.ram;
  }
  /** A companion region by name (see EndpointControllerOptions.companionRegions). */
  companion(name: string): MemoryRegion | undefined {
    return this.bus.companions.find((r) => r.name === name);
  }
  get llMemory(): MemoryRegion {
    return this.bus.llMemory;
  }
  get registers(): MmioRegisterFile {
    return this.bus.registers;
  }
  get registerBase(): number {
    return EP_DMA_REGS_BASE;
  }
  get initComplete(): boolean {
    return this.initDone;
  }
  get linkUpState(): boolean {
    return this.linkIsUp;
  }
  get quiesceLog(): readonly QuiesceRecord[] {
    return this.ownership.quiesceLog;
  }
  get reclaimLog(): readonly ReclaimRecord[] {
    return this.ownership.reclaimLog;
  }
  /** Scratch blocks currently allocated for BAR backing. */
  get scratchBlocks(): readonly ScratchBlock[] {
    return this.bus.scratch.allocated;
  }

  llAddress(kind: ChannelKind, hwChannel: number): number {
    return this.bus.llAddress(kind, hwChannel);
  }
  llRegion(kind: ChannelKind, hwChannel: number): LlRegion {
    return this.bus.llRegion(kind, hwChannel);
  }
  channelOwner(kind: ChannelKind, hwChannel: number): 'free' | 'local' | 'delegated' {
    return this.ownership.owner(kind, hwChannel);
  }

  /** An EP-local DMAengine client takes a channel; EBUSY if it is delegated or taken. */
  requestLocalChannel(kind: ChannelKind, hwChannel: number): void {
    this.ownership.requestLocal(kind, hwChannel);
  }
  releaseLocalChannel(kind: ChannelKind, hwChannel: number): void {
    this.ownership.releaseLocal(kind, hwChannel);
  }

  /** The EP-local dw-edma instance (CHIP_LOCAL): every channel not delegated right now. */
  localChip(): DwEdmaChip {
    const owned = (kind: ChannelKind, n: number): DwEdmaChannelRegion[] => {
      const out: DwEdmaChannelRegion[] = [];
      for (let ch = 0; ch < n; ch++) {
        if (this.ownership.owner(kind, ch) !== 'delegated') out.push({ hwChannel: ch, ll: this.bus.llRegion(kind, ch) });
      }
      return out;
    };
    return {
      mapFormat: this.mapFormat,
      local: true,
      partial: false,
      funcNo: 0,
      registers: this.bus.registers,
      write: owned('write', this.writeChannels),
      read: owned('read', this.readChannels),
    };
  }

  // ---- functions (configuration space and BARs live in FunctionSlots) ----

  /** pci_epc_add_epf(): the function gets the lowest free function number. */
  attach(driver: EpcFunctionDriver): number {
    return this.slots.attach(driver);
  }
  /** pci_epc_remove_epf(): drops every BAR of the function. */
  detach(funcNo: number): void {
    this.slots.detach(funcNo);
  }
  attachedFunctions(): number[] {
    return this.slots.attached();
  }
  writeHeader(funcNo: number, header: EpfHeader): void {
    this.slots.writeHeader(funcNo, header);
  }
  header(funcNo: number): EpfHeader | undefined {
    return this.slots.header(funcNo);
  }
  setMsi(funcNo: number, count: number): void {
    this.slots.setMsi(funcNo, count);
  }
  setMsix(funcNo: number, config: MsixConfig): void {
    this.slots.setMsix(funcNo, config);
  }
  msiCount(funcNo: number): number {
    return this.slots.msiCount(funcNo);
  }
  msixConfig(funcNo: number): MsixConfig | undefined {
    return this.slots.msixConfig(funcNo);
  }
  /** Undo set_msi/set_msix (epc_deinit). */
  clearInterrupts(funcNo: number): void {
    this.slots.clearInterrupts(funcNo);
  }
  /** pci_epc_set_bar() with plain backing: one inbound window over the whole BAR. */
  setBar(funcNo: number, bar: number, backing: { phys: number; size: number }): BarAperture {
    const ap = this.slots.setBar(funcNo, bar, backing);
    const watch = this.opts.onBarWindows;
    if (watch !== undefined && ap.onChange === undefined) {
      // Later submaps, link-down drops and clears reach the watcher through the aperture.
      ap.onChange = (index, windows) => watch(funcNo, index, windows);
      watch(funcNo, bar, ap.windows);
    }
    return ap;
  }
  /** pci_epc_set_bar() with subrange mappings: needs the host-assigned BAR address. */
  setBarSubmaps(funcNo: number, bar: number, windows: readonly InboundWindow[]): void {
    this.slots.setBarSubmaps(funcNo, bar, windows);
  }
  /** Drops a BAR's inbound windows without clearing it (link down lost the iATU state). */
  dropInboundWindows(funcNo: number, bar: number): void {
    this.slots.dropInboundWindows(funcNo, bar);
  }
  /** pci_epc_clear_bar(). */
  clearBar(funcNo: number, bar: number): void {
    this.slots.clearBar(funcNo, bar);
  }
  /** The function's BARs as the host would find them at enumeration. */
  functionBars(funcNo: number): readonly (BarAperture | undefined)[] {
    return this.slots.bars(funcNo);
  }

  // ---- BARs ----

  /** pci_epc_get_next_free_bar(): first BAR >= `from` that is neither reserved nor disabled. */
  getNextFreeBar(from = 0): number {
    for (let i = Math.max(0, from); i < PCI_STD_NUM_BARS; i++) {
      if (this.features.bars[i]!.type === 'usable') return i;
    }
    return NO_BAR;
  }

  /**
   * pci_epf_alloc_space(): at least 128 bytes; a fixed BAR takes its fixed size (ENOMEM if the
   * request is larger), others a power of two; the memory is ALIGN(size, align), zeroed.
   */
  allocSpace(bar: number, size: number): BarSpace {
    checkBarIndex(bar, 'alloc_space');
    if (!Number.isSafeInteger(size) || size <= 0) throw new EpdmaError('EINVAL', `alloc_space: BAR${bar} size ${size} must be positive`);
    const fixed = this.features.bars[bar]!.fixedSize;
    let barSize = Math.max(size, MIN_BAR_SPACE);
    if (fixed !== undefined) {
      if (barSize > fixed) throw new EpdmaError('ENOMEM', `alloc_space: BAR${bar} needs ${hex(barSize)} bytes, larger than its fixed size ${hex(fixed)}`);
      barSize = fixed;
    } else {
      barSize = roundUpPowerOfTwo(barSize);
    }
    const block = this.bus.scratch.alloc(alignUp(barSize, this.features.align), Math.max(this.features.align, 4096));
    return { bar, barSize, block };
  }

  freeSpace(space: BarSpace): void {
    this.bus.scratch.free(space.block);
  }

  // ---- auxiliary DMA resources and delegation ----

  /** pci_epc_get_aux_resources() in the DesignWare order (reference 2.3). */
  getAuxResources(funcNo: number, vfuncNo = 0): AuxResource[] {
    this.slots.get(funcNo, 'get_aux_resources');
    if (vfuncNo !== 0) throw new EpdmaError('EOPNOTSUPP', `get_aux_resources: virtual function ${vfuncNo}: DMA registers are PF-only`);
    const out: AuxResource[] = [];
    if (this.opts.dmaProvider !== false) {
      if (this.opts.llMemory === false) throw new EpdmaError('EOPNOTSUPP', 'get_aux_resources: a channel has no LL memory (non-LL channels are not exposed)');
      const rb = this.registerBar;
      out.push({
        type: 'dma-ctrl-mmio', physAddr: EP_DMA_REGS_BASE, size: this.bus.registers.windowBytes,
        bar: rb?.bar ?? NO_BAR, barOffset: rb?.offset ?? 0,
        regLayout: 'dw-edma', mapFormat: this.mapFormat,
        epToRcChannels: this.writeChannels, rcToEpChannels: this.readChannels,
      });
      const chans = (dir: AuxDmaDirection, n: number, idBase: number): void => {
        for (let i = 0; i < n; i++) {
          out.push({ type: 'dma-chan', physAddr: 0, size: 0, bar: NO_BAR, barOffset: 0, dir, hwChannel: i, descMemId: idBase + i });
          out.push({ type: 'dma-desc-mem', physAddr: this.bus.llAddress(kindOfDirection(dir), i), size: LL_REGION_BYTES, bar: NO_BAR, barOffset: 0, id: idBase + i });
        }
      };
      chans('ep-to-rc', this.writeChannels, 0);
      chans('rc-to-ep', this.readChannels, this.writeChannels);
    }
    if (this.opts.doorbell !== false) {
      // Model choice: the emulated doorbell is the read-direction interrupt status of channel 0.
      const off = channelRegisters(this.mapFormat, 'read', 0).intStatus;
      out.push({ type: 'doorbell-mmio', physAddr: EP_DMA_REGS_BASE + off, size: 4, bar: NO_BAR, barOffset: 0 });
    }
    return this.opts.auxResourceFilter !== undefined ? this.opts.auxResourceFilter(out) : out;
  }

  /** pci_epc_delegate_dma_chan(): function first, then direction, ops, channel, provider, state. */
  delegateDmaChan(funcNo: number, dir: AuxDmaDirection, hwChannel: number, vfuncNo = 0): DelegatedDmaChan {
    this.slots.get(funcNo, 'delegate_dma_chan');
    if (dir !== 'ep-to-rc' && dir !== 'rc-to-ep') throw new EpdmaError('EINVAL', `delegate_dma_chan: direction ${String(dir)} unknown`);
    if (this.opts.delegationOps === false) throw new EpdmaError('EOPNOTSUPP', 'delegate_dma_chan: the EPC has no delegate/reclaim ops');
    if (vfuncNo !== 0) throw new EpdmaError('EOPNOTSUPP', `delegate_dma_chan: virtual function ${vfuncNo}`);
    const kind = kindOfDirection(dir);
    const count = kind === 'write' ? this.writeChannels : this.readChannels;
    if (!Number.isInteger(hwChannel) || hwChannel < 0 || hwChannel >= count) {
      throw new EpdmaError('EINVAL', `delegate_dma_chan: ${dir} hw channel ${hwChannel} out of range 0..${count - 1}`);
    }
    if (this.opts.dmaProvider === false) throw new EpdmaError('ENODEV', 'delegate_dma_chan: no local dw-edma provider');
    this.ownership.delegate(kind, hwChannel);
    return new ChanHandle(funcNo, dir, hwChannel);
  }

  /** pci_epc_reclaim_dma_chan(): best effort, never fails; quiesce if the host may have used it. */
  reclaimDmaChan(handle: DelegatedDmaChan, quiesce: boolean): void {
    if (!(handle instanceof ChanHandle) || handle.released) return;
    handle.released = true;
    this.ownership.reclaim(kindOfDirection(handle.dir), handle.hwChannel, handle.funcNo, quiesce);
  }

  // ---- notifications ----

  /** Core init done (pci_epc_init_notify): every bound function publishes its BARs. */
  coreInit(): void {
    if (this.initDone) return;
    this.initDone = true;
    for (const d of this.slots.drivers()) d.epcInit();
  }
  coreDeinit(): void {
    if (!this.initDone) return;
    if (this.linkIsUp) this.linkDown();
    this.initDone = false;
    for (const d of this.slots.drivers()) d.epcDeinit();
  }
  linkUp(): void {
    if (this.linkIsUp) return;
    this.linkIsUp = true;
    for (const d of this.slots.drivers()) d.linkUp();
  }
  linkDown(): void {
    if (!this.linkIsUp) return;
    this.linkIsUp = false;
    for (const d of this.slots.drivers()) d.linkDown();
  }
  /** `echo 1 > start`: core init, then the link comes up. */
  start(): void {
    this.coreInit();
    this.linkUp();
  }
  stop(): void {
    this.coreDeinit();
  }
}
