import { EpdmaError, hex } from '../errors.js';
import type { AddressSpace, BusFault, BusHit } from './address-space.js';
import { checkBarIndex } from '../epc/epc-features.js';

/** One inbound translation: `size` bytes at `barOffset` of the BAR go to EP-local `localAddr`. */
export interface InboundWindow {
  readonly barOffset: number;
  readonly size: number;
  readonly localAddr: number;
}

/**
 * A BAR of the endpoint as the host sees it: an aperture of `size` bytes at a host-assigned
 * bus address, translated by inbound windows (the iATU) to EP-local addresses. One window
 * covering the BAR is the plain case (`set_bar` with backing memory); several windows are
 * the subrange mapping pci-epf-dma programs for its DMA window BAR. Until windows are
 * programmed, or after a link down has lost them, every access faults as unmapped.
 */
export class BarAperture {
  readonly index: number;
  readonly size: number;
  /** Host bus address assigned at enumeration (undefined until then). */
  busAddr: number | undefined;
  private readonly local: AddressSpace;
  private list: InboundWindow[] = [];
  /**
   * Called after every program()/unprogram() with the windows now in force: how a process
   * that owns the iATU publishes it to a process that only mirrors it (two-process mode).
   */
  onChange?: (index: number, windows: readonly InboundWindow[]) => void;

  constructor(index: number, size: number, local: AddressSpace) {
    checkBarIndex(index, 'BAR aperture');
    if (!Number.isSafeInteger(size) || size < 16 || (size & (size - 1)) !== 0) {
      throw new EpdmaError('EINVAL', `BAR${index}: size ${hex(size)} must be a power of two >= 16`);
    }
    this.index = index;
    this.size = size;
    this.local = local;
  }

  /**
   * The windows in force right now. A subclass may take them from elsewhere (a mirror of
   * another process's iATU); everything that translates goes through here.
   */
  protected currentWindows(): readonly InboundWindow[] {
    return this.list;
  }

  get windows(): readonly InboundWindow[] {
    return this.currentWindows();
  }

  get programmed(): boolean {
    return this.currentWindows().length > 0;
  }

  /**
   * Programs the inbound windows. With `contiguous` (the subrange-mapping rule) they must
   * tile the BAR from offset 0 without gaps. Every target must be EP-local memory or MMIO.
   */
  program(windows: readonly InboundWindow[], options: { contiguous?: boolean } = {}): void {
    const sorted = [...windows].sort((a, b) => a.barOffset - b.barOffset);
    let next = 0;
    for (const w of sorted) {
      if (!Number.isSafeInteger(w.barOffset) || !Number.isSafeInteger(w.size) || w.size <= 0 || w.barOffset < 0 || w.barOffset + w.size > this.size) {
        throw new EpdmaError('EINVAL', `BAR${this.index}: window ${hex(w.barOffset)}+${hex(w.size)} outside the ${hex(this.size)}-byte BAR`);
      }
      if (w.barOffset < next) throw new EpdmaError('EINVAL', `BAR${this.index}: window at ${hex(w.barOffset)} overlaps the previous one`);
      if (options.contiguous === true && w.barOffset !== next) throw new EpdmaError('EINVAL', `BAR${this.index}: gap before window at ${hex(w.barOffset)} (subrange mappings must tile the BAR)`);
      const t = this.local.translate(w.localAddr, w.size);
      if (!t.ok) throw new EpdmaError('EINVAL', `BAR${this.index}: window ${hex(w.barOffset)} targets EP-local ${hex(w.localAddr)}+${hex(w.size)}, which is ${t.fault}`);
      next = w.barOffset + w.size;
    }
    if (options.contiguous === true && next !== this.size) throw new EpdmaError('EINVAL', `BAR${this.index}: windows end at ${hex(next)}, short of the BAR size ${hex(this.size)}`);
    this.list = sorted;
    this.onChange?.(this.index, sorted);
  }

  /** Drops every window (link down lost the iATU state, or the BAR was cleared). */
  unprogram(): void {
    this.list = [];
    this.onChange?.(this.index, this.list);
  }

  /** EP-local address for a BAR offset range, which must sit inside one window. */
  toLocal(offset: number, length: number): number | undefined {
    for (const w of this.currentWindows()) {
      if (offset >= w.barOffset && offset + length <= w.barOffset + w.size) return w.localAddr + (offset - w.barOffset);
    }
    return undefined;
  }

  translate(offset: number, length: number): BusHit | BusFault {
    const local = Number.isSafeInteger(offset) && offset >= 0 ? this.toLocal(offset, length) : undefined;
    if (local === undefined) return { ok: false, fault: 'unmapped', addr: offset, length };
    return this.local.translate(local, length);
  }

  private hit(offset: number, length: number, what: string): BusHit {
    if (length === 4 && offset % 4 !== 0) throw new EpdmaError('EINVAL', `${what} BAR${this.index}+${hex(offset)}: not 32-bit aligned`);
    const t = this.translate(offset, length);
    if (!t.ok) throw new EpdmaError('EIO', `${what} BAR${this.index}+${hex(offset)}: ${t.fault === 'unmapped' ? 'no inbound window (BAR not programmed or link down)' : t.fault}`);
    return t;
  }

  /** CPU read through the BAR (32-bit, as every access to the metadata and registers is). */
  read32(offset: number): number {
    const t = this.hit(offset, 4, 'read32');
    const r = t.region;
    if (r.registers !== undefined) return r.registers.read32(t.offset);
    return Atomics.load(new Int32Array(r.buffer, r.bufferOffset + t.offset, 1), 0) >>> 0;
  }

  /** CPU write through the BAR; MMIO targets apply the register's side effect. */
  write32(offset: number, value: number): void {
    const t = this.hit(offset, 4, 'write32');
    const r = t.region;
    if (r.registers !== undefined) {
      r.registers.write32(t.offset, value);
      return;
    }
    Atomics.store(new Int32Array(r.buffer, r.bufferOffset + t.offset, 1), 0, value | 0);
  }

  /**
   * What `pcim_iomap` gives a driver for a range: the backing buffer and offset, resolved
   * once so a worker can write descriptors through the BAR without a lookup per word.
   */
  iomap(offset: number, length: number): BusHit {
    return this.hit(offset, length, 'iomap');
  }
}
