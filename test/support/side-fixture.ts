/**
 * One EP-local side assembled by hand, without the testbed: an arena with the LL regions and
 * EP RAM, host RAM on the PCIe side, a register file of one map format, and a DmaDevice whose
 * channel actors run the built worker (dist/) with their engines in-process.
 *
 * EP naming: write channel n = 'endpoint/wrN' (mem-to-dev: EP RAM -> host address),
 * read channel n = 'endpoint/rdN' (dev-to-mem: host address -> EP RAM). Segments are EP RAM,
 * device addresses are host RAM. `linkBytesPerSec` throttles every engine so a transfer lasts
 * long enough to be paused, terminated or crashed while it runs.
 */
import { AddressSpace } from '../../dist/device/bus/address-space.js';
import { mmioRegion, ramArena, type MemoryRegion } from '../../dist/device/bus/memory-region.js';
import { MmioRegisterFile } from '../../dist/device/regs/register-file.js';
import { channelIdentity } from '../../dist/device/direction.js';
import type { MapFormat } from '../../dist/device/regs/map-format.js';
import { DmaDevice } from '../../dist/api/dma-device.js';
import { RegionMemory } from '../../dist/api/dma-memory.js';
import type { ChannelHandle } from '../../dist/api/dma-channel.js';
import type { ChannelSpec } from '../../dist/api/dma-device.js';
import type { Completion, Segment } from '../../dist/api/types.js';
import type { Observable } from 'rxjs';
import { afterEach } from 'vitest';
import type { IdlePolicy } from '../../dist/protocol/kick-word.js';
import { waitFor } from './wait.js';

export { waitFor, within } from './wait.js';
import type { DriverQuirks } from '../../dist/protocol/driver-quirks.js';

export const EP_RAM_BASE = 0x8000_0000;
export const LL_BASE = 0x7000_0000;
export const HOST_RAM_BASE = 0x1_0000_0000;
export const DMA_REGS_BASE = 0x6000_0000;
/** A DWC LL region: ll_max = 4096 / 24 - 1 = 169 data elements per chunk. */
export const LL_BYTES = 4096;
export const LL_MAX_4K = 169;

export interface SideFixtureOptions {
  readonly format?: MapFormat;
  readonly writeChannels?: number;
  readonly readChannels?: number;
  /** Link throughput of every engine (default unlimited). */
  readonly linkBytesPerSec?: number;
  readonly epRamBytes?: number;
  readonly hostRamBytes?: number;
  readonly supervision?: { maxRestarts?: number; withinMs?: number; backoffMs?: number };
  readonly idle?: { policy: IdlePolicy; spinIterations?: number; sleepMs?: number; maxSleepMs?: number };
  /** The channel core's semantics (default 'contract'). */
  readonly quirks?: DriverQuirks;
}

export interface SideEvent {
  readonly type: string;
  readonly name: string;
  readonly reason: string | undefined;
}

export interface SideFixture {
  readonly side: DmaDevice;
  readonly regs: MmioRegisterFile;
  readonly epRam: MemoryRegion;
  readonly hostRam: MemoryRegion;
  readonly llMem: MemoryRegion;
  readonly epMemory: RegionMemory;
  readonly hostMemory: RegionMemory;
  /** Supervisor events in order. */
  readonly events: SideEvent[];
  /** Every channel's handle, write channels first. */
  readonly handles: readonly ChannelHandle[];
  /** Requests the named channel ('endpoint/wr0') and returns its handle. */
  request(name: string): Promise<ChannelHandle>;
  /** EP-local address and a CPU view (words) of a channel's LL region. */
  ll(kind: 'write' | 'read', ch: number): { readonly paddr: number; readonly words: Int32Array };
  /**
   * The worker description of a channel on this side's memory (without the doorbell), for
   * tests that start a ChannelActor of their own (use a channel the side does not run).
   */
  spec(kind: 'write' | 'read', ch: number): ChannelSpec;
  /** Closes the side (idempotent). */
  close(): Promise<void>;
}

/** write n -> slot n, read n -> slot 8 + n. */
function llSlot(kind: 'write' | 'read', ch: number): number {
  return (kind === 'write' ? 0 : 8) + ch;
}

export async function createSideFixture(options: SideFixtureOptions = {}): Promise<SideFixture> {
  const format = options.format ?? 'unroll';
  const nWrite = options.writeChannels ?? 1;
  const nRead = options.readChannels ?? 0;
  // A full controller (8 + 8 channels); the side runs actors for a prefix of them.
  const regs = MmioRegisterFile.create(format, { writeChannels: 8, readChannels: 8 });
  const [llMem, epRam] = ramArena([
    { name: 'ep-ll', base: LL_BASE, size: 16 * LL_BYTES },
    { name: 'ep-ram', base: EP_RAM_BASE, size: options.epRamBytes ?? 16 << 20 },
  ]) as [MemoryRegion, MemoryRegion];
  const [hostRam] = ramArena([{ name: 'host-ram', base: HOST_RAM_BASE, size: options.hostRamBytes ?? 16 << 20 }]) as [MemoryRegion];
  const local = new AddressSpace('ep-local', [mmioRegion('ep-dma-regs', DMA_REGS_BASE, regs), llMem, epRam]);
  const remote = new AddressSpace('host-bus', [hostRam]);
  const epMemory = new RegionMemory(epRam);
  const events: SideEvent[] = [];
  const side = new DmaDevice({
    side: 'endpoint',
    memory: epMemory,
    ...(options.supervision !== undefined ? { supervision: options.supervision } : {}),
    onEvent: (type, name, reason) => events.push({ type, name, reason }),
  });

  const ll = (kind: 'write' | 'read', ch: number) => {
    const off = llSlot(kind, ch) * LL_BYTES;
    return { paddr: LL_BASE + off, words: new Int32Array(llMem.buffer, llMem.bufferOffset + off, LL_BYTES / 4) };
  };

  const spec = (kind: 'write' | 'read', ch: number): ChannelSpec => {
    const { name, direction } = channelIdentity('endpoint', kind, ch);
    const region = ll(kind, ch);
    return {
      name, kind, hwChannel: ch, direction,
      mapFormat: format, funcNo: 0, remote: false, quirks: options.quirks ?? 'contract',
      registers: regs.buffer,
      ll: { buffer: llMem.buffer, bufferOffset: llMem.bufferOffset + (region.paddr - LL_BASE), size: LL_BYTES, paddr: region.paddr },
      gate: null,
      engine: {
        local: local.describe(),
        remote: remote.describe(),
        llRegion: { base: region.paddr, size: LL_BYTES },
        ...(options.linkBytesPerSec !== undefined ? { linkBytesPerSec: options.linkBytesPerSec } : {}),
      },
      idle: options.idle ?? { policy: 'adaptive' },
    };
  };

  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => (closed ??= side.close());
  try {
    const kinds: ['write' | 'read', number][] = [];
    for (let ch = 0; ch < nWrite; ch++) kinds.push(['write', ch]);
    for (let ch = 0; ch < nRead; ch++) kinds.push(['read', ch]);
    for (const [kind, ch] of kinds) {
      const s = spec(kind, ch);
      await side.addChannel(channelIdentity('endpoint', kind, ch), s);
    }
  } catch (err) {
    await close();
    throw err;
  }

  return {
    side, regs, epRam, hostRam, llMem, epMemory, hostMemory: new RegionMemory(hostRam), events,
    handles: side.channels.map((c) => side.handle(c.name)!),
    async request(name) {
      await side.requestChannel({ name });
      return side.handle(name)!;
    },
    ll,
    spec,
    close,
  };
}

// ---- helpers for the tests ----

/** Fills `bytes` with a pattern that differs per seed and per position (never all zero). */
export function fillPattern(bytes: Uint8Array, seed: number): void {
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 31 + seed * 17 + (i >>> 8) * 7 + 1) & 0xff;
}

/** True if two views hold the same bytes. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;
}

/** A view of `length` bytes of a RAM region at bus address `addr`. */
export function view(region: MemoryRegion, addr: number, length: number): Uint8Array {
  if (addr < region.base || addr + length > region.base + region.size) throw new Error(`view ${addr.toString(16)}+${length} outside ${region.name}`);
  return region.bytes.subarray(addr - region.base, addr - region.base + length);
}

/** Counts non-zero bytes (how much of a zeroed destination was written). */
export function nonZero(bytes: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < bytes.length; i++) if (bytes[i] !== 0) n++;
  return n;
}

/** One turn of the event loop (a yield, not a wait for anything). */
export const macrotask = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Collects everything a stream emits. */
export function collect<T = Completion>(source: Observable<T>): { items: T[]; stop(): void } {
  const items: T[] = [];
  const sub = source.subscribe((c) => items.push(c));
  return { items, stop: () => sub.unsubscribe() };
}

/**
 * `n` EP RAM segments scattered through `base` (a gap after each, lengths varying by index so
 * a wrong device cursor shows), and the image they must leave at the device address, taken
 * from EP RAM now: fill the source before calling.
 */
export function scatteredSegments(epRam: MemoryRegion, base: number, n: number, lengthOf: (i: number) => number = (i) => 16 + (i % 7) * 8): { segments: Segment[]; image: Uint8Array; bytes: number } {
  const segments: Segment[] = [];
  let at = base;
  let bytes = 0;
  for (let i = 0; i < n; i++) {
    const length = lengthOf(i);
    segments.push({ addr: at, length });
    at += length + 32;
    bytes += length;
  }
  const image = new Uint8Array(bytes);
  let o = 0;
  for (const s of segments) {
    image.set(view(epRam, s.addr, s.length), o);
    o += s.length;
  }
  return { segments, image, bytes };
}

/**
 * Resolves once everything the channel's worker has completed so far is on the streams: a
 * control round trip (the worker publishes its records before it serves a control call), then
 * the pump draining the ring (streams emit synchronously as records are drained). After it a
 * stream's count is exact: nothing the worker did is still on its way.
 */
export async function streamsCaughtUp(ch: ChannelHandle): Promise<void> {
  await ch.actor.call('stats');
  await waitFor(() => ch.actor.completions.available() === 0, `${ch.info.name}: the completion ring to drain`);
}

/**
 * Registers an afterEach that closes the fixture the test opened; `open` builds one (at most
 * one per test).
 */
export function useSideFixture(): (options?: SideFixtureOptions) => Promise<SideFixture> {
  let fx: SideFixture | undefined;
  afterEach(async () => {
    await fx?.close();
    fx = undefined;
  });
  return async (options: SideFixtureOptions = {}) => {
    fx = await createSideFixture(options);
    return fx;
  };
}
