import { resolve as resolvePath } from 'node:path';
import { Observable, Subject } from 'rxjs';
import { EpdmaError } from '../../device/errors.js';
import { AddressSpace } from '../../device/bus/address-space.js';
import { mmioRegion, ramRegion, type MemoryRegion } from '../../device/bus/memory-region.js';
import { PCI_STD_NUM_BARS } from '../../device/epc/epc-features.js';
import { PciFunction, type PciBar } from '../../device/pci/pci-function.js';
import { MmioRegisterFile } from '../../device/regs/register-file.js';
import type { HostDriver } from '../../dw-edma-pcie/host-driver.js';
import type { SupervisorEventType } from '../../actors/supervisor.js';
import { crossProcessWake, loadNativeAddon, mapSealedFile, nativeAddonUnavailableReason } from '../../native/native-addon.js';
import { DEFAULT_LINK_DOWN_TIMEOUT_MS } from '../../protocol/channel-worker-data.js';
import type { DmaDevice } from '../dma-device.js';
import { bindHost } from '../side-assembly.js';
import { driverQuirks } from '../testbed-options.js';
import { RegionMemory } from '../dma-memory.js';
import type { ChannelFilter, ChannelInfo, Completion, DmaChannel, DmaEngine, HostSide, RuntimeEvent } from '../types.js';
import { IatuMirror, MirroredBarAperture } from './iatu-mirror.js';
import { claimHostSlot, EndpointWatch, HostHeartbeat, leaveHostSlot, processAlive } from './liveness.js';
import { checkFile, CONTROL_MAGIC, CTL, EP_STATE_RUNNING, readManifest, shmPath, SHM_FILES, type DeviceManifest } from './shm-layout.js';

export interface OpenHostOptions {
  /** The directory an `epdma endpoint --shm DIR` process publishes. */
  readonly shm: string;
  /** R poll period during probe (default 1 ms). */
  readonly readyPollMs?: number;
  /** R wait limit during probe (default 2000 ms). */
  readonly readyTimeoutMs?: number;
  /** How long to wait for the endpoint to finish detaching a previous host (default 5000 ms). */
  readonly attachTimeoutMs?: number;
  /**
   * How long a transfer waits on the endpoint before it completes 'aborted' with a 'link
   * down' reason: READY clear, or its chunk lost to a reset of the endpoint's channels
   * (default 5000 ms). An endpoint whose heartbeat stands still this long (and at least 3 s)
   * is given up on: its transfers complete 'aborted', later calls throw ESHUTDOWN.
   */
  readonly linkDownTimeoutMs?: number;
  readonly idle?: 'adaptive' | 'spin' | 'sleep';
  /** The host channel core's semantics, as TestbedOptions.driver (default 'contract'). */
  readonly driver?: { readonly quirks?: 'contract' | 'dw-edma' };
  readonly supervision?: { maxRestarts?: number; withinMs?: number; backoffMs?: number };
}

/**
 * The endpoint's heartbeat comes from its main thread's timer, which a loaded machine can delay
 * by a second or more: it is given up on after linkDownTimeoutMs, but never sooner than this.
 */
const ENDPOINT_STALL_MIN_MS = 3000;

/** What openHost resolves to: the host side of API.md plus its lifecycle. */
export type OpenedHost = HostSide & AsyncDisposable & {
  readonly events$: Observable<RuntimeEvent>;
  readonly completions$: Observable<Completion>;
  close(): Promise<void>;
};

/**
 * Opens the endpoint another process publishes under `shm` (two-process mode): maps its files
 * with the addon exactly as a driver maps /sys/bus/pci/devices/<bdf>/resourceN, rebuilds the
 * function from device.json with BARs that translate through the endpoint's mirrored iATU,
 * binds dw-edma-pcie (openHost does what `echo dw-edma-pcie > driver_override` does) and
 * probes it with the same HostDriver as in-process (metadata, H, R), then starts one channel
 * worker per delegated channel. Their engines run in the endpoint process.
 *
 * Rejects EOPNOTSUPP without the native addon (naming why), ENODEV when nothing (alive) is
 * published in `shm`, EBUSY when another live host is attached, EINVAL for a malformed
 * device.json (naming the field), EPERM for a memory that is not sealed against shrinking
 * (only sealed memfds are mapped, so nothing the endpoint does later can SIGBUS this process). When the endpoint process
 * dies, every channel completes what it had 'aborted' and later calls throw ESHUTDOWN; that
 * HostSide stays dead: a restarted endpoint is probed again by a new openHost().
 */
export async function openHost(options: OpenHostOptions): Promise<OpenedHost> {
  return openHostSide(options);
}

/** openHost with the concrete class (for attachTestbed). */
export async function openHostSide(options: OpenHostOptions): Promise<HostProcessSide> {
  if (options === null || typeof options !== 'object' || typeof options.shm !== 'string' || options.shm === '') {
    throw new EpdmaError('EINVAL', `openHost: shm ${JSON.stringify(options?.shm)} is not a directory path`);
  }
  driverQuirks('openHost: driver.quirks', options.driver?.quirks);
  for (const key of ['readyPollMs', 'readyTimeoutMs', 'attachTimeoutMs', 'linkDownTimeoutMs'] as const) {
    const v: unknown = options[key];
    if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v) || v <= 0)) {
      throw new EpdmaError('EINVAL', `openHost: ${key} ${String(v)} must be a positive, finite number of ms`);
    }
  }
  if (loadNativeAddon() === null) {
    throw new EpdmaError('EOPNOTSUPP', `openHost: two-process mode needs the native addon (${nativeAddonUnavailableReason()})`);
  }
  const host = new HostProcessSide(resolvePath(options.shm), options);
  try {
    await host.open();
  } catch (err) {
    await host.close();
    throw err;
  }
  return host;
}

export class HostProcessSide implements HostSide, AsyncDisposable {
  readonly dir: string;
  private readonly options: OpenHostOptions;
  private readonly eventSubject = new Subject<RuntimeEvent>();
  private manifestData: DeviceManifest | undefined;
  private ctl: Int32Array | undefined;
  private claimed = false;
  private heartbeat: HostHeartbeat | undefined;
  private driver: HostDriver | undefined;
  private engine: DmaDevice | undefined;
  private watch: EndpointWatch | undefined;
  private hostMemory: RegionMemory | undefined;
  private epRam: MemoryRegion | undefined;
  private info: HostSide['device'] | undefined;
  private dead: string | undefined;
  private dying: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  private readyEvent: RuntimeEvent | undefined;
  private readonly dmaFacade: HostDma;

  readonly events$: Observable<RuntimeEvent> = new Observable<RuntimeEvent>((subscriber) => {
    if (this.readyEvent !== undefined && this.closing === undefined && this.dead === undefined) subscriber.next(this.readyEvent);
    return this.eventSubject.subscribe(subscriber);
  });

  constructor(dir: string, options: OpenHostOptions) {
    this.dir = dir;
    this.options = options;
    this.dmaFacade = new HostDma(this);
  }

  get memory(): RegionMemory {
    if (this.hostMemory === undefined) throw new EpdmaError('ESHUTDOWN', 'openHost: host side is not open');
    return this.hostMemory;
  }
  get dma(): DmaEngine {
    return this.dmaFacade;
  }
  get device(): HostSide['device'] {
    if (this.info === undefined) throw new EpdmaError('ESHUTDOWN', 'openHost: host side is not open');
    return this.info;
  }
  get completions$(): Observable<Completion> {
    return this.dmaDevice.completions$;
  }
  /** Why this side is dead (the endpoint process died or stopped), or undefined. */
  get deadReason(): string | undefined {
    return this.dead;
  }
  get manifest(): DeviceManifest {
    if (this.manifestData === undefined) throw new EpdmaError('ESHUTDOWN', 'openHost: host side is not open');
    return this.manifestData;
  }
  get dmaDevice(): DmaDevice {
    if (this.engine === undefined) throw new EpdmaError('ESHUTDOWN', 'openHost: host side is not open');
    return this.engine;
  }
  /** The endpoint's RAM as mapped here (attachTestbed hands out its upper half). */
  get endpointRam(): MemoryRegion {
    if (this.epRam === undefined) throw new EpdmaError('ESHUTDOWN', 'openHost: host side is not open');
    return this.epRam;
  }

  async open(): Promise<void> {
    const m = readManifest(this.dir);
    this.manifestData = m;
    const linkDownTimeoutMs = this.options.linkDownTimeoutMs ?? DEFAULT_LINK_DOWN_TIMEOUT_MS;
    // Only sealed memory: a file someone could shrink would make a later access SIGBUS.
    const map = (f: { name: string; bytes: number }): SharedArrayBuffer => mapSealedFile(checkFile(this.dir, f), f.bytes);
    const ctlPath = shmPath(this.dir, m.files.control.name);
    const ctl = new Int32Array(map(m.files.control));
    if (Atomics.load(ctl, CTL.MAGIC) !== CONTROL_MAGIC) throw new EpdmaError('EINVAL', `openHost: ${ctlPath} is not an epdma control block`);
    const endpointAlive = (): boolean =>
      processAlive(m.epPid) && Atomics.load(ctl, CTL.EP_STATE) === EP_STATE_RUNNING &&
      Atomics.load(ctl, CTL.EP_PID) === m.epPid && Atomics.load(ctl, CTL.EP_GENERATION) === m.generation;
    if (!endpointAlive()) {
      throw new EpdmaError('ENODEV', `openHost: endpoint process ${m.epPid} of ${this.dir} is not running (stale files?)`);
    }
    await claimHostSlot(ctl, { dir: this.dir, timeoutMs: this.options.attachTimeoutMs ?? 5000, endpointAlive });
    this.ctl = ctl;
    this.claimed = true;
    this.heartbeat = new HostHeartbeat(ctl);

    const buffers = {
      arena: map(m.files.arena),
      registers: map(m.files.registers),
      scratch: map(m.files.scratch),
    };
    const regs = new MmioRegisterFile(buffers.registers, m.mapFormat);
    // CPU writes from this thread (none on the data path) must reach the endpoint's engines too.
    regs.crossProcessNotify = (view, index) => {
      crossProcessWake(view, index);
    };
    const regions = m.regions.map((r): MemoryRegion => {
      if (r.kind === 'mmio') return mmioRegion(r.name, r.base, regs);
      const buf = r.file === 'arena' ? buffers.arena : r.file === 'scratch' ? buffers.scratch : undefined;
      if (buf === undefined) throw new EpdmaError('EINVAL', `openHost: device.json region ${r.name} lives in ${r.file}, which holds no RAM`);
      return ramRegion(r.name, r.base, r.size, buf, r.fileOffset);
    });
    const hostRam = regions.find((r) => r.name === 'host-ram');
    this.epRam = regions.find((r) => r.name === 'ep-ram');
    if (hostRam === undefined || this.epRam === undefined) throw new EpdmaError('EINVAL', 'openHost: device.json lacks the host-ram or ep-ram region');
    const epLocal = new AddressSpace('ep-local (mirrored)', regions.filter((r) => r !== hostRam));
    const mirror = new IatuMirror(ctl);
    const bars = new Array<PciBar | undefined>(PCI_STD_NUM_BARS).fill(undefined);
    for (const b of m.bars) {
      bars[b.index] = { index: b.index, busAddr: b.busAddr, size: b.size, aperture: new MirroredBarAperture(b.index, b.size, epLocal, mirror, b.busAddr) };
    }
    const f = m.function;
    const fn = new PciFunction({
      bus: f.bus, device: 0, funcNo: f.funcNo,
      config: { vendorId: f.vendorId, deviceId: f.deviceId, revisionId: f.revisionId, classCode: f.classCode, subsysVendorId: f.subsysVendorId, subsysId: f.subsysId, interruptPin: f.interruptPin },
      bars, msiVectors: f.msiVectors, msix: f.msix ?? undefined,
    });
    const hostMemory = new RegionMemory(hostRam);
    this.hostMemory = hostMemory;
    const onEvent = (type: SupervisorEventType, name: string, reason?: string): void => this.emit(type, name, reason);
    const host = await bindHost(fn, {
      probe: { readyPollMs: this.options.readyPollMs ?? 1, readyTimeoutMs: this.options.readyTimeoutMs ?? 2000 },
      device: { memory: hostMemory, supervision: this.options.supervision ?? {}, onEvent },
      onDriverEvent: (e) => this.emit(e.type),
    });
    this.driver = host.driver;
    this.engine = host.dma;
    const quirks = driverQuirks('openHost: driver.quirks', this.options.driver?.quirks);
    // The engines run in the endpoint process: a worker here only drives its channel.
    await host.startChannels(() => ({
      quirks, linkDownTimeoutMs, resets: { buffer: ctl.buffer as SharedArrayBuffer, byteOffset: ctl.byteOffset, index: CTL.EP_RESETS },
      engine: null, crossProcess: true,
      idle: { policy: this.options.idle ?? 'adaptive' },
    }));
    this.info = host.device;
    this.watch = new EndpointWatch(ctl, { pid: m.epPid, generation: m.generation, manifestPath: shmPath(this.dir, SHM_FILES.manifest), stallMs: Math.max(linkDownTimeoutMs, ENDPOINT_STALL_MIN_MS) }, {
      onDead: (reason) => {
        void this.endpointDied(reason);
      },
      // The endpoint reset the delegated channels' engines under us (a chunk in flight may be
      // lost: the channel workers give it linkDownTimeoutMs). A flap of the link, to listeners.
      onReset: (resets) => {
        const why = `endpoint process ${m.epPid} reset the delegated channels (reset ${resets})`;
        this.emit('link-down', undefined, why);
        this.emit('link-up', undefined, why);
      },
    });
    // It may have died while we probed.
    const why = this.watch.reason();
    if (why !== undefined) {
      this.watch.stop();
      await this.endpointDied(why);
      return;
    }
    this.readyEvent = { type: 'ready', atNs: process.hrtime.bigint() };
    this.eventSubject.next(this.readyEvent);
  }

  /** The link to the endpoint is gone for good: fail everything, stop the workers. */
  private endpointDied(reason: string): Promise<void> {
    this.dying ??= (async () => {
      this.dead = reason;
      this.emit('link-down', undefined, reason);
      const engine = this.engine;
      if (engine !== undefined) {
        const handles = engine.channels.flatMap((c) => {
          const h = engine.handle(c.name);
          return h === undefined ? [] : [h];
        });
        // Nothing will complete on the hardware again: fail in flight and queued work now,
        // then join the workers (each is at most one short futex wait away from noticing).
        for (const h of handles) h.onStopped(reason);
        await Promise.all(handles.map((h) => h.actor.stop('stopped')));
      }
      this.driver?.remove();
    })();
    return this.dying;
  }

  /** ESHUTDOWN naming why, once the endpoint is gone. */
  checkAlive(what: string): void {
    if (this.closing !== undefined) throw new EpdmaError('ESHUTDOWN', `host: ${what} after close`);
    if (this.dead !== undefined) throw new EpdmaError('ESHUTDOWN', `host: ${what}: ${this.dead}`);
  }

  private emit(type: RuntimeEvent['type'], name?: string, reason?: string): void {
    if (this.closing !== undefined && type !== 'channel-stopped') return;
    this.eventSubject.next({ type, atNs: process.hrtime.bigint(), ...(name !== undefined ? { name } : {}), ...(reason !== undefined ? { reason } : {}) });
  }

  /** Joins every worker, detaches from the endpoint (it clears H and resets the channels). Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.watch?.stop();
      await this.dying;
      this.hostMemory?.close();
      await this.engine?.close();
      this.driver?.remove();
      this.heartbeat?.stop();
      if (this.claimed && this.ctl !== undefined) leaveHostSlot(this.ctl);
      this.eventSubject.complete();
    })();
    return this.closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** The host's DMAengine: the side engine, refusing new channels once the endpoint is gone. */
class HostDma implements DmaEngine {
  constructor(private readonly side: HostProcessSide) {}

  get channels(): readonly ChannelInfo[] {
    return this.side.dmaDevice.channels;
  }
  get completions$(): Observable<Completion> {
    return this.side.dmaDevice.completions$;
  }
  get completionBatches$(): Observable<readonly Completion[]> {
    return this.side.dmaDevice.completionBatches$;
  }
  requestChannel(filter?: ChannelFilter): Promise<DmaChannel> {
    try {
      this.side.checkAlive('requestChannel');
    } catch (err) {
      return Promise.reject(err);
    }
    return this.side.dmaDevice.requestChannel(filter);
  }
}
