import type { Observable } from 'rxjs';
import { EpdmaError } from '../device/errors.js';
import { ChannelActor } from '../actors/channel-actor.js';
import { Supervisor, type SupervisorEventType } from '../actors/supervisor.js';
import type { ChannelWorkerData } from '../protocol/channel-worker-data.js';
import { CompletionDoorbell, CompletionPump } from '../protocol/completion-doorbell.js';
import { ChannelHandle } from './dma-channel.js';
import { HotStream } from './hot-stream.js';
import type { ChannelFilter, ChannelInfo, Completion, DmaBuffer, DmaChannel, DmaEngine } from './types.js';
import { checkCount, checkEnum, checkOpen, checkOptions, checkString, show } from './validate.js';
import { CHANNEL_KINDS, channelKindFor, DIRECTIONS, kindAbbreviation } from '../device/direction.js';

export type ChannelSpec = Omit<ChannelWorkerData, 'submissions' | 'completions' | 'kick' | 'control' | 'generation' | 'doorbell'>;

/** What a side's channels check their memory arguments against (RegionMemory). */
export interface SideMemoryChecks {
  /** True if [addr, addr + length) is this side's memory. */
  contains(addr: number, length: number): boolean;
  /** EPERM for a freed DmaBuffer, EINVAL for a foreign one or one shorter than `length`. */
  checkBuffer(buffer: DmaBuffer, length: number, what: string): void;
}

export interface DmaDeviceOptions {
  readonly side: 'endpoint' | 'host';
  readonly memory: SideMemoryChecks;
  readonly supervision?: { maxRestarts?: number; withinMs?: number; backoffMs?: number };
  readonly onEvent: (type: SupervisorEventType, name: string, reason?: string) => void;
  /** Wait bound for the pump when another process publishes (its notify cannot reach us). */
  readonly pumpWaitTimeoutMs?: number;
}

/**
 * One side's DMA device, as the kernel's struct dma_device that dw-edma registers with
 * DMAengine (the API's `DmaEngine`): its channel actors under a one-for-one supervisor, one
 * completion doorbell and pump for all of them, and the streams. ("Engine" is kept for the
 * hardware: the channel engines of src/device/engine.) Completions are drained in batches;
 * per-item subscribers get them one by one from the batch, batch subscribers get the array.
 *
 * Nothing here costs anything per completion that nobody subscribed to: the channel builds a
 * Completion only if `observed()` says a stream will carry it, and the batch array exists only
 * while `completionBatches$` has a subscriber. A batch is emitted once per drain pass of the
 * pump (every ring of the side), or, for completions settled outside a pass (a crash, a stop),
 * from a microtask.
 */
export class DmaDevice implements DmaEngine {
  readonly side: 'endpoint' | 'host';
  readonly doorbell = CompletionDoorbell.create();
  private readonly pump: CompletionPump;
  private readonly supervisor: Supervisor;
  private readonly handles: ChannelHandle[] = [];
  private readonly memory: SideMemoryChecks;
  private readonly items = new HotStream<Completion>();
  private readonly batches = new HotStream<readonly Completion[]>();
  readonly completions$: Observable<Completion> = this.items.observable;
  readonly completionBatches$: Observable<readonly Completion[]> = this.batches.observable;
  /** Extra streams every completion goes to (the testbed's merged stream). */
  private readonly sinks: HotStream<Completion>[] = [];
  /** The batch being collected; a new array after each emission (the subscriber may keep it). */
  private batch: Completion[] = [];
  /** Pump passes in progress (a visitor may drain again): the outermost one's end emits the batch. */
  private passDepth = 0;
  /** The last crashChannel of each channel still running. */
  private readonly crashing = new Map<string, Promise<void>>();
  private flushQueued = false;
  private closed = false;

  constructor(options: DmaDeviceOptions) {
    this.side = options.side;
    this.memory = options.memory;
    this.supervisor = new Supervisor({ ...options.supervision, onEvent: options.onEvent });
    this.pump = new CompletionPump(this.doorbell, {
      ...(options.pumpWaitTimeoutMs !== undefined ? { waitTimeoutMs: options.pumpWaitTimeoutMs } : {}),
      onPassStart: () => { this.passDepth++; },
      onPassEnd: () => {
        if (--this.passDepth === 0) this.flushBatch();
      },
      expecting: () => this.inFlight(),
    });
  }

  get channels(): readonly ChannelInfo[] {
    return this.handles.map((h) => h.info);
  }

  /** Starts a channel actor and registers its handle (testbed assembly). */
  async addChannel(info: ChannelInfo, spec: ChannelSpec): Promise<ChannelHandle> {
    const actor = new ChannelActor({
      spec: { ...spec, doorbell: this.doorbell.buffer },
      onCrash: (a, reason) => this.supervisor.crashed(a, reason),
    });
    const h = new ChannelHandle(info, actor, {
      sideName: this.side,
      observed: () => this.observed(),
      contains: (addr, length) => this.memory.contains(addr, length),
      checkBuffer: (buffer, length, what) => this.memory.checkBuffer(buffer, length, what),
      emit: (c) => this.emit(c),
      drainNow: () => this.pump.drainAll(),
    });
    this.handles.push(h);
    this.pump.add(actor.completions, h.visit);
    this.pump.start();
    await this.supervisor.startChild(actor, {
      onCrash: () => h.onWorkerCrash(),
      onStopped: (reason) => h.onStopped(reason),
    });
    return h;
  }

  handle(name: string): ChannelHandle | undefined {
    return this.handles.find((h) => h.info.name === name);
  }

  async requestChannel(filter?: ChannelFilter): Promise<DmaChannel> {
    checkOpen(this.closed, `${this.side}: requestChannel`);
    const f = checkOptions(filter, `${this.side}: requestChannel: filter`);
    const what = `${this.side}: requestChannel: filter.`;
    if (f.direction !== undefined) checkEnum(f.direction, `${what}direction`, DIRECTIONS);
    if (f.kind !== undefined) checkEnum(f.kind, `${what}kind`, CHANNEL_KINDS);
    if (f.hwChannel !== undefined) checkCount(f.hwChannel, `${what}hwChannel`, 0, 7);
    if (f.name !== undefined) checkString(f.name, `${what}name`);
    const match = (h: ChannelHandle): boolean =>
      (f.direction === undefined || h.info.direction === f.direction) &&
      (f.kind === undefined || h.info.kind === f.kind) &&
      (f.hwChannel === undefined || h.info.hwChannel === f.hwChannel) &&
      (f.name === undefined || h.info.name === f.name);
    const candidates = this.handles.filter(match);
    if (candidates.length === 0) throw new EpdmaError('ENODEV', `${this.side}: no channel matches ${JSON.stringify(f)}${this.noMatchHint(f)}`);
    const free = candidates.find((h) => !h.requested && h.actor.state !== 'stopped');
    if (free === undefined) {
      throw new EpdmaError('EBUSY', `${this.side}: no free channel matches ${JSON.stringify(f)} (${candidates.length} match, all in use or stopped)`);
    }
    free.requested = true;
    return free;
  }

  /**
   * Why nothing matched, when the answer is configuration: the host has only the channels the
   * endpoint delegated (function.wrChans write channels move EP -> host, 'dev-to-mem' here;
   * function.rdChans read channels move host -> EP, 'mem-to-dev'), and the endpoint keeps the rest.
   */
  private noMatchHint(filter: ChannelFilter): string {
    const kind = filter.kind ?? (filter.direction === undefined ? undefined : channelKindFor(this.side, filter.direction));
    if (kind === undefined || this.handles.some((h) => h.info.kind === kind)) return '';
    const attr = `function.${kindAbbreviation(kind)}Chans`;
    return this.side === 'host'
      ? `: the endpoint delegates no ${kind} channels to the host (set ${attr} in createTestbed options, or --${kindAbbreviation(kind)}-chans for epdma endpoint)`
      : `: every ${kind} channel is delegated to the host (lower ${attr})`;
  }

  /** True if a channel of this side has descriptors in its ring (records are due). */
  private inFlight(): boolean {
    const hs = this.handles;
    for (let i = 0; i < hs.length; i++) if (hs[i]!.inRingCount > 0) return true;
    return false;
  }

  /** True if a completion emitted now reaches a subscriber of any stream. */
  private observed(): boolean {
    if (this.items.observed || this.batches.observed) return true;
    for (let i = 0; i < this.sinks.length; i++) if (this.sinks[i]!.observed) return true;
    return false;
  }

  private emit(c: Completion): void {
    if (this.items.observed) this.items.next(c);
    for (let i = 0; i < this.sinks.length; i++) {
      const sink = this.sinks[i]!;
      if (sink.observed) sink.next(c);
    }
    if (!this.batches.observed) return;
    this.batch.push(c);
    if (this.passDepth === 0 && !this.flushQueued) {
      this.flushQueued = true;
      queueMicrotask(this.flushBatch);
    }
  }

  private readonly flushBatch = (): void => {
    this.flushQueued = false;
    const b = this.batch;
    if (b.length === 0) return;
    this.batch = [];
    this.batches.next(b);
  };

  /** Another stream that gets every completion of this side (the testbed's merged stream). */
  addSink(sink: HotStream<Completion>): void {
    this.sinks.push(sink);
  }

  /**
   * Kills a channel's worker (faults.crashChannel). Crashes of one channel run one at a time,
   * each on a running worker: a kill that landed during the backoff (no worker) or on a worker
   * still starting, or two kills on one worker, would make the crash and restart counts on
   * events$ disagree with the calls. So each waits for the previous one and for the restart.
   */
  async crash(name: string): Promise<void> {
    checkOpen(this.closed, `${this.side}: crashChannel`);
    const h = this.handle(name);
    if (h === undefined) throw new EpdmaError('EINVAL', `${this.side}: crashChannel: no channel named ${show(name)}`);
    const previous = this.crashing.get(name);
    const next = (async () => {
      await previous?.catch(() => undefined);
      await this.supervisor.settled(name);
      checkOpen(this.closed, `${this.side}: crashChannel`);
      await h.actor.kill();
    })();
    this.crashing.set(name, next);
    try {
      await next;
    } finally {
      if (this.crashing.get(name) === next) this.crashing.delete(name);
    }
  }

  async settled(name: string): Promise<void> {
    await this.supervisor.settled(name);
  }

  /** Stops traffic, joins every worker, completes the streams. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.supervisor.close();
    this.pump.drainAll();
    await this.pump.stop();
    for (const h of this.handles) h.onClosed();
    this.flushBatch();
    for (const h of this.handles) h.completeStreams();
    this.items.complete();
    this.batches.complete();
  }
}
