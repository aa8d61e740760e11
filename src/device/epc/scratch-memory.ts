import { EpdmaError, hex } from '../errors.js';
import type { AddressSpace } from '../bus/address-space.js';
import { ramRegion, type MemoryRegion } from '../bus/memory-region.js';
import { alignUp } from './epc-features.js';

/** One `dma_alloc_coherent` block behind a BAR: EP-local address, size and a CPU view. */
export interface ScratchBlock {
  readonly phys: number;
  readonly size: number;
  readonly region: MemoryRegion;
  readonly bytes: Uint8Array;
}

/**
 * The EP's coherent-memory pool for BAR backing (what `pci_epf_alloc_space` draws from): each
 * block is its own zeroed RAM region in the EP-local address space, placed first-fit in a
 * fixed address range so freed ranges are reused across bind/unbind cycles.
 */
export class ScratchMemory {
  private readonly space: AddressSpace;
  private readonly base: number;
  private readonly limit: number;
  private readonly blocks: ScratchBlock[] = [];
  private serial = 0;

  constructor(space: AddressSpace, base: number, size: number) {
    this.space = space;
    this.base = base;
    this.limit = base + size;
  }

  get allocated(): readonly ScratchBlock[] {
    return this.blocks;
  }

  /** A zeroed block of `size` bytes whose address is aligned to `align` (a power of two). */
  alloc(size: number, align: number): ScratchBlock {
    if (!Number.isSafeInteger(size) || size <= 0) throw new EpdmaError('EINVAL', `scratch: size ${size} must be a positive integer`);
    const sorted = [...this.blocks].sort((a, b) => a.phys - b.phys);
    let at = alignUp(this.base, align);
    for (const b of sorted) {
      if (at + size <= b.phys) break;
      at = Math.max(at, alignUp(b.phys + b.size, align));
    }
    if (at + size > this.limit) {
      throw new EpdmaError('ENOMEM', `scratch: no ${hex(size)}-byte block aligned to ${hex(align)} left in [${hex(this.base)}, ${hex(this.limit)})`);
    }
    const region = ramRegion(`ep-scratch${this.serial++}`, at, size);
    this.space.add(region);
    const block: ScratchBlock = { phys: at, size, region, bytes: region.bytes };
    this.blocks.push(block);
    return block;
  }

  free(block: ScratchBlock): void {
    const i = this.blocks.indexOf(block);
    if (i < 0) return;
    this.blocks.splice(i, 1);
    this.space.remove(block.region);
  }
}
