import { EpdmaError, hex } from '../device/errors.js';
import type { MemoryRegion } from '../device/bus/memory-region.js';
import type { DmaBuffer, DmaMemory } from './types.js';

interface Extent {
  start: number; // offset in the region
  size: number;
}

/**
 * A side's DMA memory: hands out buffers at bus addresses inside one RAM region, first fit
 * with alignment, coalescing on free. `bytes` is a view of the same shared memory the engine
 * copies, so payload is written and read in place.
 */
export class RegionMemory implements DmaMemory {
  readonly base: number;
  readonly size: number;
  private readonly region: MemoryRegion;
  private free_: Extent[];
  private readonly live = new Map<number, number>(); // addr -> length

  constructor(region: MemoryRegion) {
    this.region = region;
    this.base = region.base;
    this.size = region.size;
    this.free_ = [{ start: 0, size: region.size }];
  }

  alloc(bytes: number, options: { align?: number } = {}): DmaBuffer {
    const align = options.align ?? 64;
    if (!Number.isSafeInteger(bytes) || bytes <= 0) throw new EpdmaError('EINVAL', `alloc: size ${bytes} must be a positive integer`);
    if (!Number.isSafeInteger(align) || align <= 0 || (align & (align - 1)) !== 0) throw new EpdmaError('EINVAL', `alloc: align ${align} must be a power of two`);
    for (let i = 0; i < this.free_.length; i++) {
      const e = this.free_[i]!;
      const addr = Math.ceil((this.base + e.start) / align) * align;
      const start = addr - this.base;
      const pad = start - e.start;
      if (pad + bytes > e.size) continue;
      const rest: Extent[] = [];
      if (pad > 0) rest.push({ start: e.start, size: pad });
      if (e.size - pad - bytes > 0) rest.push({ start: start + bytes, size: e.size - pad - bytes });
      this.free_.splice(i, 1, ...rest);
      this.live.set(addr, bytes);
      return { addr, length: bytes, bytes: this.region.bytes.subarray(start, start + bytes) };
    }
    throw new EpdmaError('ENOMEM', `alloc: no ${hex(bytes)}-byte block (align ${align}) left in ${this.region.name} [${hex(this.base)}, ${hex(this.base + this.size)})`);
  }

  free(buffer: DmaBuffer): void {
    const length = this.live.get(buffer.addr);
    if (length === undefined || length !== buffer.length) {
      throw new EpdmaError('EINVAL', `free: ${hex(buffer.addr)}+${hex(buffer.length)} is not a live buffer of ${this.region.name}`);
    }
    this.live.delete(buffer.addr);
    const ext: Extent = { start: buffer.addr - this.base, size: length };
    let i = this.free_.findIndex((e) => e.start > ext.start);
    if (i < 0) i = this.free_.length;
    this.free_.splice(i, 0, ext);
    // Coalesce with the neighbours.
    for (let j = Math.max(0, i - 1); j < this.free_.length - 1; ) {
      const a = this.free_[j]!;
      const b = this.free_[j + 1]!;
      if (a.start + a.size === b.start) {
        a.size += b.size;
        this.free_.splice(j + 1, 1);
      } else if (j > i) break;
      else j++;
    }
  }

  /** True if [addr, addr + length) lies inside this side's memory. */
  contains(addr: number, length: number): boolean {
    return Number.isSafeInteger(addr) && addr >= this.base && length >= 0 && addr + length <= this.base + this.size;
  }

  get bytesInUse(): number {
    let n = 0;
    for (const l of this.live.values()) n += l;
    return n;
  }
}
