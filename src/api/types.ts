import type { Observable } from 'rxjs';
import type { MetadataLayout } from '../device/metadata/metadata-layout.js';

/** Public types of the contract (API.md). Names and shapes are fixed. */

export type Direction = 'mem-to-dev' | 'dev-to-mem';

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
  host?: { memoryBytes?: number };
  timing?: {
    preset?: 'fast' | 'kernel';
    hostRequestPollMs?: number;
    readyPollMs?: number;
    readyTimeoutMs?: number;
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
