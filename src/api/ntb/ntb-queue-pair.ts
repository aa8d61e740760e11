import type { Observable } from 'rxjs';
import { EpdmaError, hex } from '../../device/errors.js';
import type { CpuPool } from '../../actors/cpu-pool.js';
import type { DmaBuffer, DmaChannel } from '../types.js';
import { FrameCopier } from './frame-copier.js';
import type { NtbRing } from './ntb-ring-layout.js';
import { NtbRxQueue } from './ntb-rx-queue.js';
import { QueueCounters, type QueueStats } from './ntb-stats.js';
import { NtbTxQueue, type PeerRing } from './ntb-tx-queue.js';
import type { QueuePair } from './ntb-types.js';
import type { SideMemory } from './side-memory.js';

export interface QueuePairOptions {
  readonly qp: number;
  /** e.g. 'host qp0'. */
  readonly name: string;
  readonly memory: SideMemory;
  readonly peerMemory: SideMemory;
  /** This queue's TX channel (null: the CPU copies everything). */
  readonly channel: DmaChannel | null;
  readonly pool: CpuPool;
  readonly maxPayload: number;
  readonly copyBytes: number;
  readonly useDma: boolean;
  readonly zeroCopyReceive: boolean;
  readonly ringPeer: () => void;
  readonly creditPeer: () => void;
  readonly kickSelf: () => void;
  readonly peerLinkDown: () => void;
  readonly linkIsUp: () => boolean;
}

/**
 * One queue pair of a port: TX into the peer's ring, RX from mine, one set of counters, and
 * the payload buffers handed out by allocPayload (freed with the transport).
 */
export class NtbQueuePair implements QueuePair {
  readonly maxPayload: number;
  readonly name: string;
  readonly tx: NtbTxQueue;
  readonly rx: NtbRxQueue;
  readonly counters = new QueueCounters();
  private readonly memory: SideMemory;
  private readonly channelName: string | null;
  private readonly payloads = new Map<number, DmaBuffer>(); // byteOffset -> buffer
  private up = false;
  private closed = false;

  constructor(o: QueuePairOptions) {
    this.maxPayload = o.maxPayload;
    this.name = o.name;
    this.memory = o.memory;
    const copier = new FrameCopier({
      channel: o.channel,
      pool: o.pool,
      srcSab: o.memory.sab,
      dstSab: o.peerMemory.sab,
      useDma: o.useDma,
      copyBytes: o.copyBytes,
      counters: this.counters,
      linkIsUp: () => this.up && o.linkIsUp(),
    });
    this.channelName = copier.channel?.info.name ?? null;
    this.tx = new NtbTxQueue({ qp: o.qp, name: o.name, memory: o.memory, copier, counters: this.counters, maxPayload: o.maxPayload, ringPeer: o.ringPeer });
    this.rx = new NtbRxQueue({ counters: this.counters, zeroCopy: o.zeroCopyReceive, kick: o.kickSelf, creditPeer: o.creditPeer, peerLinkDown: o.peerLinkDown });
  }

  send(payload: Uint8Array): Promise<void> {
    return this.tx.send(payload);
  }

  get receive$(): Observable<Uint8Array> {
    return this.rx.receive$;
  }

  get stats(): QueueStats {
    return this.counters.snapshot({
      rxIndex: this.rx.index,
      rxMaxEntry: this.rx.maxEntry,
      txIndex: this.tx.index,
      txMaxEntry: this.tx.maxEntry,
      remoteRxIndex: this.tx.remoteEntry,
      txDmaChannel: this.channelName,
      linkUp: this.up,
    });
  }

  get isUp(): boolean {
    return this.up;
  }

  allocPayload(bytes: number): Uint8Array {
    if (this.closed) throw new EpdmaError('ESHUTDOWN', `${this.name}: allocPayload on a closed port`);
    const buf = this.memory.alloc(bytes);
    this.payloads.set(buf.bytes.byteOffset, buf);
    return buf.bytes;
  }

  freePayload(buffer: Uint8Array): void {
    const buf = buffer.buffer === this.memory.sab ? this.payloads.get(buffer.byteOffset) : undefined;
    if (buf === undefined || buf.length !== buffer.length) {
      throw new EpdmaError('EINVAL', `${this.name}: freePayload: ${buffer.length}-byte view at offset ${hex(buffer.byteOffset)} is not a buffer from allocPayload`);
    }
    this.payloads.delete(buffer.byteOffset);
    this.memory.free(buf);
  }

  /** Both sides set up: where the peer's ring is; my ring's rx_info tells my TX the credit. */
  attach(peer: PeerRing, ownRing: NtbRing): void {
    this.tx.attach(peer, ownRing);
    this.rx.attachPeer(peer.ring);
  }

  setUp(up: boolean): void {
    this.up = up;
    this.tx.setUp(up);
    this.rx.setUp(up);
  }

  markClosed(): void {
    this.closed = true;
  }

  /** Buffers this queue allocated in its side's memory (for the transport's final free). */
  takeBuffers(): DmaBuffer[] {
    const out = [...this.payloads.values()];
    this.payloads.clear();
    const staging = this.tx.takeStaging();
    if (staging !== undefined) out.push(staging);
    return out;
  }
}
