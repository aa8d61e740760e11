import { EpdmaError, hex } from '../../device/errors.js';
import { RegionMemory } from '../dma-memory.js';
import { show } from '../validate.js';
import type { DmaBuffer, DmaMemory } from '../types.js';

/**
 * A side's DMA memory as the CPU sees it: the SharedArrayBuffer behind it and where the
 * memory starts in it, so a bus address becomes a view (for CPU writes of headers and rx_info,
 * and for the pool's copies) and a user's Uint8Array can be recognised as "already in this
 * memory" (then its bus address is known and it can be DMA'd in place).
 *
 * The public DmaMemory does not expose its backing store; the RegionMemory every epdma side
 * hands out (createTestbed, openHost) names its region.
 */
export class SideMemory {
  readonly memory: DmaMemory;
  readonly name: string;
  readonly sab: SharedArrayBuffer;
  /** Byte offset of bus address `memory.base` inside `sab`. */
  readonly regionOffset: number;

  constructor(memory: DmaMemory, name: string) {
    if (!(memory instanceof RegionMemory)) {
      throw new EpdmaError('EINVAL', `${name} memory: ${show(memory)} is not the memory of an epdma side (createTestbed, openHost)`);
    }
    this.memory = memory;
    this.name = name;
    this.sab = memory.region.buffer;
    this.regionOffset = memory.region.bufferOffset;
  }

  contains(addr: number, length: number): boolean {
    return addr >= this.memory.base && length >= 0 && addr + length <= this.memory.base + this.memory.size;
  }

  /** Offset in `sab` of bus address `addr`. */
  offsetOf(addr: number): number {
    return this.regionOffset + (addr - this.memory.base);
  }

  /** A CPU view of [addr, addr + length) of this memory. */
  view(addr: number, length: number): Uint8Array {
    if (!this.contains(addr, length)) {
      throw new EpdmaError('EINVAL', `${this.name} memory: ${hex(addr)}+${hex(length)} outside [${hex(this.memory.base)}, ${hex(this.memory.base + this.memory.size)})`);
    }
    return new Uint8Array(this.sab, this.offsetOf(addr), length);
  }

  /** The bus address of `bytes` if it is a view inside this memory, else undefined. */
  addressOf(bytes: Uint8Array): number | undefined {
    if (bytes.buffer !== this.sab) return undefined;
    const start = bytes.byteOffset - this.regionOffset;
    if (start < 0 || start + bytes.length > this.memory.size) return undefined;
    return this.memory.base + start;
  }

  alloc(bytes: number, align = 64): DmaBuffer {
    return this.memory.alloc(bytes, { align });
  }

  free(buffer: DmaBuffer): void {
    this.memory.free(buffer);
  }
}
