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
  private readonly backing: SharedArrayBuffer | undefined;
  private serial = 0;

  /**
   * With `backing` (at least `size` bytes), every block lives in it at `phys - base` instead
   * of in a buffer of its own, so one shared file can carry every BAR's memory to another
   * process (two-process mode).
   */
  constructor(space: AddressSpace, base: number, size: number, backing?: SharedArrayBuffer) {
    if (backing !== undefined && backing.byteLength < size) {
      throw new EpdmaError('EINVAL', `scratch: backing buffer of ${hex(backing.byteLength)} bytes is smaller than the ${hex(size)}-byte pool`);
    }
    this.space = space;
    this.base = base;
    this.limit = base + size;
    this.backing = backing;
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
    const region = this.backing === undefined
      ? ramRegion(`ep-scratch${this.serial++}`, at, size)
      : ramRegion(`ep-scratch${this.serial++}`, at, size, this.backing, at - this.base);
    // A shared backing is reused across alloc/free: zero it like a fresh buffer.
    if (this.backing !== undefined) region.bytes.fill(0);
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
