import { EpdmaError, hex } from '../errors.js';
import { mmioRegion, ramRegion, type MemoryRegion } from './memory-region.js';
import { MmioRegisterFile } from '../regs/register-file.js';
import type { MapFormat } from '../regs/map-format.js';

/** A region as plain data: what crosses to a worker (SharedArrayBuffers are shared, not copied). */
export interface RegionDescription {
  readonly name: string;
  readonly base: number;
  readonly size: number;
  readonly kind: 'ram' | 'mmio';
  readonly buffer: SharedArrayBuffer;
  readonly bufferOffset: number;
  readonly format?: MapFormat;
}

/** Why an address did not translate. */
type BusFaultKind = 'unmapped' | 'crosses-end' | 'not-memory';

export interface BusFault {
  readonly ok: false;
  readonly fault: BusFaultKind;
  readonly addr: number;
  readonly length: number;
}
export interface BusHit {
  readonly ok: true;
  readonly region: MemoryRegion;
  /** Offset of `addr` inside `region.bytes`. */
  readonly offset: number;
}

/** Codes returned by the allocation-free `resolve`. */
export const RESOLVE_UNMAPPED = -1;
export const RESOLVE_CROSSES_END = -2;

/**
 * A bus address map: non-overlapping regions at 64-bit bus addresses. One instance models the
 * host's bus (host RAM, BAR apertures) or the endpoint's local bus (EP RAM, LL memory, the DMA
 * register block). Translation is by whole range: a range that starts inside a region but runs
 * past its end is a fault, never a partial hit.
 */
export class AddressSpace {
  readonly name: string;
  private readonly list: MemoryRegion[] = [];
  private last = 0;

  constructor(name: string, regions: readonly MemoryRegion[] = []) {
    this.name = name;
    for (const r of regions) this.add(r);
  }

  get regions(): readonly MemoryRegion[] {
    return this.list;
  }

  add(region: MemoryRegion): void {
    for (const r of this.list) {
      if (region.base < r.base + r.size && r.base < region.base + region.size) {
        throw new EpdmaError('EINVAL', `${this.name}: region ${region.name} [${hex(region.base)}, ${hex(region.base + region.size)}) overlaps ${r.name} [${hex(r.base)}, ${hex(r.base + r.size)})`);
      }
    }
    this.list.push(region);
    this.list.sort((a, b) => a.base - b.base);
  }

  remove(region: MemoryRegion): void {
    const i = this.list.indexOf(region);
    if (i >= 0) this.list.splice(i, 1);
    this.last = 0;
  }

  /**
   * Index of the region holding all of [addr, addr + length), or RESOLVE_UNMAPPED /
   * RESOLVE_CROSSES_END. Allocation-free: the engine calls this once per LL element.
   */
  resolve(addr: number, length: number): number {
    const list = this.list;
    let r = list[this.last];
    if (r === undefined || addr < r.base || addr >= r.base + r.size) {
      let found = -1;
      for (let i = 0; i < list.length; i++) {
        const c = list[i]!;
        if (addr >= c.base && addr < c.base + c.size) {
          found = i;
          break;
        }
      }
      if (found < 0) return RESOLVE_UNMAPPED;
      this.last = found;
      r = list[found]!;
    }
    return addr + length <= r.base + r.size ? this.last : RESOLVE_CROSSES_END;
  }

  region(index: number): MemoryRegion {
    return this.list[index]!;
  }

  /** Plain-data form for postMessage/workerData; `AddressSpace.fromDescription` rebuilds it. */
  describe(): { name: string; regions: RegionDescription[] } {
    return {
      name: this.name,
      regions: this.list.map((r) => ({
        name: r.name, base: r.base, size: r.size, kind: r.kind, buffer: r.buffer, bufferOffset: r.bufferOffset,
        ...(r.registers !== undefined ? { format: r.registers.format } : {}),
      })),
    };
  }

  static fromDescription(d: { name: string; regions: readonly RegionDescription[] }): AddressSpace {
    return new AddressSpace(d.name, d.regions.map((r) =>
      r.kind === 'mmio'
        ? mmioRegion(r.name, r.base, new MmioRegisterFile(r.buffer, r.format!))
        : ramRegion(r.name, r.base, r.size, r.buffer, r.bufferOffset)));
  }

  /** Typed translation for code off the hot path. `memoryOnly` refuses MMIO regions. */
  translate(addr: number, length: number, memoryOnly = false): BusHit | BusFault {
    const i = Number.isSafeInteger(addr) && addr >= 0 && length >= 0 ? this.resolve(addr, length) : RESOLVE_UNMAPPED;
    if (i === RESOLVE_UNMAPPED) return { ok: false, fault: 'unmapped', addr, length };
    if (i === RESOLVE_CROSSES_END) return { ok: false, fault: 'crosses-end', addr, length };
    const region = this.list[i]!;
    if (memoryOnly && region.kind !== 'ram') return { ok: false, fault: 'not-memory', addr, length };
    return { ok: true, region, offset: addr - region.base };
  }

  /** Like `translate`, but a fault is an EpdmaError naming the range. */
  expect(addr: number, length: number, what: string): BusHit {
    const t = this.translate(addr, length, true);
    if (t.ok) return t;
    const why = t.fault === 'unmapped' ? 'is not mapped' : t.fault === 'crosses-end' ? 'runs past the end of its region' : 'is not memory';
    throw new EpdmaError('EINVAL', `${what}: ${this.name} range ${hex(addr)}+${hex(length)} ${why}`);
  }
}
