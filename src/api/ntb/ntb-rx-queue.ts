import { Observable, type Subscriber } from 'rxjs';
import { DESC_DONE_FLAG, LINK_DOWN_FLAG, initialRemoteEntry, nextIndex, type NtbRing } from './ntb-ring-layout.js';
import type { QueueCounters } from './ntb-stats.js';

/**
 * The consumer half of a queue pair: frames arrive in MY receive ring (my memory), written by
 * the peer. On a doorbell the ring is walked from rx_index while the head frame has DESC_DONE
 * (ntb_process_rxc): LINK_DOWN -> the peer's queue is going away; `ver` must equal rx_pkts
 * (else rx_err_ver and the frame is dropped); `len` must fit (else rx_err_oflow, dropped);
 * otherwise the payload goes to the subscribers, the flags are cleared and the index is
 * published into the rx_info word at the tail of the PEER's ring (ntb_complete_rxc).
 *
 * Subscribers play the role of ntb's posted RX buffers: while nobody subscribes, frames stay
 * in the ring (rx_err_no_buf is counted) and the producer eventually waits for space, so
 * nothing is dropped. `receive$.pipe(take(1))` is "post one buffer".
 *
 * Deviations: a wrong `ver` resynchronises rx_pkts to it (the kernel keeps failing every later
 * frame); the consumed index is published once per pass (same effect, one doorbell), and only
 * while the queue is up: it is a CPU write through the window, so during a link down it is
 * kept and published when the queue comes back.
 */

export interface RxQueueOptions {
  readonly counters: QueueCounters;
  readonly zeroCopy: boolean;
  /** Rings my own doorbell so a pass runs (asynchronously) on the port's doorbell loop. */
  readonly kick: () => void;
  /** Tells the peer it has room again (its credit doorbell). */
  readonly creditPeer: () => void;
  /** A LINK_DOWN frame arrived. */
  readonly peerLinkDown: () => void;
}

export class NtbRxQueue {
  private readonly o: RxQueueOptions;
  private ring: NtbRing | undefined;
  /** The peer's ring of this queue: its rx_info word receives my consumed index. */
  private peerInfo: NtbRing | undefined;
  private up = false;
  private closed = false;
  private rxIndex = 0;
  private rxPkts = 0;
  private lastConsumed = -1;
  private published = -1;
  private processing = false;
  private readonly subscribers = new Set<Subscriber<Uint8Array>>();
  readonly receive$: Observable<Uint8Array>;

  constructor(options: RxQueueOptions) {
    this.o = options;
    this.receive$ = new Observable<Uint8Array>((subscriber) => {
      if (this.closed) {
        subscriber.complete();
        return undefined;
      }
      this.subscribers.add(subscriber);
      // Frames may be waiting for a consumer: look again.
      this.o.kick();
      return () => {
        this.subscribers.delete(subscriber);
      };
    });
  }

  get index(): number {
    return this.rxIndex;
  }

  get maxEntry(): number {
    return this.ring?.maxEntry ?? 0;
  }

  /**
   * My ring after window setup. `fresh` is a newly allocated window: headers zeroed and the
   * producer's view of my consumption reset (ntb_transport_setup_qp_mw).
   */
  setRing(ring: NtbRing, fresh: boolean): void {
    this.ring = ring;
    if (fresh) {
      ring.clearHeaders();
      // The word my TX reads (the peer writes it): "consumed up to the last slot".
      ring.writeRxInfo(initialRemoteEntry(ring.maxEntry));
      this.rxIndex = 0;
      this.rxPkts = 0;
      this.lastConsumed = -1;
      this.published = -1;
    }
  }

  attachPeer(peerInfo: NtbRing): void {
    this.peerInfo = peerInfo;
  }

  setUp(up: boolean): void {
    this.up = up;
    if (up) {
      this.publish();
      this.o.kick();
    }
  }

  /** One pass over the ring (the RX tasklet); called from the doorbell loop. */
  process(): void {
    const ring = this.ring;
    if (ring === undefined || this.closed || this.processing) return;
    this.processing = true;
    const c = this.o.counters;
    let handled = 0;
    try {
      for (let n = 0; n < ring.maxEntry && !this.closed; n++) {
        const i = this.rxIndex;
        const flags = ring.flags(i);
        if ((flags & DESC_DONE_FLAG) === 0) {
          if (handled === 0) c.rxRingEmpty++;
          break;
        }
        const ver = ring.ver(i);
        if ((flags & LINK_DOWN_FLAG) !== 0) {
          this.rxPkts = (ver + 1) >>> 0;
          c.rxPkts++;
          this.consume(i);
          handled++;
          this.o.peerLinkDown();
          continue;
        }
        if (this.subscribers.size === 0) {
          c.rxErrNoBuf++;
          break;
        }
        const len = ring.len(i);
        if (ver !== this.rxPkts) {
          c.rxErrVer++;
          this.rxPkts = (ver + 1) >>> 0;
          this.consume(i);
          handled++;
          continue;
        }
        this.rxPkts = (this.rxPkts + 1) >>> 0;
        c.rxPkts++;
        if (len > ring.maxPayload) {
          c.rxErrOflow++;
          this.consume(i);
          handled++;
          continue;
        }
        const view = ring.payload(i, len);
        let data: Uint8Array;
        if (this.o.zeroCopy) {
          data = view;
          c.rxAsync++;
        } else {
          data = view.slice();
          c.rxMemcpy++;
        }
        c.rxBytes += len;
        for (const s of [...this.subscribers]) s.next(data);
        this.consume(i);
        handled++;
      }
    } finally {
      this.processing = false;
    }
    if (handled > 0) this.publish();
  }

  private consume(index: number): void {
    this.ring!.clearFlags(index);
    this.lastConsumed = index;
    this.rxIndex = nextIndex(index, this.ring!.maxEntry);
  }

  /** Writes my consumed index into the peer's rx_info (iowrite32 through the window). */
  private publish(): void {
    if (!this.up || this.peerInfo === undefined || this.lastConsumed < 0 || this.lastConsumed === this.published) return;
    this.peerInfo.writeRxInfo(this.lastConsumed);
    this.published = this.lastConsumed;
    this.o.creditPeer();
  }

  /** Port closed: subscribers complete, nothing more is consumed. */
  close(): void {
    this.closed = true;
    for (const s of [...this.subscribers]) s.complete();
    this.subscribers.clear();
  }
}
