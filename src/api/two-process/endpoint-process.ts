import { closeSync, existsSync, mkdirSync, readFileSync, rmdirSync, rmSync, symlinkSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import { Observable, Subject } from 'rxjs';
import { EpdmaError } from '../../device/errors.js';
import { AddressSpace } from '../../device/bus/address-space.js';
import { arenaBytes, ramRegion, type MemoryRegion } from '../../device/bus/memory-region.js';
import { EndpointController } from '../../device/epc/endpoint-controller.js';
import { EP_SCRATCH_BASE, LL_REGION_BYTES } from '../../device/epc/ep-local-bus.js';
import { clearHostRequest } from '../../device/metadata/metadata-handshake.js';
import { PciEnumerator } from '../../device/pci/pci-enumerator.js';
import type { PciFunction } from '../../device/pci/pci-function.js';
import type { ChannelKind } from '../../device/regs/channel-registers.js';
import { MmioRegisterFile } from '../../device/regs/register-file.js';
import { upper32 } from '../../device/wordpart.js';
import { CHANNEL_KINDS, channelIdentity, kindAbbreviation } from '../../device/direction.js';
import { EndpointFunction } from '../../pci-epf-dma/endpoint-function.js';
import type { SupervisorEventType } from '../../actors/supervisor.js';
import { createSealedMemory, loadNativeAddon, nativeAddonUnavailableReason } from '../../native/native-addon.js';
import { DmaDevice } from '../dma-device.js';
import { linkUpGate, startChipChannels } from '../side-assembly.js';
import { RegionMemory } from '../dma-memory.js';
import { HOST_RAM_BASE, resolveTestbedOptions, type ResolvedTestbedOptions } from '../testbed-options.js';
import type { EndpointSide, RuntimeEvent } from '../types.js';
import { DelegatedEngines } from './delegated-engines.js';
import { IatuMirror } from './iatu-mirror.js';
import { HostWatch, processAlive } from './liveness.js';
import {
  ALL_SHM_FILES, CONTROL_BYTES, CONTROL_MAGIC, CTL, EP_STATE_RUNNING, EP_STATE_STOPPING, MANIFEST_FORMAT, MANIFEST_VERSION,
  SHM_FILES, SHM_SCRATCH_BYTES, shmPath, writeManifest, type DeviceManifest, type ManifestRegion,
} from './shm-layout.js';

export interface EndpointProcessOptions {
  /** The directory the BARs and memories are published in (created if missing). */
  readonly shm: string;
  readonly mapFormat?: 'unroll' | 'hdma-compat' | 'hdma-native';
  readonly writeChannels?: number;
  readonly readChannels?: number;
  readonly wrChans?: number;
  readonly rdChans?: number;
  /** EP memory (default 64 MiB): the lower half for this process's clients, the upper half for the host's. */
  readonly memoryBytes?: number;
  /** Host RAM, which lives in the EP's arena so the EP's engines reach it (default 256 MiB). */
  readonly hostMemoryBytes?: number;
  readonly vendorId?: number;
  readonly deviceId?: number;
  /** Map work's H poll period (default 10 ms). */
  readonly hostRequestPollMs?: number;
  /** The EP-local channel core's semantics, as TestbedOptions.driver (default 'contract'). */
  readonly quirks?: 'contract' | 'dw-edma';
  /** One line per lifecycle event (host attached, host gone, ...). */
  readonly log?: (line: string) => void;
}

const HEARTBEAT_MS = 50;

/**
 * `epdma endpoint`: the endpoint (engines, pci-epf-dma, EP-local channels) in this process,
 * its memories, register block, BAR backing and control words published as files under DIR
 * for a host process (openHost). The host's channel workers drive the delegated channels
 * through regs.mem; their engines run here in one engine worker.
 */
export async function startEndpointProcess(options: EndpointProcessOptions): Promise<EndpointProcess> {
  if (loadNativeAddon() === null) {
    throw new EpdmaError('EOPNOTSUPP', `epdma endpoint: two-process mode needs the native addon (${nativeAddonUnavailableReason()})`);
  }
  const o = resolveTestbedOptions({
    endpoint: {
      ...(options.mapFormat !== undefined ? { mapFormat: options.mapFormat } : {}),
      ...(options.writeChannels !== undefined ? { writeChannels: options.writeChannels } : {}),
      ...(options.readChannels !== undefined ? { readChannels: options.readChannels } : {}),
      ...(options.memoryBytes !== undefined ? { memoryBytes: options.memoryBytes } : {}),
    },
    function: {
      ...(options.wrChans !== undefined ? { wrChans: options.wrChans } : {}),
      ...(options.rdChans !== undefined ? { rdChans: options.rdChans } : {}),
      ...(options.vendorId !== undefined ? { vendorId: options.vendorId } : {}),
      ...(options.deviceId !== undefined ? { deviceId: options.deviceId } : {}),
    },
    ...(options.hostMemoryBytes !== undefined ? { host: { memoryBytes: options.hostMemoryBytes } } : {}),
    timing: { hostRequestPollMs: options.hostRequestPollMs ?? 10 },
    ...(options.quirks !== undefined ? { driver: { quirks: options.quirks } } : {}),
  });
  const ep = new EndpointProcess(resolvePath(options.shm), o, options.log ?? (() => undefined));
  try {
    await ep.start();
  } catch (err) {
    await ep.close();
    throw err;
  }
  return ep;
}

/**
 * What a previous endpoint left in DIR: its generation (from its control block while it runs,
 * else from its device.json), and whether it still runs.
 */
function previousEndpoint(dir: string): { generation: number; livePid: number | undefined } {
  let generation = 0;
  try {
    const m = JSON.parse(readFileSync(shmPath(dir, SHM_FILES.manifest), 'utf8')) as { generation?: unknown };
    if (typeof m.generation === 'number' && Number.isSafeInteger(m.generation) && m.generation > 0) generation = m.generation;
  } catch {
    // none, or not readable: start from the control block or from 1
  }
  try {
    const bytes = readFileSync(shmPath(dir, SHM_FILES.control));
    if (bytes.byteLength < 64) return { generation, livePid: undefined };
    const words = new Int32Array(bytes.buffer, bytes.byteOffset, 16);
    if (words[CTL.MAGIC] !== CONTROL_MAGIC) return { generation, livePid: undefined };
    const pid = words[CTL.EP_PID]!;
    const live = pid !== process.pid && words[CTL.EP_STATE] === EP_STATE_RUNNING && processAlive(pid) ? pid : undefined;
    return { generation: Math.max(generation, words[CTL.EP_GENERATION]!), livePid: live };
  } catch {
    // The link dangles: its endpoint is gone.
    return { generation, livePid: undefined };
  }
}

export class EndpointProcess {
  readonly dir: string;
  private readonly o: ResolvedTestbedOptions;
  private readonly log: (line: string) => void;
  private readonly eventSubject = new Subject<RuntimeEvent>();
  readonly events$: Observable<RuntimeEvent> = this.eventSubject.asObservable();
  private createdDir = false;
  private createdFiles = false;
  private ctl: Int32Array | undefined;
  private epc: EndpointController | undefined;
  private epf: EndpointFunction | undefined;
  private epEngine: DmaDevice | undefined;
  private engines: DelegatedEngines | undefined;
  private hostWatch: HostWatch | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private side: EndpointSide | undefined;
  private closing: Promise<void> | undefined;
  private readonly epLink = new Int32Array(new SharedArrayBuffer(4));
  /** The memfds behind the published links: open while this process publishes them. */
  private readonly fds: number[] = [];
  generation = 0;

  constructor(dir: string, o: ResolvedTestbedOptions, log: (line: string) => void) {
    this.dir = dir;
    this.o = o;
    this.log = log;
  }

  /** The EP-local side for clients in this process (EP memory's lower half, local channels). */
  get endpoint(): EndpointSide {
    if (this.side === undefined) throw new EpdmaError('ESHUTDOWN', 'epdma endpoint: not running');
    return this.side;
  }

  get mapFormat(): string {
    return this.o.mapFormat;
  }

  async start(): Promise<void> {
    const o = this.o;
    const dir = this.dir;
    if (!existsSync(dir)) {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      this.createdDir = true;
    }
    const prev = previousEndpoint(dir);
    if (prev.livePid !== undefined) throw new EpdmaError('EBUSY', `epdma endpoint: endpoint process ${prev.livePid} already publishes ${dir}`);
    this.generation = (prev.generation | 0) + 1;
    // Fresh files: a host still holding the old ones (a dead HostSide) keeps its own copies.
    for (const f of ALL_SHM_FILES) rmSync(shmPath(dir, f), { force: true });
    this.createdFiles = true;

    const llBytes = Math.ceil(Math.max(1, o.writeChannels + o.readChannels) * LL_REGION_BYTES / 4096) * 4096;
    const files = {
      arena: { name: SHM_FILES.arena, bytes: arenaBytes([o.epMemoryBytes, llBytes, o.hostMemoryBytes]) },
      registers: { name: SHM_FILES.registers, bytes: MmioRegisterFile.bytesFor(o.mapFormat) },
      scratch: { name: SHM_FILES.scratch, bytes: SHM_SCRATCH_BYTES },
      control: { name: SHM_FILES.control, bytes: CONTROL_BYTES },
    };
    // Sealed memfds, published as links to /proc/<pid>/fd/<fd> (see shm-layout.ts).
    const map = (f: { name: string; bytes: number }): SharedArrayBuffer => {
      const made = createSealedMemory(`epdma-${f.name}`, f.bytes);
      this.fds.push(made.fd);
      symlinkSync(made.path, shmPath(dir, f.name));
      return made.buffer;
    };
    const arena = map(files.arena);
    const registers = map(files.registers);
    const scratch = map(files.scratch);
    const ctl = new Int32Array(map(files.control));
    this.ctl = ctl;
    Atomics.store(ctl, CTL.VERSION, MANIFEST_VERSION);
    Atomics.store(ctl, CTL.EP_PID, process.pid);
    Atomics.store(ctl, CTL.EP_GENERATION, this.generation);
    Atomics.store(ctl, CTL.HOST_PID, 0);
    Atomics.store(ctl, CTL.EP_STATE, EP_STATE_RUNNING);
    Atomics.store(ctl, CTL.MAGIC, CONTROL_MAGIC);
    const mirror = new IatuMirror(ctl);

    const epc = new EndpointController({
      mapFormat: o.mapFormat,
      writeChannels: o.writeChannels,
      readChannels: o.readChannels,
      memoryBytes: o.epMemoryBytes,
      linkBytesPerSec: o.linkBytesPerSec,
      companionRegions: [{ name: 'host-ram', base: HOST_RAM_BASE, size: o.hostMemoryBytes }],
      shared: { arena, registers, scratch, scratchBytes: SHM_SCRATCH_BYTES },
      // Written before the aperture's change is visible to anyone: R follows the submaps.
      onBarWindows: (funcNo, bar, windows) => {
        if (funcNo === 0) mirror.write(bar, windows);
      },
    });
    this.epc = epc;
    const hostRam = epc.companion('host-ram')!;
    const hostSpace = new AddressSpace('host-bus', [hostRam]);
    const epf = new EndpointFunction({
      vendorId: o.vendorId, deviceId: o.deviceId, metadataBar: o.metadataBar, dmaWindowBar: o.dmaWindowBar,
      wrChans: o.wrChans, rdChans: o.rdChans, msiInterrupts: o.msiInterrupts, hostRequestPollMs: o.hostRequestPollMs,
    });
    this.epf = epf;
    epf.bind(epc);
    epc.start();
    Atomics.store(this.epLink, 0, 1);
    epf.events$.subscribe((e) => {
      if (e.type === 'ready') this.log('READY (a host requested the channels; windows programmed)');
      if (e.type === 'map-failed' || e.type === 'init-failed') this.log(`${e.type}: ${e.reason ?? ''}`);
    });
    // The host's PCI core assigns the BAR addresses; the endpoint needs them for its submaps,
    // so this process plays that part with the same rule and publishes the result.
    const fn = new PciEnumerator().enumerate(epc)[0];
    if (fn === undefined) throw new EpdmaError('ENODEV', 'epdma endpoint: the function did not enumerate');

    // Delegated channels: engines here, drivers in the host process.
    this.engines = new DelegatedEngines({
      registers,
      mapFormat: o.mapFormat,
      channels: epf.delegated.map((d) => ({ kind: d.kind, hwChannel: d.hwChannel, llRegion: { base: epc.llAddress(d.kind, d.hwChannel), size: LL_REGION_BYTES } })),
      local: epc.localSpace.describe(),
      // The host's channels move data only in EP RAM: never LL, metadata, registers, scratch.
      localData: new AddressSpace('ep-granted', [epc.memory]).describe(),
      remote: hostSpace.describe(),
      ...(o.linkBytesPerSec !== Infinity ? { linkBytesPerSec: o.linkBytesPerSec } : {}),
    }, (line) => this.log(line), { view: ctl, index: CTL.EP_RESETS });
    this.engines.start();

    // EP-local channels: their own workers, engines inside, as in the in-process testbed.
    const onEvent = (type: SupervisorEventType, name: string, reason?: string): void => this.emit(type, name, reason);
    const lower = ramRegion('ep-ram', epc.memory.base, o.epMemoryBytes / 2, epc.memory.buffer, epc.memory.bufferOffset);
    const epMemory = new RegionMemory(lower);
    this.epEngine = new DmaDevice({ side: 'endpoint', memory: epMemory, supervision: o.supervision, onEvent });
    await startChipChannels(this.epEngine, epc.localChip(), linkUpGate(this.epLink), (info, region) => ({
      quirks: o.quirks,
      engine: {
        local: epc.localSpace.describe(),
        remote: hostSpace.describe(),
        llRegion: { base: epc.llAddress(info.kind, region.hwChannel), size: region.ll.size },
        ...(o.linkBytesPerSec !== Infinity ? { linkBytesPerSec: o.linkBytesPerSec } : {}),
      },
      idle: { policy: o.idle },
    }), (kind, hwChannel) => epc.requestLocalChannel(kind, hwChannel));
    this.side = {
      memory: epMemory,
      dma: this.epEngine,
      metadata: epf.metadata!,
      delegated: epf.delegated.map((d) => channelIdentity('host', d.kind, d.hwChannel)),
    };

    writeManifest(dir, this.manifest(fn, files, epc, hostRam));
    this.heartbeat = setInterval(() => Atomics.add(ctl, CTL.EP_HEARTBEAT, 1), HEARTBEAT_MS);
    this.heartbeat.unref();
    this.hostWatch = new HostWatch(ctl, {
      onAttached: (pid) => this.log(`host process ${pid} attached`),
      onGone: async (pid, how) => {
        await this.engines?.reset();
        // As if dw-edma-pcie had been removed: the next host sets H again.
        const words = epf.metadataWords;
        if (words !== undefined) clearHostRequest(words, epf.attributes.headerLayout);
        this.log(how === 'died' ? `host process ${pid} is gone (killed?): cleared H, reset the delegated channels` : `host process ${pid} detached: cleared H, reset the delegated channels`);
      },
      onBogusSlot: (word, pid) => this.log(`control.mem host slot holds ${word} while host process ${pid} is attached and alive: ignored`),
    });
  }

  private manifest(fn: PciFunction, files: DeviceManifest['files'], epc: EndpointController, hostRam: MemoryRegion): DeviceManifest {
    const o = this.o;
    const ram = (r: MemoryRegion): ManifestRegion => ({ name: r.name, base: r.base, size: r.size, kind: 'ram', file: 'arena', fileOffset: r.bufferOffset });
    const regions: ManifestRegion[] = [
      ram(epc.memory),
      ram(epc.llMemory),
      ram(hostRam),
      { name: 'ep-dma-regs', base: epc.registerBase, size: epc.registers.windowBytes, kind: 'mmio', file: 'registers', fileOffset: 0 },
      { name: 'ep-scratch', base: EP_SCRATCH_BASE, size: SHM_SCRATCH_BYTES, kind: 'ram', file: 'scratch', fileOffset: 0 },
    ];
    return {
      format: MANIFEST_FORMAT,
      version: MANIFEST_VERSION,
      mapFormat: o.mapFormat,
      writeChannels: o.writeChannels,
      readChannels: o.readChannels,
      epPid: process.pid,
      generation: this.generation,
      files,
      regions,
      function: {
        funcNo: fn.funcNo, bus: 1, vendorId: fn.config.vendorId, deviceId: fn.config.deviceId, revisionId: fn.config.revisionId,
        classCode: fn.config.classCode, subsysVendorId: fn.config.subsysVendorId, subsysId: fn.config.subsysId,
        interruptPin: fn.config.interruptPin, msiVectors: fn.msiVectors, msix: fn.msix ?? null,
      },
      bars: fn.bars.flatMap((b) => (b === undefined ? [] : [{ index: b.index, size: b.size, busAddr: b.busAddr, is64: upper32(b.busAddr + b.size - 1) !== 0 }])),
      delegated: this.epf!.delegated.map((d) => ({ kind: d.kind, hwChannel: d.hwChannel })),
    };
  }

  /** "ready in DIR (pid N): <format>, delegated wr 0..a, rd 0..b" */
  describe(): string {
    const d = this.epf?.delegated ?? [];
    const range = (kind: ChannelKind): string => {
      const n = d.filter((x) => x.kind === kind).length;
      return n === 0 ? 'none' : `0..${n - 1}`;
    };
    return `ready in ${this.dir} (pid ${process.pid}): ${this.o.mapFormat}, delegated ${CHANNEL_KINDS.map((kind) => `${kindAbbreviation(kind)} ${range(kind)}`).join(', ')}`;
  }

  private emit(type: RuntimeEvent['type'], name?: string, reason?: string): void {
    this.eventSubject.next({ type, atNs: process.hrtime.bigint(), ...(name !== undefined ? { name } : {}), ...(reason !== undefined ? { reason } : {}) });
  }

  /** Tells an attached host, stops everything, removes the files (and DIR if it made it). Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      if (this.ctl !== undefined) Atomics.store(this.ctl, CTL.EP_STATE, EP_STATE_STOPPING);
      this.hostWatch?.stop();
      if (this.heartbeat !== undefined) clearInterval(this.heartbeat);
      Atomics.store(this.epLink, 0, 0);
      await Promise.all([this.engines?.close(), this.epEngine?.close()]);
      this.epf?.unbind();
      this.epc?.stop();
      if (this.createdFiles) {
        for (const f of ALL_SHM_FILES) rmSync(shmPath(this.dir, f), { force: true });
      }
      // The memories live on in whoever still maps them (an attached host, dead or alive).
      for (const fd of this.fds.splice(0)) closeSync(fd);
      if (this.createdDir) {
        try {
          rmdirSync(this.dir);
        } catch {
          // someone put something else there: leave it
        }
      }
      this.eventSubject.complete();
    })();
    return this.closing;
  }
}
