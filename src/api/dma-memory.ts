import { EpdmaError, hex } from '../device/errors.js';
import type { MemoryRegion } from '../device/bus/memory-region.js';
import type { DmaBuffer, DmaMemory } from './types.js';
import { checkCount, checkDmaBuffer, checkLength, checkOpen, checkOptions } from './validate.js';

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
  /** The RAM region the buffers are carved from: every buffer's `bytes` is a view into it. */
  readonly region: MemoryRegion;
  private free_: Extent[];
  /** addr -> the buffer handed out there: identity tells a live buffer from a freed one. */
  private readonly live = new Map<number, DmaBuffer>();
  private closed = false;

  constructor(region: MemoryRegion) {
    this.region = region;
    this.base = region.base;
    this.size = region.size;
    this.free_ = [{ start: 0, size: region.size }];
  }

  alloc(bytes: number, options?: { align?: number }): DmaBuffer {
    checkOpen(this.closed, `${this.region.name}: alloc`);
    checkLength(bytes, 'alloc: size'); // larger than the memory is ENOMEM below, naming it
    const align = checkCount(checkOptions(options, 'alloc: options').align ?? 64, 'alloc: align', 1, 2 ** 30);
    if ((align & (align - 1)) !== 0) throw new EpdmaError('EINVAL', `alloc: align ${align} must be a power of two`);
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
      const buffer: DmaBuffer = { addr, length: bytes, bytes: this.region.bytes.subarray(start, start + bytes) };
      this.live.set(addr, buffer);
      return buffer;
    }
    throw new EpdmaError('ENOMEM', `alloc: no ${hex(bytes)}-byte block (align ${align}) left in ${this.region.name} [${hex(this.base)}, ${hex(this.base + this.size)})`);
  }

  free(buffer: DmaBuffer): void {
    checkOpen(this.closed, `${this.region.name}: free`);
    checkDmaBuffer(buffer, 'free: buffer');
    if (!this.isLive(buffer)) {
      throw new EpdmaError('EINVAL', `free: ${hex(buffer.addr)}+${hex(buffer.length)} is not a live buffer of ${this.region.name}`);
    }
    const length = buffer.length;
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

  /** The very buffer alloc() handed out at its address and not freed since (copies of it count). */
  private isLive(buffer: DmaBuffer): boolean {
    const b = this.live.get(buffer.addr);
    return b !== undefined && b.length === buffer.length && b.bytes === buffer.bytes;
  }

  /**
   * A DmaBuffer handed to a channel: it must be live (EPERM after free: its memory may have a
   * new owner) and hold `length` bytes (EINVAL: the engine would write past its end).
   */
  checkBuffer(buffer: DmaBuffer, length: number, what: string): void {
    if (!this.isLive(buffer)) {
      if (this.contains(buffer.addr, buffer.length)) {
        throw new EpdmaError('EPERM', `${what}: DmaBuffer ${hex(buffer.addr)}+${hex(buffer.length)} was freed (or never came from ${this.region.name}'s alloc)`);
      }
      throw new EpdmaError('EINVAL', `${what}: DmaBuffer ${hex(buffer.addr)}+${hex(buffer.length)} is not in ${this.region.name}`);
    }
    if (length > buffer.length) {
      throw new EpdmaError('EINVAL', `${what}: length ${hex(length)} exceeds the ${hex(buffer.length)}-byte DmaBuffer at ${hex(buffer.addr)}`);
    }
  }

  /** The testbed closed: alloc and free are ESHUTDOWN from now on. */
  close(): void {
    this.closed = true;
  }

  /** True if [addr, addr + length) lies inside this side's memory. */
  contains(addr: number, length: number): boolean {
    return Number.isSafeInteger(addr) && addr >= this.base && length >= 0 && addr + length <= this.base + this.size;
  }

  get bytesInUse(): number {
    let n = 0;
    for (const b of this.live.values()) n += b.length;
    return n;
  }
}
