import { EpdmaError, hex } from '../errors.js';
import { doubleCounter } from '../double-counter.js';
import { RESOLVE_CROSSES_END, RESOLVE_UNMAPPED, type AddressSpace } from '../bus/address-space.js';
import type { MemoryRegion } from '../bus/memory-region.js';
import { channelRegisters, type ChannelKind, type ChannelRegisterSet } from '../regs/channel-registers.js';
import { CHANNEL_STATUS } from '../regs/edma-v0-regs.js';
import type { MmioRegisterFile } from '../regs/register-file.js';
import { LL_CONTROL, LL_DATA_BYTES, LL_LINK_BYTES } from '../ll/ll-codec.js';
import type { ChannelEngineOps } from './channel-engine-ops.js';
import { createChannelEngineOps } from './create-channel-engine-ops.js';
import { EngineFault } from './engine-fault.js';
import { LinkBudget } from './link-budget.js';
import { IOMMU_DEVICE_READS, IOMMU_DEVICE_WRITES, type IommuTable } from '../bus/iommu-table.js';
import { join64, lower32, upper32 } from '../wordpart.js';

export interface ChannelEngineOptions {
  readonly registers: MmioRegisterFile;
  readonly kind: ChannelKind;
  readonly ch: number;
  /** The EP's local bus: EP memory and the LL memory. */
  readonly local: AddressSpace;
  /** The PCIe side as the EP's DMA sees it: host memory at host bus addresses. */
  readonly remote: AddressSpace;
  /**
   * The EP-local memory this channel may move data to or from (default all of `local`). A
   * channel delegated to the host gets only what the function grants for data (EP RAM):
   * never the LL regions, the metadata, the registers or the scratch pool.
   */
  readonly localData?: AddressSpace;
  /** The host IOMMU: host memory is reachable only through its live mappings. */
  readonly iommu?: IommuTable;
  /** This channel's LL region (EP-local address); elements outside it abort the channel. */
  readonly llRegion: { readonly base: number; readonly size: number };
  /** Link throughput budget in bytes per second (default unlimited). */
  readonly linkBytesPerSec?: number;
  /**
   * Copy used at or above `bigCopyBytes` (the addon's memcpy, measured faster on shared
   * memory); below it `copyWithin` inside one arena, `TypedArray.prototype.set` across.
   */
  readonly bigCopy?: (dst: Uint8Array, dstOffset: number, src: Uint8Array, srcOffset: number, length: number) => void;
  readonly bigCopyBytes?: number;
}

export interface EngineCounters {
  chunks: number;
  elements: number;
  bytes: number;
  aborts: number;
  localInterrupts: number;
  remoteInterrupts: number;
}

/**
 * One DMA channel of the DesignWare engine (reference 6.1-6.4). A plain object stepped by
 * whoever hosts it (the channel worker in-process, the endpoint process in two-process mode).
 * It talks to its driver only through the register file and memory:
 *
 * - a latched doorbell starts it if the engine/channel is enabled; it loads the cycle state
 *   (v0: CCS in ch_control1; HDMA: cycle_sync, where the STAT bit asks to resynchronise to the
 *   CB of the element at LLP) and the element pointer from LLP, and reports CS = running;
 * - it consumes data elements whose CB equals the cycle state; a link element (LLP bit) is
 *   always followed: TCB toggles the cycle state and LLP jumps. The kernel writes the link
 *   element's CB inverted, so only this reading lets every chunk, of any length, run: the
 *   jump lands on the old chunk, whose CB no longer matches, and the channel stops there;
 * - each data element is translated whole on both sides before a byte moves (read channel:
 *   SAR on the PCIe side, DAR local; write channel the reverse) and copied;
 * - an element with LIE raises DONE (status bit always; the local interrupt only when
 *   unmasked; RIE sends the IMWr "MSI" write to the host when programmed) once the walk has
 *   stopped or reached the next data element, so a poller that sees DONE sees CS = stopped;
 * - a fault raises ABORT, sets error status, logs the fault, halts the channel, and writes
 *   nothing for the faulting element.
 */
export class ChannelEngine {
  readonly kind: ChannelKind;
  readonly ch: number;
  readonly regs: ChannelRegisterSet;
  readonly counters: EngineCounters = doubleCounter({ chunks: 0, elements: 0, bytes: 0, aborts: 0, localInterrupts: 0, remoteInterrupts: 0 }, 'bytes');

  private readonly file: MmioRegisterFile;
  /** What differs per layout (status, cycle state, interrupt gates, IMWr/MSI), chosen once. */
  private readonly ops: ChannelEngineOps;
  private readonly src: AddressSpace;
  private readonly dst: AddressSpace;
  private readonly remote: AddressSpace;
  private readonly llBase: number;
  private readonly llEnd: number;
  private readonly llWords: Int32Array;
  private readonly budget: LinkBudget;
  private readonly bigCopy: ChannelEngineOptions['bigCopy'];
  private readonly bigCopyBytes: number;
  private readonly iommu: IommuTable | null;

  private running = false;
  private ptr = 0;
  private ccs = 0;
  /** Bytes of the current data element already moved (a budgeted link moves it in pieces). */
  private progress = 0;
  private doneDue = false;
  private rieDue = false;
  private hops = 0;

  constructor(options: ChannelEngineOptions) {
    this.kind = options.kind;
    this.ch = options.ch;
    this.file = options.registers;
    this.regs = channelRegisters(this.file.format, options.kind, options.ch);
    this.ops = createChannelEngineOps(this.file, this.regs);
    // Read channel: host -> EP (SAR on the PCIe side). Write channel: EP -> host.
    const data = options.localData ?? options.local;
    this.src = options.kind === 'read' ? options.remote : data;
    this.dst = options.kind === 'read' ? data : options.remote;
    this.iommu = options.iommu ?? null;
    this.remote = options.remote;
    const { base, size } = options.llRegion;
    const hit = options.local.translate(base, size, true);
    if (!hit.ok || (base & 3) !== 0 || ((hit.region.bufferOffset + hit.offset) & 3) !== 0) {
      throw new EpdmaError('EINVAL', `${options.kind} channel ${options.ch}: LL region ${hex(base)}+${hex(size)} is not 4-byte aligned EP memory`);
    }
    this.llBase = base;
    this.llEnd = base + size;
    this.llWords = new Int32Array(hit.region.buffer, hit.region.bufferOffset + hit.offset, size >>> 2);
    this.budget = new LinkBudget(options.linkBytesPerSec ?? Infinity);
    this.bigCopy = options.bigCopy;
    this.bigCopyBytes = options.bigCopyBytes ?? Infinity;
  }

  get busy(): boolean {
    return this.running;
  }

  /** True when a step could do something now: running, or a doorbell/stop is latched. */
  get wantsStep(): boolean {
    return this.running || this.file.doorbellPending(this.kind, this.ch);
  }

  /**
   * Advances the channel: takes a latched stop or doorbell, then walks elements until the
   * channel stops, faults, the link budget runs out, or one region's worth of elements has
   * run (a chunk never holds more). Returns true while still running.
   */
  step(): boolean {
    if (this.file.takeStop(this.kind, this.ch) && this.running) {
      this.abort(EngineFault.STOPPED, this.ptr, 0);
      return false;
    }
    if (!this.running) {
      if (!this.file.takeDoorbell(this.kind, this.ch)) return false;
      if (!this.start()) return false;
    } else if (!this.ops.enabled()) {
      // Turned off under a running transfer (quiesce: engine_en / ch_en 0): the channel halts.
      this.abort(EngineFault.CHANNEL_DISABLED, this.ptr, 0);
      return false;
    }
    return this.walk();
  }

  private start(): boolean {
    const r = this.regs;
    this.ptr = join64(this.file.hwLoad(r.llpHi), this.file.hwLoad(r.llpLo));
    if (!this.ops.enabled()) {
      this.abort(EngineFault.CHANNEL_DISABLED, this.ptr, 0);
      return false;
    }
    const llpElement = this.elementIndex(this.ptr, 4);
    this.ccs = this.ops.loadCycleState(llpElement < 0 ? -1 : this.llWords[llpElement]! & LL_CONTROL.CB);
    this.running = true;
    this.progress = 0;
    this.hops = 0;
    this.doneDue = false;
    this.rieDue = false;
    this.setStatus(CHANNEL_STATUS.RUNNING);
    return true;
  }

  /** Word index of an element of `bytes` at `addr` inside the LL region, or -1. */
  private elementIndex(addr: number, bytes: number): number {
    if (addr < this.llBase || addr + bytes > this.llEnd || (addr & 3) !== 0) return -1;
    return (addr - this.llBase) >>> 2;
  }

  private walk(): boolean {
    const words = this.llWords;
    const maxHops = (this.llEnd - this.llBase) / LL_LINK_BYTES + 2;
    // A list that cycles through data elements of the current cycle (a link without TCB back
    // to them) never stops, as on hardware; yield after one region's worth of elements so the
    // host loop can still take a stop doorbell instead of spinning inside step() forever.
    let elementsLeft = Math.floor((this.llEnd - this.llBase) / LL_DATA_BYTES) + 1;
    for (;;) {
      let wi = this.elementIndex(this.ptr, 4);
      if (wi < 0) return this.abort(EngineFault.LL_OUTSIDE_REGION, this.ptr, 0);
      const control = words[wi]!;
      if ((control & LL_CONTROL.LLP) !== 0) {
        wi = this.elementIndex(this.ptr, LL_LINK_BYTES);
        if (wi < 0) return this.abort(EngineFault.LL_OUTSIDE_REGION, this.ptr, 0);
        if (++this.hops > maxHops) return this.abort(EngineFault.LL_LOOP, this.ptr, 0);
        if ((control & LL_CONTROL.TCB) !== 0) this.ccs ^= 1;
        this.ptr = join64(words[wi + 3]!, words[wi + 2]!);
        continue;
      }
      if ((control & LL_CONTROL.CB) !== this.ccs) {
        this.stop();
        return false;
      }
      if (this.doneDue) this.raiseDone();
      this.hops = 0;
      wi = this.elementIndex(this.ptr, LL_DATA_BYTES);
      if (wi < 0) return this.abort(EngineFault.LL_OUTSIDE_REGION, this.ptr, 0);
      const size = words[wi + 1]! >>> 0;
      const sar = join64(words[wi + 3]!, words[wi + 2]!);
      const dar = join64(words[wi + 5]!, words[wi + 4]!);
      if (size > 0 && !this.move(sar, dar, size)) return this.running;
      this.progress = 0;
      this.counters.elements++;
      this.ptr += LL_DATA_BYTES;
      if ((control & LL_CONTROL.LIE) !== 0) {
        this.doneDue = true;
        this.rieDue = (control & LL_CONTROL.RIE) !== 0;
      }
      if (--elementsLeft === 0) return true;
    }
  }

  /**
   * Moves (the rest of) one element. False when the budget ran out (still running) or the
   * element faulted (halted).
   */
  private move(sar: number, dar: number, size: number): boolean {
    // The IOMMU sits between the engine and the host: a read channel reads host memory (SAR),
    // a write channel writes it (DAR); outside a mapping of that direction nothing moves.
    if (this.iommu !== null) {
      const reads = this.kind === 'read';
      if (!this.iommu.allows(reads ? sar : dar, size, reads ? IOMMU_DEVICE_READS : IOMMU_DEVICE_WRITES)) {
        this.iommu.recordFault();
        this.abort(reads ? EngineFault.SOURCE_UNMAPPED : EngineFault.DESTINATION_UNMAPPED, reads ? sar : dar, size);
        return false;
      }
    }
    const si = this.src.resolve(sar, size);
    if (si < 0) {
      this.abort(EngineFault.SOURCE_UNMAPPED, si === RESOLVE_CROSSES_END ? sar + size : sar, size);
      return false;
    }
    const di = this.dst.resolve(dar, size);
    if (di < 0) {
      this.abort(EngineFault.DESTINATION_UNMAPPED, di === RESOLVE_UNMAPPED ? dar : dar + size, size);
      return false;
    }
    const s = this.src.region(si);
    const d = this.dst.region(di);
    if (s.kind !== 'ram') {
      this.abort(EngineFault.SOURCE_UNMAPPED, sar, size);
      return false;
    }
    if (d.kind !== 'ram') {
      this.abort(EngineFault.DESTINATION_UNMAPPED, dar, size);
      return false;
    }
    const done = this.progress;
    const n = this.budget.grant(size - done);
    if (n > 0) {
      copyBetween(d, dar - d.base + done, s, sar - s.base + done, n, this.bigCopy, this.bigCopyBytes);
      this.progress += n;
      this.counters.bytes += n;
    }
    return this.progress === size;
  }

  private stop(): void {
    this.running = false;
    this.counters.chunks++;
    this.writeBack();
    this.setStatus(CHANNEL_STATUS.STOPPED);
    if (this.doneDue) this.raiseDone();
  }

  private writeBack(): void {
    const r = this.regs;
    this.file.hwStore(r.llpLo, lower32(this.ptr));
    this.file.hwStore(r.llpHi, upper32(this.ptr));
    this.ops.storeCycleState(this.ccs);
  }

  private setStatus(cs: number): void {
    this.ops.setChannelStatus(cs);
  }

  private raiseDone(): void {
    const r = this.regs;
    this.doneDue = false;
    this.file.hwOr(r.intStatus, r.doneBit);
    if (this.ops.localInterruptEnabled(false)) this.counters.localInterrupts++;
    if (this.rieDue && this.ops.remoteInterruptEnabled(false)) this.imwr(false);
    this.rieDue = false;
    this.file.signalIrq(this.kind, this.ch);
  }

  private abort(code: number, addr: number, size: number): false {
    const r = this.regs;
    this.running = false;
    this.doneDue = false;
    this.progress = 0;
    this.counters.aborts++;
    this.file.recordFault(this.kind, this.ch, code, addr);
    this.ops.raiseErrorStatus(code);
    if (size > 0) this.file.hwStore(r.transferSize, size);
    this.file.hwStore(r.llpLo, lower32(this.ptr));
    this.file.hwStore(r.llpHi, upper32(this.ptr));
    this.setStatus(CHANNEL_STATUS.HALTED);
    this.file.hwOr(r.intStatus, r.abortBit);
    if (this.ops.localInterruptEnabled(true)) this.counters.localInterrupts++;
    if (this.ops.remoteInterruptEnabled(true)) this.imwr(true);
    this.file.signalIrq(this.kind, this.ch);
    return false;
  }

  /** The engine's interrupt write (IMWr / HDMA MSI): a 32-bit posted write to host memory. */
  private imwr(abort: boolean): void {
    const addr = this.ops.interruptAddress(abort);
    if (addr === 0) return;
    const data = this.ops.interruptData();
    const i = this.remote.resolve(addr, 4);
    if (i < 0) return; // a posted write to nowhere is dropped, as on the bus
    const region = this.remote.region(i);
    if (region.kind !== 'ram') return;
    const at = region.bufferOffset + addr - region.base;
    new DataView(region.buffer).setUint32(at, data, true);
    this.counters.remoteInterrupts++;
  }

  /** Forgets any transfer in progress (the hosting worker restarted); registers stay as they are. */
  reset(): void {
    this.running = false;
    this.progress = 0;
    this.doneDue = false;
    this.rieDue = false;
  }
}

function copyBetween(
  d: MemoryRegion, dOff: number, s: MemoryRegion, sOff: number, n: number,
  bigCopy: ChannelEngineOptions['bigCopy'], bigCopyBytes: number,
): void {
  const da = d.bufferOffset + dOff;
  const sa = s.bufferOffset + sOff;
  if (bigCopy !== undefined && n >= bigCopyBytes) {
    // V8 copies shared memory with relaxed-atomic loops; memcpy is ~2.5x faster from 16 KiB.
    bigCopy(d.arena, da, s.arena, sa, n);
  } else if (d.buffer === s.buffer) {
    // Same arena: one view, no allocation.
    d.arena.copyWithin(da, sa, sa + n);
  } else {
    d.arena.set(s.arena.subarray(sa, sa + n), da);
  }
}
