import { EpdmaError } from '../../device/errors.js';
import type { DmaBuffer } from '../types.js';
import type { CopyOutcome, FrameCopier } from './frame-copier.js';
import { DESC_DONE_FLAG, LINK_DOWN_FLAG, nextIndex, txRingFull, type NtbRing } from './ntb-ring-layout.js';
import type { QueueCounters } from './ntb-stats.js';
import type { SideMemory } from './side-memory.js';

/**
 * The producer half of a queue pair: frames go into the PEER's receive ring.
 *
 * Sends wait in FIFO order; when the queue is up and the ring has room (ntb's rule: full when
 * tx_index == the consumer's published entry) a send takes slot tx_index and ver = tx_pkts,
 * and its payload copy starts (DMA or CPU, see FrameCopier). Copies of consecutive sends may
 * finish out of order; headers are written strictly in slot order (len, ver, then flags
 * DESC_DONE), so the consumer never sees a hole, and a send resolves when its header is written.
 *
 * Deviation from ntb_transport: a link down does not reset the ring (ntb_qp_link_down_reset
 * would drop what is in it). Indices and counters stay, copies that failed because of the link
 * are redone after the link is back, and header writes (CPU writes through the window) wait for
 * it, so a flap loses and duplicates nothing.
 */

type EntryState = 'waiting' | 'copying' | 'copied' | 'retry' | 'done';

interface TxEntry {
  readonly payload: Uint8Array;
  readonly flags: number;
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
  state: EntryState;
  slot: number;
  ver: number;
  srcAddr: number;
  countedFull: boolean;
}

export interface PeerRing {
  /** The peer's receive ring of this queue, as a CPU view (for headers). */
  readonly ring: NtbRing;
  /** Bus address of the ring's first frame (the DMA device address base). */
  readonly addr: number;
  /** Offset of the ring's first byte in the peer memory's SharedArrayBuffer (CPU copies). */
  readonly sabOffset: number;
}

export interface TxQueueOptions {
  readonly qp: number;
  readonly name: string;
  readonly memory: SideMemory;
  readonly copier: FrameCopier;
  readonly counters: QueueCounters;
  readonly maxPayload: number;
  /** Tells the peer new frames are in its ring (its doorbell, BIT(qp)). */
  readonly ringPeer: () => void;
}

export class NtbTxQueue {
  private readonly o: TxQueueOptions;
  private readonly waiting: TxEntry[] = [];
  private slots: (TxEntry | undefined)[] = [];
  private peer: PeerRing | undefined;
  /** My own receive ring: its rx_info word is where the peer reports what it consumed. */
  private remoteInfo: NtbRing | undefined;
  private up = false;
  private closing = false;
  private txIndex = 0;
  private hdrIndex = 0;
  private txPkts = 0;
  private staging: DmaBuffer | undefined;
  private readonly inflight = new Set<Promise<void>>();
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(options: TxQueueOptions) {
    this.o = options;
  }

  get index(): number {
    return this.txIndex;
  }

  get maxEntry(): number {
    return this.peer?.ring.maxEntry ?? 0;
  }

  get remoteEntry(): number {
    return this.remoteInfo?.readRxInfo() ?? 0;
  }

  /** Queue up: where the peer's ring is, and where the peer reports consumption. */
  attach(peer: PeerRing, remoteInfo: NtbRing): void {
    if (this.peer !== undefined && this.peer.ring.maxEntry !== peer.ring.maxEntry) {
      throw new EpdmaError('EIO', `${this.o.name}: peer ring changed from ${this.peer.ring.maxEntry} to ${peer.ring.maxEntry} entries with frames in flight`);
    }
    this.peer = peer;
    this.remoteInfo = remoteInfo;
    if (this.slots.length !== peer.ring.maxEntry) this.slots = new Array<TxEntry | undefined>(peer.ring.maxEntry);
  }

  setUp(up: boolean): void {
    this.up = up;
    if (!up || this.closing) return;
    this.writeHeaders();
    this.restartRetries();
    this.pump();
  }

  send(payload: Uint8Array): Promise<void> {
    if (!(payload instanceof Uint8Array)) return Promise.reject(new EpdmaError('EINVAL', `${this.o.name}: send: payload is not a Uint8Array`));
    if (payload.length === 0) return Promise.reject(new EpdmaError('EINVAL', `${this.o.name}: send: payload length 0`));
    if (payload.length > this.o.maxPayload) {
      return Promise.reject(new EpdmaError('EIO', `${this.o.name}: send: payload length ${payload.length} exceeds maxPayload ${this.o.maxPayload}`));
    }
    if (this.closing) return Promise.reject(new EpdmaError('ESHUTDOWN', `${this.o.name}: send on a closed port`));
    return new Promise<void>((resolve, reject) => {
      this.waiting.push({ payload, flags: 0, resolve, reject, state: 'waiting', slot: -1, ver: 0, srcAddr: -1, countedFull: false });
      this.pump();
    });
  }

  /** Places waiting sends into free slots; called on send, queue up and the peer's credit. */
  pump(): void {
    if (!this.up || this.closing || this.peer === undefined) return;
    const entries = this.peer.ring.maxEntry;
    while (this.waiting.length > 0) {
      if (txRingFull(this.txIndex, this.remoteEntry)) {
        const head = this.waiting[0]!;
        if (!head.countedFull) {
          head.countedFull = true;
          this.o.counters.txRingFull++;
        }
        break;
      }
      const e = this.waiting.shift()!;
      e.slot = this.txIndex;
      e.ver = this.txPkts;
      this.txPkts = (this.txPkts + 1) >>> 0;
      this.o.counters.txPkts++;
      this.txIndex = nextIndex(this.txIndex, entries);
      this.slots[e.slot] = e;
      this.startCopy(e);
    }
    this.o.copier.flush();
  }

  private startCopy(e: TxEntry): void {
    const peer = this.peer!;
    e.state = 'copying';
    if (e.srcAddr < 0) e.srcAddr = this.source(e);
    const frame = peer.ring.frameOffset(e.slot);
    const p = this.o.copier
      .copy({
        srcAddr: e.srcAddr,
        srcOffset: this.o.memory.offsetOf(e.srcAddr),
        dstAddr: peer.addr + frame,
        dstOffset: peer.sabOffset + frame,
        length: e.payload.length,
      })
      .then(
        (outcome) => this.copied(e, outcome),
        (err: unknown) => this.copied(e, 'shutdown', err),
      );
    this.inflight.add(p);
    void p.finally(() => this.inflight.delete(p));
  }

  /**
   * The payload's bus address: in place if it already lies in this side's DMA memory (zero
   * copy), else a CPU copy into the staging slot of its ring slot (counted as txStagingCopies).
   */
  private source(e: TxEntry): number {
    const inPlace = this.o.memory.addressOf(e.payload);
    if (inPlace !== undefined) return inPlace;
    const stride = this.stagingStride();
    if (this.staging === undefined) this.staging = this.o.memory.alloc(this.slots.length * stride);
    const off = e.slot * stride;
    this.staging.bytes.set(e.payload, off);
    this.o.counters.txStagingCopies++;
    return this.staging.addr + off;
  }

  private stagingStride(): number {
    return Math.ceil(this.o.maxPayload / 64) * 64;
  }

  private copied(e: TxEntry, outcome: CopyOutcome, err?: unknown): void {
    if (e.state !== 'copying') return;
    if (outcome === 'ok') {
      e.state = 'copied';
      this.writeHeaders();
    } else if (outcome === 'retry') {
      e.state = 'retry';
      this.scheduleRetry();
    } else {
      this.fail(e, err);
    }
  }

  /** Writes the headers of finished frames in slot order and rings the peer once. */
  private writeHeaders(): void {
    const peer = this.peer;
    if (!this.up || peer === undefined) return;
    let wrote = false;
    for (;;) {
      const e = this.slots[this.hdrIndex];
      if (e === undefined || e.state !== 'copied') break;
      peer.ring.writeHeader(this.hdrIndex, e.ver, e.payload.length, e.flags | DESC_DONE_FLAG);
      this.slots[this.hdrIndex] = undefined;
      this.hdrIndex = nextIndex(this.hdrIndex, peer.ring.maxEntry);
      e.state = 'done';
      this.o.counters.txBytes += e.payload.length;
      e.resolve();
      wrote = true;
    }
    if (wrote) this.o.ringPeer();
  }

  /**
   * A DMA aborted by the link can be reported before the link-down event arrives; retrying at
   * once would only spin, so retries run 10 ms later (NTB_LINK_DOWN_TIMEOUT) or on queue up.
   */
  private scheduleRetry(): void {
    if (this.retryTimer !== undefined || this.closing) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (this.up) this.restartRetries();
      else if (this.hasRetries()) this.scheduleRetry();
    }, 10);
  }

  private hasRetries(): boolean {
    return this.slots.some((e) => e?.state === 'retry');
  }

  private restartRetries(): void {
    if (this.peer === undefined) return;
    const entries = this.peer.ring.maxEntry;
    let started = false;
    for (let i = this.hdrIndex, n = 0; n < entries; i = nextIndex(i, entries), n++) {
      const e = this.slots[i];
      if (e?.state === 'retry') {
        this.startCopy(e);
        started = true;
      }
    }
    if (started) this.o.copier.flush();
  }

  private fail(e: TxEntry, err?: unknown): void {
    e.state = 'done';
    if (err instanceof Error && !(err instanceof EpdmaError && err.code === 'ESHUTDOWN')) e.reject(err);
    else e.reject(new EpdmaError('ESHUTDOWN', `${this.o.name}: port closed before the frame reached the peer's ring`));
  }

  // ---- close ----

  /** Step 1: no new work; waiting sends and link-blocked frames reject ESHUTDOWN. */
  beginClose(): void {
    this.closing = true;
    this.o.copier.beginClose();
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    for (const e of this.waiting.splice(0)) this.fail(e);
    for (const e of this.slots) if (e?.state === 'retry') this.fail(e);
  }

  /** Step 2 (after the channel was terminated): every started copy has settled. */
  async drain(): Promise<void> {
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
  }

  /**
   * Step 3: headers of frames that made it are written (if the link allows); the rest reject.
   * Then, like ntb_transport_link_down, a zero-length LINK_DOWN frame tells the peer's RX the
   * queue is going away, if the ring has room for it.
   */
  finishClose(): void {
    this.writeHeaders();
    for (let i = 0; i < this.slots.length; i++) {
      const e = this.slots[i];
      if (e !== undefined && e.state !== 'done') this.fail(e);
      this.slots[i] = undefined;
    }
    const peer = this.peer;
    if (this.up && peer !== undefined && this.hdrIndex === this.txIndex && !txRingFull(this.txIndex, this.remoteEntry)) {
      peer.ring.writeHeader(this.txIndex, this.txPkts, 0, LINK_DOWN_FLAG | DESC_DONE_FLAG);
      this.txPkts = (this.txPkts + 1) >>> 0;
      this.o.counters.txPkts++;
      this.txIndex = nextIndex(this.txIndex, peer.ring.maxEntry);
      this.hdrIndex = this.txIndex;
      this.o.ringPeer();
    }
  }

  /** The staging area, for the transport to free once nothing can DMA from it any more. */
  takeStaging(): DmaBuffer | undefined {
    const s = this.staging;
    this.staging = undefined;
    return s;
  }
}
