import { EpdmaError } from '../errors.js';
import { AddressSpace } from '../bus/address-space.js';
import { mmioRegion, ramArena, type MemoryRegion } from '../bus/memory-region.js';
import type { LlRegion } from '../dma-chip.js';
import type { ChannelKind } from '../regs/channel-registers.js';
import type { MapFormat } from '../regs/map-format.js';
import { MmioRegisterFile } from '../regs/register-file.js';
import { alignUp } from './epc-features.js';
import { ScratchMemory } from './scratch-memory.js';

/** EP-local address map (the DWC SoC side of the controller). */
export const EP_RAM_BASE = 0x8000_0000;
export const EP_LL_BASE = 0x7000_0000;
export const EP_DMA_REGS_BASE = 0x6000_0000;
export const EP_SCRATCH_BASE = 0x4000_0000;
const EP_SCRATCH_SIZE = 0x2000_0000;
export const EP_DEFAULT_MEMORY_BYTES = 64 * 1024 * 1024;
/** DMA_LLP_MEM_SIZE: one PAGE_SIZE LL region per channel (reference 2.3). */
export const LL_REGION_BYTES = 4096;

export interface EpLocalBusOptions {
  readonly mapFormat: MapFormat;
  readonly writeChannels: number;
  readonly readChannels: number;
  readonly memoryBytes: number;
  /** LL memory is padded to this so an aligned window over it stays inside the region. */
  readonly align: number;
  /**
   * Regions that are not on the EP's bus but share its arena, e.g. the testbed's host RAM:
   * then an engine copies between host and EP memory with one copyWithin, no view per element.
   */
  readonly companions?: readonly { name: string; base: number; size: number }[];
  /**
   * Externally provided memory (two-process mode: file mappings another process shares):
   * the arena (`arenaBytes` of the RAM, LL and companion sizes), the register block
   * (MmioRegisterFile.bytesFor) and the scratch pool's backing with its size.
   */
  readonly shared?: {
    readonly arena?: SharedArrayBuffer;
    readonly registers?: SharedArrayBuffer;
    readonly scratch?: SharedArrayBuffer;
    readonly scratchBytes?: number;
  };
}

/**
 * Everything on the EP's local bus: EP RAM and the LL memory in one arena (so an engine copies
 * between them with copyWithin), the DMA register block as MMIO, and the coherent pool that
 * backs BARs. LL regions are packed write channels first, then read channels, so they are
 * physically contiguous and one DMA-window submap can cover them all.
 */
export class EpLocalBus {
  readonly space: AddressSpace;
  readonly ram: MemoryRegion;
  readonly llMemory: MemoryRegion;
  readonly registers: MmioRegisterFile;
  readonly registerRegion: MemoryRegion;
  readonly scratch: ScratchMemory;
  readonly companions: readonly MemoryRegion[];
  private readonly writeChannels: number;
  private readonly readChannels: number;

  constructor(o: EpLocalBusOptions) {
    if (!Number.isSafeInteger(o.memoryBytes) || o.memoryBytes < 4096 || EP_RAM_BASE + o.memoryBytes > 2 ** 48) {
      throw new EpdmaError('EINVAL', `endpoint memoryBytes ${o.memoryBytes} must be an integer of at least 4096`);
    }
    this.registers = MmioRegisterFile.create(o.mapFormat, { writeChannels: o.writeChannels, readChannels: o.readChannels }, o.shared?.registers);
    this.writeChannels = o.writeChannels;
    this.readChannels = o.readChannels;
    const llBytes = alignUp(Math.max(1, o.writeChannels + o.readChannels) * LL_REGION_BYTES, o.align);
    const [ram, ll, ...companions] = ramArena([
      { name: 'ep-ram', base: EP_RAM_BASE, size: o.memoryBytes },
      { name: 'ep-ll', base: EP_LL_BASE, size: llBytes },
      ...(o.companions ?? []),
    ], o.shared?.arena);
    this.companions = companions;
    this.ram = ram!;
    this.llMemory = ll!;
    this.registerRegion = mmioRegion('ep-dma-regs', EP_DMA_REGS_BASE, this.registers);
    this.space = new AddressSpace('ep-local', [this.ram, this.llMemory, this.registerRegion]);
    const scratchBytes = o.shared?.scratchBytes ?? EP_SCRATCH_SIZE;
    if (!Number.isSafeInteger(scratchBytes) || scratchBytes < 4096 || scratchBytes > EP_SCRATCH_SIZE) {
      throw new EpdmaError('EINVAL', `endpoint scratchBytes ${scratchBytes} must be an integer in 4096..${EP_SCRATCH_SIZE}`);
    }
    this.scratch = new ScratchMemory(this.space, EP_SCRATCH_BASE, scratchBytes, o.shared?.scratch);
  }

  /** EP-local address of a channel's LL region. */
  llAddress(kind: ChannelKind, hwChannel: number): number {
    return EP_LL_BASE + this.llIndex(kind, hwChannel) * LL_REGION_BYTES;
  }

  /** The channel's LL region as the EP CPU sees it (directly, not through a BAR). */
  llRegion(kind: ChannelKind, hwChannel: number): LlRegion {
    const i = this.llIndex(kind, hwChannel);
    return {
      buffer: this.llMemory.buffer,
      bufferOffset: this.llMemory.bufferOffset + i * LL_REGION_BYTES,
      size: LL_REGION_BYTES,
      paddr: EP_LL_BASE + i * LL_REGION_BYTES,
    };
  }

  private llIndex(kind: ChannelKind, hwChannel: number): number {
    const count = kind === 'write' ? this.writeChannels : this.readChannels;
    if (!Number.isInteger(hwChannel) || hwChannel < 0 || hwChannel >= count) {
      throw new EpdmaError('EINVAL', `${kind} channel ${hwChannel} has no LL region (the engine has ${count} ${kind} channels)`);
    }
    return kind === 'write' ? hwChannel : this.writeChannels + hwChannel;
  }
}
