import { EpdmaError, hex } from '../errors.js';

/** Access bits of a mapping, from the device's point of view. */
export const IOMMU_DEVICE_READS = 1; // DMA_TO_DEVICE: the engine reads host memory
export const IOMMU_DEVICE_WRITES = 2; // DMA_FROM_DEVICE: the engine writes host memory

const HEADER_WORDS = 4; // [faults, high water, -, -]
const FAULTS = 0;
const HIGH_WATER = 1;
const ENTRY_BYTES = 24; // Int32 seq, Int32 access, Float64 addr, Float64 length
const DEFAULT_ENTRIES = 4096;

/**
 * The host IOMMU's mapping table in shared memory: the main thread maps and unmaps
 * (dma_map_single / dma_unmap_single, identity IOVA), every engine in every channel worker
 * checks each host access against it. Each entry is a seqlock (odd sequence while being
 * written) so a reader never acts on a half-written entry, and `allows` allocates nothing:
 * engines call it once per LL element.
 */
export class IommuTable {
  readonly buffer: SharedArrayBuffer;
  readonly capacity: number;
  private readonly words: Int32Array;
  private readonly doubles: Float64Array;
  /** Main thread only: entries free for reuse below the high water mark. */
  private readonly freeSlots: number[] = [];

  static create(entries = DEFAULT_ENTRIES): IommuTable {
    return new IommuTable(new SharedArrayBuffer(HEADER_WORDS * 4 + entries * ENTRY_BYTES));
  }

  constructor(buffer: SharedArrayBuffer) {
    this.buffer = buffer;
    this.capacity = Math.floor((buffer.byteLength - HEADER_WORDS * 4) / ENTRY_BYTES);
    this.words = new Int32Array(buffer);
    this.doubles = new Float64Array(buffer);
  }

  /** Engine accesses refused so far. */
  get faults(): number {
    return Atomics.load(this.words, FAULTS);
  }

  recordFault(): void {
    Atomics.add(this.words, FAULTS, 1);
  }

  /** Adds a mapping; returns its slot for `unmap`. ENOMEM when the table is full. */
  map(addr: number, length: number, access: number): number {
    let slot = this.freeSlots.pop();
    if (slot === undefined) {
      slot = Atomics.load(this.words, HIGH_WATER);
      if (slot >= this.capacity) throw new EpdmaError('ENOMEM', `iommu: no free mapping for ${hex(addr)}+${hex(length)} (${this.capacity} mappings live)`);
    }
    this.write(slot, addr, length, access);
    if (slot === Atomics.load(this.words, HIGH_WATER)) Atomics.store(this.words, HIGH_WATER, slot + 1);
    return slot;
  }

  unmap(slot: number): void {
    this.write(slot, 0, 0, 0);
    this.freeSlots.push(slot);
  }

  private write(slot: number, addr: number, length: number, access: number): void {
    const seq = (HEADER_WORDS * 4 + slot * ENTRY_BYTES) >> 2;
    Atomics.add(this.words, seq, 1); // odd: being written
    this.doubles[(seq >> 1) + 1] = addr;
    this.doubles[(seq >> 1) + 2] = length;
    Atomics.store(this.words, seq + 1, access);
    Atomics.add(this.words, seq, 1); // even: stable
  }

  /** True if one live mapping with `access` covers all of [addr, addr + length). */
  allows(addr: number, length: number, access: number): boolean {
    const w = this.words;
    const high = Atomics.load(w, HIGH_WATER);
    for (let slot = 0; slot < high; slot++) {
      const seq = (HEADER_WORDS * 4 + slot * ENTRY_BYTES) >> 2;
      for (;;) {
        const before = Atomics.load(w, seq);
        if ((before & 1) !== 0) continue; // a writer is in the middle of this entry
        const bits = Atomics.load(w, seq + 1);
        const base = this.doubles[(seq >> 1) + 1]!;
        const size = this.doubles[(seq >> 1) + 2]!;
        if (Atomics.load(w, seq) !== before) continue;
        if ((bits & access) !== 0 && addr >= base && addr + length <= base + size) return true;
        break;
      }
    }
    return false;
  }
}
