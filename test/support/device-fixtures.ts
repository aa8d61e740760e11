/**
 * A small EP/host world for device-model tests, and a "kernel-like driver" that writes chunks
 * and starts channels the way dw_edma_v0_core_write_chunk / dw_edma_v0_core_start /
 * dw_hdma_v0_core_start do (reference 6.4), so engine tests exercise the same register and LL
 * traffic the real driver produces instead of a shape invented for the test.
 */
import { AddressSpace } from '../../dist/device/bus/address-space.js';
import { mmioRegion, ramArena, ramRegion, type MemoryRegion } from '../../dist/device/bus/memory-region.js';
import { ChannelEngine } from '../../dist/device/engine/channel-engine.js';
import { channelRegisters, type ChannelKind, type ChannelRegisterSet } from '../../dist/device/regs/channel-registers.js';
import { CHANNEL_STATUS, EDMA_V0_CONTROL1 } from '../../dist/device/regs/edma-v0-regs.js';
import { HDMA_V0_BITS } from '../../dist/device/regs/hdma-v0-regs.js';
import type { MapFormat } from '../../dist/device/regs/map-format.js';
import { MmioRegisterFile } from '../../dist/device/regs/register-file.js';
import { LL_CONTROL, LL_DATA_BYTES, writeDataElement, writeLinkElement } from '../../dist/device/ll/ll-codec.js';
import { lower32, upper32 } from '../../dist/device/wordpart.js';

export const EP_RAM_BASE = 0x8000_0000;
export const LL_BASE = 0x7000_0000;
export const LL_SLOT_BYTES = 0x1000;
export const LL_SLOTS = 16;
export const HOST_RAM_BASE = 0x1_0000_0000;
/** Where the DMA register block sits on the EP local bus (targets of BAR windows in tests). */
export const DMA_REGS_BASE = 0x6000_0000;

/** The formats the engine models (legacy is rejected by pci-epf-dma and by the model). */
export const ENGINE_FORMATS: readonly MapFormat[] = ['unroll', 'hdma-compat', 'hdma-native'];

export interface DeviceWorld {
  readonly format: MapFormat;
  readonly regs: MmioRegisterFile;
  /** EP local bus: register block, LL memory, EP RAM. */
  readonly local: AddressSpace;
  /** Host bus as the EP's DMA sees it: host RAM. */
  readonly host: AddressSpace;
  readonly epRam: MemoryRegion;
  /** 16 x 4 KiB LL slots, in the same arena as EP RAM. */
  readonly llMem: MemoryRegion;
  readonly hostRam: MemoryRegion;
  readonly regsRegion: MemoryRegion;
}

export interface WorldOptions {
  readonly epRamBytes?: number;
  readonly hostRamBytes?: number;
  readonly writeChannels?: number;
  readonly readChannels?: number;
  /**
   * Carve host RAM out of the same arena as EP RAM and LL memory, so the engine copies with
   * `copyWithin` on one view (its same-buffer path) instead of `set` across buffers.
   */
  readonly sharedArena?: boolean;
}

export function createWorld(format: MapFormat, options: WorldOptions = {}): DeviceWorld {
  const regs = MmioRegisterFile.create(format, {
    writeChannels: options.writeChannels ?? 8,
    readChannels: options.readChannels ?? 8,
  });
  const specs = [
    { name: 'll', base: LL_BASE, size: LL_SLOTS * LL_SLOT_BYTES },
    { name: 'ep-ram', base: EP_RAM_BASE, size: options.epRamBytes ?? 0x10_0000 },
  ];
  const hostSpec = { name: 'host-ram', base: HOST_RAM_BASE, size: options.hostRamBytes ?? 0x10_0000 };
  const arena = ramArena(options.sharedArena === true ? [...specs, hostSpec] : specs);
  const llMem = arena[0]!;
  const epRam = arena[1]!;
  const hostRam = arena[2] ?? ramRegion(hostSpec.name, hostSpec.base, hostSpec.size);
  const regsRegion = mmioRegion('dma-regs', DMA_REGS_BASE, regs);
  return {
    format,
    regs,
    local: new AddressSpace('ep-local', [regsRegion, llMem, epRam]),
    host: new AddressSpace('host', [hostRam]),
    epRam,
    llMem,
    hostRam,
    regsRegion,
  };
}

/** LL slot of a channel: write ch n -> slot n, read ch n -> slot 8 + n (EP-local address). */
export function llSlot(kind: ChannelKind, ch: number): { base: number; size: number } {
  return { base: LL_BASE + ((kind === 'write' ? 0 : 8) + ch) * LL_SLOT_BYTES, size: LL_SLOT_BYTES };
}

export function createEngine(
  world: DeviceWorld,
  kind: ChannelKind,
  ch: number,
  options: { linkBytesPerSec?: number; llRegion?: { base: number; size: number } } = {},
): ChannelEngine {
  return new ChannelEngine({
    registers: world.regs,
    kind,
    ch,
    local: world.local,
    remote: world.host,
    llRegion: options.llRegion ?? llSlot(kind, ch),
    ...(options.linkBytesPerSec !== undefined ? { linkBytesPerSec: options.linkBytesPerSec } : {}),
  });
}

/** One burst {sar, dar, sz} of a chunk, at bus addresses. */
export interface Burst {
  readonly sar: number;
  readonly dar: number;
  readonly size: number;
}

/**
 * Steps an engine until it stops; throws instead of spinning forever. Returns the step count.
 * A budgeted engine needs `pauseMs` between steps so link tokens can accrue.
 */
export function runEngine(engine: ChannelEngine, maxSteps = 10_000, pauseMs = 0): number {
  const sleeper = pauseMs > 0 ? new Int32Array(new SharedArrayBuffer(4)) : undefined;
  let steps = 0;
  while (engine.step()) {
    if (++steps > maxSteps) throw new Error(`engine ${engine.kind}${engine.ch} still running after ${maxSteps} steps`);
    if (sleeper !== undefined) Atomics.wait(sleeper, 0, 0, pauseMs);
  }
  return steps + 1;
}

/** Channel status: v0 CS in ch_control1 [6:5], HDMA ch_stat [1:0]. */
export function channelStatus(world: DeviceWorld, r: ChannelRegisterSet): number {
  if (r.family === 'v0') return (world.regs.read32(r.control1) & EDMA_V0_CONTROL1.CS_MASK) >>> EDMA_V0_CONTROL1.CS_SHIFT;
  return world.regs.read32(r.chStat) & HDMA_V0_BITS.CH_STAT_MASK;
}

export { CHANNEL_STATUS };

/**
 * The per-channel half of dw-edma as far as the engine can see it: LL writes and register
 * writes through `MmioRegisterFile.write32` (the CPU path, with side effects).
 */
export class KernelLikeDriver {
  readonly world: DeviceWorld;
  readonly kind: ChannelKind;
  readonly ch: number;
  readonly regs: ChannelRegisterSet;
  readonly ll: { base: number; size: number };
  /** Not CHIP_LOCAL, remote-routed: RIE on the last element, local interrupt output masked. */
  readonly remote: boolean;
  readonly funcNo: number;
  private readonly llWords: Int32Array;

  constructor(
    world: DeviceWorld,
    kind: ChannelKind,
    ch: number,
    options: { remote?: boolean; funcNo?: number; llRegion?: { base: number; size: number } } = {},
  ) {
    this.world = world;
    this.kind = kind;
    this.ch = ch;
    this.regs = channelRegisters(world.format, kind, ch);
    this.ll = options.llRegion ?? llSlot(kind, ch);
    this.remote = options.remote ?? false;
    this.funcNo = options.funcNo ?? 0;
    const m = world.llMem;
    this.llWords = new Int32Array(m.buffer, m.bufferOffset + (this.ll.base - m.base), this.ll.size / 4);
  }

  /** The CPU view of this channel's LL region (word-indexed). */
  get words(): Int32Array {
    return this.llWords;
  }

  /** dw_edma_v0_core_write_chunk: data elements, LIE (+RIE) on the last, then the link back. */
  writeChunk(bursts: readonly Burst[], cb: boolean): void {
    if (bursts.length === 0) throw new Error('a chunk has at least one burst');
    let wi = 0;
    bursts.forEach((b, i) => {
      let control = cb ? LL_CONTROL.CB : 0;
      if (i === bursts.length - 1) control |= LL_CONTROL.LIE | (this.remote ? LL_CONTROL.RIE : 0);
      writeDataElement(this.llWords, wi, control, b.size, b.sar, b.dar);
      wi += LL_DATA_BYTES / 4;
    });
    writeLinkElement(this.llWords, wi, LL_CONTROL.LLP | LL_CONTROL.TCB | (cb ? 0 : LL_CONTROL.CB), this.ll.base);
  }

  /** dw_edma_v0_core_start / dw_hdma_v0_core_start. */
  start(first: boolean): void {
    const f = this.world.regs;
    const r = this.regs;
    if (r.family === 'v0') {
      if (first) {
        f.write32(r.enable, 1);
        if (r.format === 'hdma-compat') f.write32(r.pwrEn, 1);
        const bits = r.doneBit | r.abortBit;
        const mask = f.read32(r.intMask);
        f.write32(r.intMask, this.remote ? mask | bits : mask & ~bits);
        f.write32(r.llErrEn, f.read32(r.llErrEn) | (1 << this.ch));
        f.write32(r.control1, EDMA_V0_CONTROL1.CCS | EDMA_V0_CONTROL1.LLE | (this.funcNo << EDMA_V0_CONTROL1.FUNC_SHIFT));
        f.write32(r.llpLo, lower32(this.ll.base));
        f.write32(r.llpHi, upper32(this.ll.base));
      }
      if (this.remote) void this.llWords[0]; // flush posted LL writes before the doorbell
      f.write32(r.doorbell, this.ch);
      return;
    }
    if (first) {
      f.write32(r.enable, HDMA_V0_BITS.CH_EN);
      // v4 part 1: clear the 0x7d mask/enable field, then remote enables only or local ones only.
      const setup = f.read32(r.intSetup) & ~0x7d;
      f.write32(r.intSetup, setup | (this.remote ? 0x28 : 0x50));
      f.write32(r.control1, HDMA_V0_BITS.LINKLIST_EN);
      f.write32(r.funcNum, this.funcNo); // the kernel does this once at channel setup; same value
      f.write32(r.llpLo, lower32(this.ll.base));
      f.write32(r.llpHi, upper32(this.ll.base));
    }
    f.write32(r.cycleSync, HDMA_V0_BITS.CONSUMER_CYCLE_STAT | HDMA_V0_BITS.CONSUMER_CYCLE_BIT);
    if (this.remote) void this.llWords[0];
    f.write32(r.doorbell, HDMA_V0_BITS.DOORBELL_START);
  }

  /** Chunk k of a descriptor: cb = !(k % 2), first = k == 0. */
  submitChunk(bursts: readonly Burst[], k: number): void {
    this.writeChunk(bursts, k % 2 === 0);
    this.start(k === 0);
  }

  intStatus(): number {
    return this.world.regs.read32(this.regs.intStatus);
  }
  done(): boolean {
    return (this.intStatus() & this.regs.doneBit) !== 0;
  }
  aborted(): boolean {
    return (this.intStatus() & this.regs.abortBit) !== 0;
  }
  /** What the interrupt handler does for this channel: W1C its DONE and ABORT bits. */
  clearInterrupts(): void {
    this.world.regs.write32(this.regs.intClear, this.regs.doneBit | this.regs.abortBit);
  }
  status(): number {
    return channelStatus(this.world, this.regs);
  }

  /**
   * Runs a descriptor chunk by chunk like dw-edma: submit, let the engine run, observe the
   * interrupt status, clear it, next chunk. Stops at the first chunk that does not end DONE.
   */
  runDescriptor(engine: ChannelEngine, chunks: readonly (readonly Burst[])[]): ChunkObservation[] {
    const seen: ChunkObservation[] = [];
    for (let k = 0; k < chunks.length; k++) {
      const irqBefore = this.world.regs.irqSeq(this.kind, this.ch);
      this.submitChunk(chunks[k]!, k);
      const steps = runEngine(engine);
      const obs: ChunkObservation = {
        done: this.done(),
        aborted: this.aborted(),
        status: this.status(),
        irqs: this.world.regs.irqSeq(this.kind, this.ch) - irqBefore,
        steps,
      };
      seen.push(obs);
      this.clearInterrupts();
      if (!obs.done || obs.aborted) break;
    }
    return seen;
  }
}

export interface ChunkObservation {
  readonly done: boolean;
  readonly aborted: boolean;
  readonly status: number;
  readonly irqs: number;
  readonly steps: number;
}

/**
 * Deterministic bytes (mulberry32, four bytes per draw), so a failing case reproduces. Each
 * byte is `(random & andMask) | orMask`.
 */
export function fillRandom(bytes: Uint8Array, seed: number, orMask = 0, andMask = 0xff): void {
  const and = Math.imul(andMask & 0xff, 0x01010101);
  const or = Math.imul(orMask & 0xff, 0x01010101);
  const whole = bytes.length >>> 2;
  const aligned = (bytes.byteOffset & 3) === 0;
  const words = aligned ? new Uint32Array(bytes.buffer, bytes.byteOffset, whole) : undefined;
  let s = seed >>> 0;
  const next = (): number => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) & and) | or;
  };
  let i = 0;
  if (words !== undefined) {
    for (; i < whole; i++) words[i] = next();
    i *= 4;
  }
  for (; i < bytes.length; i++) bytes[i] = next() & 0xff;
}

/**
 * dmatest-style fill: source bytes (host RAM for a read channel, EP RAM for a write channel)
 * have bit 7 set, destination bytes bit 7 clear, so a copy in the wrong place or a byte left
 * behind is visible.
 */
export function fillDmatest(world: DeviceWorld, seed: number, kind: ChannelKind = 'read'): void {
  const { src, dst } = sides(world, kind);
  fillRandom(src.bytes, seed, 0x80, 0xff);
  fillRandom(dst.bytes, seed ^ 0x5a5a5a5a, 0x00, 0x7f);
}

/** Copies of every memory the engine can touch. */
export interface MemorySnapshot {
  readonly host: Uint8Array;
  readonly ep: Uint8Array;
  readonly ll: Uint8Array;
}

export function snapshot(world: DeviceWorld): MemorySnapshot {
  return { host: world.hostRam.bytes.slice(), ep: world.epRam.bytes.slice(), ll: world.llMem.bytes.slice() };
}

/** The snapshot with these bursts applied, as a reference copy would do them. */
export function applyBursts(world: DeviceWorld, before: MemorySnapshot, kind: ChannelKind, bursts: readonly Burst[]): MemorySnapshot {
  const host = before.host.slice();
  const ep = before.ep.slice();
  for (const b of bursts) {
    if (kind === 'read') {
      const s = b.sar - world.hostRam.base;
      ep.set(host.subarray(s, s + b.size), b.dar - world.epRam.base);
    } else {
      const s = b.sar - world.epRam.base;
      host.set(ep.subarray(s, s + b.size), b.dar - world.hostRam.base);
    }
  }
  return { host, ep, ll: before.ll };
}

/** Index of the first differing byte, or -1 (a readable failure instead of a 1 MiB diff). */
export function firstDifference(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  // memcmp first; the byte loop only runs to locate a difference
  if (Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length))) return -1;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

/** Source and destination memory of a channel kind: read = host -> EP, write = EP -> host. */
export function sides(world: DeviceWorld, kind: ChannelKind): { src: MemoryRegion; dst: MemoryRegion } {
  return kind === 'read' ? { src: world.hostRam, dst: world.epRam } : { src: world.epRam, dst: world.hostRam };
}
