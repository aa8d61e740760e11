import { availableParallelism } from 'node:os';
import { Observable, Subject } from 'rxjs';
import { EpdmaError } from '../device/errors.js';
import { AddressSpace } from '../device/bus/address-space.js';
import { ramRegion } from '../device/bus/memory-region.js';
import { EndpointController } from '../device/epc/endpoint-controller.js';
import { PciEnumerator } from '../device/pci/pci-enumerator.js';
import type { DwEdmaChannelRegion } from '../device/dma-chip.js';
import { channelIdentity, type ChannelIdentity } from '../device/direction.js';
import { EndpointFunction } from '../pci-epf-dma/endpoint-function.js';
import type { HostDriver } from '../dw-edma-pcie/host-driver.js';
import { loadNativeAddon } from '../native/native-addon.js';
import type { SupervisorEventType } from '../actors/supervisor.js';
import { DmaDevice } from './dma-device.js';
import { bindHost, linkUpGate, startChipChannels, type ChannelRuntime } from './side-assembly.js';
import { HotStream } from './hot-stream.js';
import { checkString } from './validate.js';
import { TableIommu } from './host-iommu.js';
import { TraceRecorder } from './trace-recorder.js';
import { RegionMemory } from './dma-memory.js';
import { resolveTestbedOptions, HOST_RAM_BASE, type ResolvedTestbedOptions } from './testbed-options.js';
import { CoreBudget } from '../protocol/core-budget.js';
import type { Completion, EndpointSide, HostSide, RuntimeEvent, Testbed, TestbedOptions } from './types.js';

/**
 * Builds the whole in-process world (API.md "Topology"): an endpoint controller with its
 * engine, memory and register block; pci-epf-dma bound and configured, delegating channels;
 * the host with its memory, which enumerates the function (class 0x0801), binds dw-edma-pcie
 * by driver override and probes it (metadata, H, READY); then one channel actor per channel
 * on each side under that side's supervisor. Resolves once the host has registered the
 * delegated channels.
 */
export async function createTestbed(options: TestbedOptions = {}): Promise<Testbed & AsyncDisposable> {
  const o = resolveTestbedOptions(options);
  // The addon (if built) must be loaded by the main thread before any worker can touch it.
  loadNativeAddon();
  const bed = new InProcessTestbed(o);
  try {
    await bed.start();
  } catch (err) {
    await bed.close();
    throw err;
  }
  return bed;
}

/**
 * Idle polls before a worker sleeps (~28 ns each): long enough to cover the main thread's
 * turnaround from completion to resubmission (its waitAsync wakeup plus the batch), so a busy
 * channel never pays a futex wakeup per batch. Only the workers holding a spin slot spin.
 */
const SPIN_ITERATIONS = 4000;

class InProcessTestbed implements Testbed {
  readonly epc: EndpointController;
  readonly epf: EndpointFunction;
  private readonly o: ResolvedTestbedOptions;
  /** Present with `trace: FILE`: created first, so a bad path fails before anything starts. */
  private readonly tracer: TraceRecorder | undefined;
  private readonly hostRam;
  private readonly hostSpace: AddressSpace;
  private readonly eventSubject = new Subject<RuntimeEvent>();
  private readonly completionStream = new HotStream<Completion>();
  /** The EP's side of the link for its own channels: 1 while the link is up. */
  private readonly epLink = new Int32Array(new SharedArrayBuffer(4));
  /** The channel workers' CoreBudget: one slot per channel; a restarted worker keeps its slot. */
  private coreBudget: SharedArrayBuffer | undefined;
  private coreSlots = 0;
  private driver: HostDriver | undefined;
  private epEngine: DmaDevice | undefined;
  private hostEngine: DmaDevice | undefined;
  private endpointSide: EndpointSide | undefined;
  private hostSide: HostSide | undefined;
  private readonly memories: RegionMemory[] = [];
  private iommu: TableIommu | undefined;
  /**
   * The EP-local memory pci-epf-dma grants the host's channels for data: EP RAM only. The
   * LL regions, the metadata BAR backing, the registers and the scratch pool are on the same
   * bus but out of the host's reach (a host channel aimed there fails and writes nothing).
   */
  private readonly hostGrant: AddressSpace;
  private closing: Promise<void> | undefined;
  private readyEvent: RuntimeEvent | undefined;
  /** READY as the host driver last reported it. */
  private lastHostReady = true;

  readonly completions$: Observable<Completion> = this.completionStream.observable;
  readonly events$: Observable<RuntimeEvent> = new Observable<RuntimeEvent>((subscriber) => {
    // A late subscriber learns the current state first: the testbed is ready (and the link down).
    if (this.readyEvent !== undefined && this.closing === undefined) {
      subscriber.next(this.readyEvent);
      if (!this.lastHostReady) subscriber.next({ type: 'link-down', atNs: process.hrtime.bigint() });
    }
    return this.eventSubject.subscribe(subscriber);
  });
  readonly faults = {
    crashChannel: async (name: string): Promise<void> => {
      this.checkOpen('crashChannel');
      checkString(name, 'testbed: crashChannel: name');
      const engine = name.startsWith('host/') ? this.hostEngine : name.startsWith('endpoint/') ? this.epEngine : undefined;
      if (engine === undefined) throw new EpdmaError('EINVAL', `crashChannel: '${name}' names no channel (expected host/... or endpoint/...)`);
      await engine.crash(name);
    },
  };

  constructor(o: ResolvedTestbedOptions) {
    this.o = o;
    this.tracer = o.trace !== undefined ? new TraceRecorder(o.trace) : undefined;
    this.epc = new EndpointController({
      mapFormat: o.mapFormat,
      writeChannels: o.writeChannels,
      readChannels: o.readChannels,
      memoryBytes: o.epMemoryBytes,
      linkBytesPerSec: o.linkBytesPerSec,
      companionRegions: [{ name: 'host-ram', base: HOST_RAM_BASE, size: o.hostMemoryBytes }],
    });
    // Host RAM shares the EP arena's buffer, so engine copies between them are one copyWithin.
    this.hostRam = this.epc.companion('host-ram') ?? ramRegion('host-ram', HOST_RAM_BASE, o.hostMemoryBytes);
    this.hostSpace = new AddressSpace('host-bus', [this.hostRam]);
    this.hostGrant = new AddressSpace('ep-granted', [this.epc.memory]);
    this.epf = new EndpointFunction({
      vendorId: o.vendorId,
      deviceId: o.deviceId,
      metadataBar: o.metadataBar,
      dmaWindowBar: o.dmaWindowBar,
      wrChans: o.wrChans,
      rdChans: o.rdChans,
      msiInterrupts: o.msiInterrupts,
      hostRequestPollMs: o.hostRequestPollMs,
    });
  }

  get endpoint(): EndpointSide {
    if (this.endpointSide === undefined) throw new EpdmaError('ESHUTDOWN', 'testbed: endpoint side is not up');
    return this.endpointSide;
  }
  get host(): HostSide {
    if (this.hostSide === undefined) throw new EpdmaError('ESHUTDOWN', 'testbed: host side is not up');
    return this.hostSide;
  }

  async start(): Promise<void> {
    this.tracer?.follow(this);
    this.epf.bind(this.epc);
    this.epc.start(); // core init (BARs published, H/R cleared), then link up
    Atomics.store(this.epLink, 0, 1);
    this.epf.events$.subscribe((e) => {
      if (e.type === 'map-failed' || e.type === 'init-failed') this.emit('link-down', undefined, e.reason ?? e.error?.message);
    });

    const fns = new PciEnumerator().enumerate(this.epc);
    const fn = fns[0];
    if (fn === undefined) throw new EpdmaError('ENODEV', 'testbed: the host enumerated no function');

    const epMemory = new RegionMemory(this.epc.memory);
    const hostMemory = new RegionMemory(this.hostRam);
    this.memories.push(epMemory, hostMemory);
    const onEvent = (type: SupervisorEventType, name: string, reason?: string): void => this.emit(type, name, reason);
    const host = await bindHost(fn, {
      // The R watch (link flaps) need not poll as fast as the probe does.
      probe: { readyPollMs: this.o.readyPollMs, readyTimeoutMs: this.o.readyTimeoutMs, watchPollMs: Math.max(this.o.readyPollMs, 25) },
      device: { memory: hostMemory, supervision: this.o.supervision, onEvent },
      onDriverEvent: (e) => {
        this.lastHostReady = e.type === 'link-up';
        this.emit(e.type);
      },
    });
    this.driver = host.driver;
    this.hostEngine = host.dma;
    if (this.o.iommu) this.iommu = new TableIommu(hostMemory);
    this.epEngine = new DmaDevice({ side: 'endpoint', memory: epMemory, supervision: this.o.supervision, onEvent });
    for (const e of [this.epEngine, this.hostEngine]) e.addSink(this.completionStream);

    const runtime = (info: ChannelIdentity, region: DwEdmaChannelRegion): ChannelRuntime => this.channelRuntime(info, region);
    await Promise.all([
      startChipChannels(this.epEngine, this.epc.localChip(), linkUpGate(this.epLink), runtime, (kind, hwChannel) => this.epc.requestLocalChannel(kind, hwChannel)),
      host.startChannels(runtime),
    ]);

    this.endpointSide = {
      memory: epMemory,
      dma: this.epEngine,
      metadata: this.epf.metadata!,
      delegated: this.epf.delegated.map((d) => channelIdentity('host', d.kind, d.hwChannel)),
    };
    this.hostSide = {
      memory: hostMemory,
      dma: this.hostEngine,
      device: host.device,
      ...(this.iommu !== undefined ? { iommu: this.iommu } : {}),
    };
    this.readyEvent = { type: 'ready', atNs: process.hrtime.bigint() };
    this.eventSubject.next(this.readyEvent);
  }

  /** In-process: every channel's engine runs in its own worker, on the shared bus. */
  private channelRuntime(info: ChannelIdentity, region: DwEdmaChannelRegion): ChannelRuntime {
    return {
      quirks: this.o.quirks,
      linkDownTimeoutMs: this.o.linkDownTimeoutMs,
      engine: {
        local: this.epc.localSpace.describe(),
        remote: this.hostSpace.describe(),
        llRegion: { base: this.epc.llAddress(info.kind, region.hwChannel), size: region.ll.size },
        ...(info.side === 'host' ? { localData: this.hostGrant.describe() } : {}),
        ...(this.iommu !== undefined ? { iommu: this.iommu.table.buffer } : {}),
        ...(this.o.linkBytesPerSec !== Infinity ? { linkBytesPerSec: this.o.linkBytesPerSec } : {}),
      },
      // A kick always wakes an idle worker; the timeout is only a safety net, so keep it long.
      idle: { policy: this.o.idle, maxSleepMs: 1000, spinIterations: SPIN_ITERATIONS },
      // At most cores - 1 workers run (or spin) at once: the main thread keeps a core.
      coreBudget: {
        buffer: (this.coreBudget ??= new SharedArrayBuffer(CoreBudget.bytes(this.o.writeChannels + this.o.readChannels))),
        slot: this.coreSlots++,
        cap: Math.max(1, availableParallelism() - 1),
      },
      ...(this.tracer !== undefined ? { trace: this.tracer.ringFor(info) } : {}),
    };
  }

  private emit(type: RuntimeEvent['type'], name?: string, reason?: string): void {
    const e: RuntimeEvent = { type, atNs: process.hrtime.bigint(), ...(name !== undefined ? { name } : {}), ...(reason !== undefined ? { reason } : {}) };
    this.eventSubject.next(e);
  }

  async linkDown(): Promise<void> {
    this.checkOpen('linkDown');
    Atomics.store(this.epLink, 0, 0);
    const seen = this.hostSees('link-down');
    this.epc.linkDown(); // pci-epf-dma clears R and loses the window mappings
    await seen;
  }

  async linkUp(): Promise<void> {
    this.checkOpen('linkUp');
    const seen = this.hostSees('link-up');
    this.epc.linkUp(); // map work reprograms the windows, then sets R (H was kept)
    await seen;
    Atomics.store(this.epLink, 0, 1);
  }

  /**
   * Resolves once the host driver has reported the READY change, so the event is already on
   * events$ when linkDown()/linkUp() resolve. Immediate if READY is already in that state
   * and the driver saw it (no change will come).
   */
  private hostSees(type: 'link-down' | 'link-up'): Promise<void> {
    const driver = this.driver!;
    return new Promise((resolve) => {
      const sub = driver.events$.subscribe({
        next: (e) => {
          if (e.type === type) {
            sub.unsubscribe();
            resolve();
          }
        },
        complete: () => resolve(),
      });
      if ((type === 'link-up') === driver.isReady() && (type === 'link-up') === this.lastHostReady) {
        sub.unsubscribe();
        resolve();
      }
    });
  }

  private checkOpen(what: string): void {
    if (this.closing !== undefined) throw new EpdmaError('ESHUTDOWN', `testbed: ${what} after close`);
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const m of this.memories) m.close();
      this.iommu?.close();
      await Promise.all([this.epEngine?.close(), this.hostEngine?.close()]);
      this.driver?.remove();
      this.epf.unbind();
      this.epc.stop();
      this.tracer?.close();
      this.completionStream.complete();
      this.eventSubject.complete();
    })();
    return this.closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

