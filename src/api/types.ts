import type { Observable } from 'rxjs';
import type { MetadataLayout } from '../device/metadata/metadata-layout.js';

/** Public types of the contract (API.md). Names and shapes are fixed. */

import type { Direction } from '../device/direction.js';
import type { CompletionReasonCode } from '../protocol/completion-ring.js';
export type { CompletionReasonCode };
export type { Direction };
export type { DriverQuirks } from '../protocol/driver-quirks.js';

export interface ChannelInfo {
  readonly side: 'endpoint' | 'host';
  readonly kind: 'read' | 'write';
  readonly hwChannel: number;
  readonly direction: Direction;
  readonly name: string;
}

export interface Segment {
  addr: number;
  length: number;
}

export interface Completion {
  readonly cookie: number;
  readonly channel: ChannelInfo;
  readonly result: 'ok' | 'read-failed' | 'write-failed' | 'aborted';
  readonly residue: number;
  readonly bytes: number;
  readonly submittedNs: bigint;
  readonly completedNs: bigint;
  readonly reason?: string;
  /**
   * Why, as a stable code (present with `reason`): 'source-not-mapped', 'destination-not-mapped',
   * 'll-element-outside-region', 'engine-disabled', 'outside-channel-windows', 'worker-crashed',
   * 'terminated', 'paused-terminated', 'channel-released', 'channel-stopped', 'link-down',
   * 'endpoint-reset'. Branch on this, not on `reason`'s text.
   */
  readonly reasonCode?: CompletionReasonCode;
  /** Cyclic transfers (contract mode): which period of the buffer finished. */
  readonly period?: number;
}

export interface TxDescriptor {
  submit(): number;
  readonly done: Promise<Completion>;
}

export interface PrepOptions {
  interrupt?: boolean;
  /** The DMAengine direction the client means; a mismatch with the channel is EINVAL. */
  direction?: Direction;
}

export type TransferRequest =
  | { local: number | DmaBuffer; remote: number; length: number }
  | { segments: readonly Segment[]; deviceAddr: number };

export interface DmaChannel {
  readonly info: ChannelInfo;
  configure(config: { deviceAddr: number; direction?: Direction }): void;
  prepSlaveSg(segments: readonly Segment[], options?: PrepOptions): TxDescriptor;
  prepSlaveSingle(addr: number, length: number, options?: PrepOptions): TxDescriptor;
  issuePending(): void;
  txStatus(cookie: number): { status: 'complete' | 'in-progress' | 'paused' | 'error'; residue: number };
  transfer(request: TransferRequest): Observable<Completion>;
  readonly completions$: Observable<Completion>;
  pause(): Promise<void>;
  resume(): Promise<void>;
  terminateAsync(): void;
  synchronize(): Promise<void>;
  terminateSync(): Promise<void>;
  release(): Promise<void>;
  /**
   * dmaengine_prep_dma_cyclic: the buffer in periods; contract mode emits a Completion per period
   * (with `period`) and runs until terminated; quirks 'dw-edma' does what the kernel driver does.
   */
  prepDmaCyclic(addr: number, bufferBytes: number, periodBytes: number, options?: PrepOptions): TxDescriptor;
  /** dmaengine_prep_interleaved_dma with struct dma_interleaved_template's fields, camelCase. */
  prepInterleavedDma(template: InterleavedTemplate, options?: PrepOptions): TxDescriptor;
  /** dma_get_slave_caps. */
  caps(): DmaSlaveCaps;
  /** Counters since the channel was requested (DPDK dmadev style), read without a worker round trip. */
  stats(): ChannelStats;
}

export interface InterleavedTemplate {
  srcStart: number;
  dstStart: number;
  direction: Direction;
  srcInc: boolean;
  dstInc: boolean;
  srcSgl: boolean;
  dstSgl: boolean;
  /** numf */
  numFrames: number;
  /** frame_size = sgl.length */
  sgl: { size: number; icg?: number; srcIcg?: number; dstIcg?: number }[];
}

export interface DmaSlaveCaps {
  directions: Direction[];
  /** Bursts per chunk (ll_max of the channel's LL region). */
  maxSgBurst: number;
  residueGranularity: 'descriptor' | 'segment' | 'burst';
  cmdPause: boolean;
  cmdResume: boolean;
  cmdTerminate: boolean;
  /** The series' dma_slave_caps.hw_id: the hardware channel number. */
  hwId: number;
  cyclic: boolean;
  interleaved: boolean;
}

export interface ChannelStats {
  submitted: number;
  completed: number;
  errors: number;
  bytes: number;
  burstCapacity: number;
}

export interface ChannelFilter {
  direction?: Direction;
  kind?: 'read' | 'write';
  hwChannel?: number;
  name?: string;
}

export interface DmaEngine {
  readonly channels: readonly ChannelInfo[];
  requestChannel(filter?: ChannelFilter): Promise<DmaChannel>;
  readonly completions$: Observable<Completion>;
  /** Completions in the batches they were drained in (cheaper for high-rate consumers). */
  readonly completionBatches$: Observable<readonly Completion[]>;
}

export interface DmaBuffer {
  readonly addr: number;
  readonly length: number;
  readonly bytes: Uint8Array;
}

export interface DmaMemory {
  readonly base: number;
  readonly size: number;
  alloc(bytes: number, options?: { align?: number }): DmaBuffer;
  free(buffer: DmaBuffer): void;
}

export interface BarInfo {
  readonly index: number;
  readonly size: number;
  readonly busAddr: number;
}

export interface Side {
  readonly memory: DmaMemory;
  readonly dma: DmaEngine;
}

export interface EndpointSide extends Side {
  readonly metadata: MetadataLayout;
  readonly delegated: readonly ChannelInfo[];
}

export interface HostSide extends Side {
  readonly device: {
    vendorId: number;
    deviceId: number;
    classCode: number;
    bars: readonly BarInfo[];
    metadata: MetadataLayout;
  };
  /** Present when the testbed was created with host.iommu true. */
  readonly iommu?: HostIommu;
}

export type IommuDirection = 'to-device' | 'from-device' | 'bidirectional';

/**
 * dma_map_single / dma_unmap_single with identity IOVA. With the IOMMU on, an engine read of
 * host memory outside a to-device/bidirectional mapping, or a write outside a
 * from-device/bidirectional one, fails with the address in the reason and writes nothing.
 */
export interface HostIommu {
  map(buffer: DmaBuffer | Segment, direction: IommuDirection): DmaMapping;
  /** Engine accesses refused so far. */
  readonly faults: number;
}

export interface DmaMapping {
  readonly addr: number;
  readonly length: number;
  unmap(): void;
}

export interface RuntimeEvent {
  readonly type: 'ready' | 'link-up' | 'link-down' | 'channel-started' | 'channel-crashed' | 'channel-restarted' | 'channel-stopped';
  readonly name?: string;
  readonly reason?: string;
  readonly atNs: bigint;
}

export interface TestbedOptions {
  endpoint?: {
    mapFormat?: 'unroll' | 'hdma-compat' | 'hdma-native';
    writeChannels?: number;
    readChannels?: number;
    memoryBytes?: number;
    /** PCIe link budget for the engines in bytes per second (default unlimited). */
    linkBytesPerSec?: number;
  };
  function?: {
    vendorId?: number;
    deviceId?: number;
    metadataBar?: number | 'auto';
    dmaWindowBar?: number | 'auto';
    wrChans?: number;
    rdChans?: number;
    msiInterrupts?: number;
  };
  host?: { memoryBytes?: number; iommu?: boolean };
  timing?: {
    preset?: 'fast' | 'kernel';
    hostRequestPollMs?: number;
    readyPollMs?: number;
    readyTimeoutMs?: number;
    /**
     * How long a transfer waits on a link that is down (READY clear) before it completes
     * 'aborted' with reason 'link down: READY clear' (default 5000 ms).
     */
    linkDownTimeoutMs?: number;
  };
  /** The host's and the EP's dw-edma channel core. */
  driver?: {
    /**
     * 'contract' (default): DMAengine semantics where dw-edma departs from them; 'dw-edma':
     * exactly what the kernel driver does (docs/channel-semantics.md).
     */
    quirks?: 'contract' | 'dw-edma';
  };
  /** Channel worker idle policy (default 'adaptive'). */
  idle?: 'adaptive' | 'spin' | 'sleep';
  /** Supervisor restart intensity (default 3 restarts in 5000 ms). */
  supervision?: { maxRestarts?: number; withinMs?: number; backoffMs?: number };
  /** Write a Chrome trace-event JSON of the run to this file (docs/tracing.md). */
  trace?: string;
}

export interface Testbed extends AsyncDisposable {
  readonly endpoint: EndpointSide;
  readonly host: HostSide;
  readonly completions$: Observable<Completion>;
  readonly events$: Observable<RuntimeEvent>;
  readonly faults: { crashChannel(name: string): Promise<void> };
  linkDown(): Promise<void>;
  linkUp(): Promise<void>;
  close(): Promise<void>;
}

declare module '../device/errors.js' {
  interface EpdmaError {
    /**
     * EIO from `transfer()`: the Completion that was not 'ok' (its result, residue, reason).
     * `detail` holds the same object, for code written before this property existed.
     */
    readonly completion?: Completion;
  }
}
