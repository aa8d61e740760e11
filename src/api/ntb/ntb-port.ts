import { BehaviorSubject, distinctUntilChanged, type Observable } from 'rxjs';
import { EpdmaError } from '../../device/errors.js';
import type { CpuPool } from '../../actors/cpu-pool.js';
import type { DmaBuffer, DmaChannel } from '../types.js';
import { mwSizeFor, qpRegion, qpToMw } from './memory-window-layout.js';
import type { MwTranslation } from './mw-translation.js';
import type { DoorbellListener } from '../../protocol/doorbell-listener.js';
import type { NtbDoorbell } from './ntb-doorbell.js';
import { NtbQueuePair } from './ntb-queue-pair.js';
import { NtbRing } from './ntb-ring-layout.js';
import type { NtbPort, QueuePair } from './ntb-types.js';
import { peerQpReady, qpLinkDown, ScratchpadHandshake, type Scratchpads } from './scratchpad-handshake.js';
import type { SideMemory } from './side-memory.js';

export interface TransportConfig {
  readonly queues: number;
  readonly mwCount: number;
  readonly mtu: number;
  readonly ringEntries: number;
  readonly copyBytes: number;
  readonly useDma: boolean;
  readonly zeroCopyReceive: boolean;
  readonly maxPayload: number;
}

/** What a port shares with its peer (each register set seen from this side). */
export interface PortWiring {
  readonly side: 'host' | 'endpoint';
  readonly memory: SideMemory;
  readonly peerMemory: SideMemory;
  readonly spads: Scratchpads;
  readonly peerSpads: Scratchpads;
  readonly translation: MwTranslation;
  readonly peerTranslation: MwTranslation;
  readonly doorbell: NtbDoorbell;
  readonly peerDoorbell: NtbDoorbell;
  /** One TX channel per queue, or null where none was free (or DMA is off). */
  readonly channels: readonly (DmaChannel | null)[];
  readonly pool: CpuPool;
  /** The NTB link (the testbed's link-up/link-down). */
  readonly linkIsUp: () => boolean;
  readonly log: (message: string) => void;
  readonly onClosed: () => Promise<void>;
}

/**
 * One side of the transport: its receive windows (in its own memory), its queue pairs, the
 * scratchpad handshake, and the doorbell loop that runs RX passes and TX credit.
 */
export class NtbPortImpl implements NtbPort {
  readonly side: 'host' | 'endpoint';
  private readonly w: PortWiring;
  private readonly cfg: TransportConfig;
  private readonly queues: NtbQueuePair[] = [];
  private readonly windows: (DmaBuffer | undefined)[];
  private readonly windowsReady: boolean[];
  private readonly ownRings: (NtbRing | undefined)[];
  private readonly handshake: ScratchpadHandshake;
  private readonly listener: DoorbellListener;
  private readonly linkSubject = new BehaviorSubject<boolean>(false);
  readonly link$: Observable<boolean> = this.linkSubject.pipe(distinctUntilChanged());
  private closing: Promise<void> | undefined;
  /** The last handshake failure (window allocation), for diagnostics. */
  lastError: unknown;

  constructor(wiring: PortWiring, cfg: TransportConfig) {
    this.side = wiring.side;
    this.w = wiring;
    this.cfg = cfg;
    const sizes = Array.from({ length: cfg.mwCount }, (_, mw) => mwSizeFor(mw, cfg.queues, cfg.mwCount, cfg.mtu, cfg.ringEntries));
    // Allocated now so a memory shortage fails createNtbTransport, not a later link-up; the
    // handshake keeps them when the peer advertises the same sizes (ntb_set_mw does the same).
    this.windows = [];
    try {
      for (const size of sizes) this.windows.push(wiring.memory.alloc(size, 4096));
    } catch (err) {
      this.freeWindows();
      throw err;
    }
    this.windowsReady = sizes.map(() => false);
    this.ownRings = new Array<NtbRing | undefined>(cfg.queues);
    for (let qp = 0; qp < cfg.queues; qp++) {
      const bit = 1 << qp;
      this.queues.push(new NtbQueuePair({
        qp,
        name: `${this.side} qp${qp}`,
        memory: wiring.memory,
        peerMemory: wiring.peerMemory,
        channel: wiring.channels[qp] ?? null,
        pool: wiring.pool,
        maxPayload: cfg.maxPayload,
        copyBytes: cfg.copyBytes,
        useDma: cfg.useDma,
        zeroCopyReceive: cfg.zeroCopyReceive,
        ringPeer: () => wiring.peerDoorbell.ring('rx', bit),
        creditPeer: () => wiring.peerDoorbell.ring('credit', bit),
        kickSelf: () => wiring.doorbell.ring('rx', bit),
        peerLinkDown: () => this.peerQueueDown(qp),
        linkIsUp: wiring.linkIsUp,
      }));
    }
    this.handshake = new ScratchpadHandshake(wiring.spads, wiring.peerSpads, { qpCount: cfg.queues, mwCount: cfg.mwCount, mwSizes: sizes }, {
      setupWindows: (peerSizes) => this.setupWindows(peerSizes),
      queueUp: (qp) => this.queueUp(qp),
      failed: (err) => {
        this.lastError = err;
        wiring.log(`${this.side}: transport link work failed: ${err instanceof Error ? err.message : String(err)}`);
      },
    });
    this.listener = wiring.doorbell.listener((rx, credit) => this.onDoorbell(rx, credit));
  }

  queue(index: number): QueuePair {
    const q = this.queues[index];
    if (q === undefined) throw new EpdmaError('EINVAL', `${this.side}: queue ${String(index)} outside 0..${this.queues.length - 1}`);
    return q;
  }

  /** Starts the doorbell loop and, if the link is up, the handshake. */
  start(): void {
    this.listener.start();
    if (this.w.linkIsUp()) this.handshake.start();
  }

  /** NTB link event up. */
  linkUp(): void {
    if (this.closing === undefined) this.handshake.start();
  }

  /** NTB link event down: queues stop (nothing is dropped), own spads are zeroed. */
  linkDown(): void {
    if (this.closing !== undefined) return;
    this.handshake.linkDown();
    for (const q of this.queues) q.setUp(false);
    this.updateLink();
  }

  /** Window n gets the size the peer advertised; rings are (re)derived from it. */
  private setupWindows(peerSizes: number[]): void {
    const cfg = this.cfg;
    for (let mw = 0; mw < cfg.mwCount; mw++) {
      const size = peerSizes[mw]!;
      let buf = this.windows[mw];
      if (buf === undefined || buf.length !== size) {
        this.w.translation.clear(mw);
        if (buf !== undefined) this.w.memory.free(buf);
        this.windows[mw] = undefined;
        buf = this.w.memory.alloc(size, 4096);
        this.windows[mw] = buf;
        this.windowsReady[mw] = false;
      }
      this.w.translation.set(mw, buf.addr, size);
    }
    for (let qp = 0; qp < cfg.queues; qp++) {
      const mw = qpToMw(qp, cfg.mwCount);
      const buf = this.windows[mw]!;
      const r = qpRegion(buf.length, qp, cfg.queues, cfg.mwCount, cfg.mtu);
      const ring = new NtbRing(buf.bytes.subarray(r.offset, r.offset + r.sliceBytes), r.maxFrame, r.maxEntry);
      this.ownRings[qp] = ring;
      this.queues[qp]!.rx.setRing(ring, !this.windowsReady[mw]);
    }
    for (let mw = 0; mw < cfg.mwCount; mw++) this.windowsReady[mw] = true;
  }

  /** Both QP_LINKS bits set: aim TX at the peer's ring (through its translation) and go. */
  private queueUp(qp: number): void {
    const cfg = this.cfg;
    const mw = qpToMw(qp, cfg.mwCount);
    const target = this.w.peerTranslation.target(mw);
    if (target === undefined) throw new EpdmaError('EIO', `${this.side} qp${qp}: peer announced the queue without programming window ${mw}`);
    const r = qpRegion(target.size, qp, cfg.queues, cfg.mwCount, cfg.mtu);
    const addr = target.addr + r.offset;
    const ring = new NtbRing(this.w.peerMemory.view(addr, r.sliceBytes), r.maxFrame, r.maxEntry);
    const q = this.queues[qp]!;
    q.attach({ ring, addr, sabOffset: this.w.peerMemory.offsetOf(addr) }, this.ownRings[qp]!);
    q.setUp(true);
    this.updateLink();
  }

  /** The peer withdrew a queue (LINK_DOWN frame or its QP_LINKS bit cleared). */
  private peerQueueDown(qp: number): void {
    if (!this.handshake.isQueueUp(qp)) return;
    this.handshake.queueDown(qp);
    this.queues[qp]!.setUp(false);
    this.updateLink();
  }

  private onDoorbell(rx: number, credit: number): void {
    for (let qp = 0; qp < this.queues.length; qp++) {
      const bit = 1 << qp;
      if ((rx & bit) !== 0) {
        if (this.handshake.isQueueUp(qp) && !peerQpReady(this.w.spads, qp)) this.peerQueueDown(qp);
        this.queues[qp]!.rx.process();
      }
      if ((credit & bit) !== 0) this.queues[qp]!.tx.pump();
    }
  }

  private updateLink(): void {
    const up = this.closing === undefined && this.queues.every((_, qp) => this.handshake.isQueueUp(qp));
    if (up !== this.linkSubject.value) this.linkSubject.next(up);
  }

  get isClosed(): boolean {
    return this.closing !== undefined;
  }

  /**
   * Waiting sends reject ESHUTDOWN; the TX channels are terminated and released; frames whose
   * copy finished get their header, the rest reject; the peer is told (LINK_DOWN frame if the
   * ring has room, QP_LINKS bit cleared, doorbell); subscribers complete; link$ completes.
   * Memory is freed by the transport once both ports are closed (the peer may still DMA into it).
   */
  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    this.handshake.dispose();
    for (const q of this.queues) {
      q.markClosed();
      q.tx.beginClose();
    }
    await Promise.allSettled(this.w.channels.map((ch) => ch?.release()));
    await Promise.all(this.queues.map((q) => q.tx.drain()));
    let bits = 0;
    for (let qp = 0; qp < this.queues.length; qp++) {
      const q = this.queues[qp]!;
      q.tx.finishClose();
      if (this.handshake.isQueueUp(qp) && this.w.linkIsUp()) {
        qpLinkDown(this.w.spads, this.w.peerSpads, qp);
        bits |= 1 << qp;
      }
      q.rx.close();
      q.setUp(false);
    }
    if (bits !== 0) this.w.peerDoorbell.ring('rx', bits);
    await this.listener.stop();
    this.linkSubject.next(false);
    this.linkSubject.complete();
    await this.w.onClosed();
  }

  /** Every buffer this port allocated (windows, staging, payloads), once nothing uses them. */
  takeBuffers(): DmaBuffer[] {
    const out: DmaBuffer[] = [];
    for (let mw = 0; mw < this.windows.length; mw++) {
      const b = this.windows[mw];
      if (b !== undefined) out.push(b);
      this.windows[mw] = undefined;
    }
    for (const q of this.queues) out.push(...q.takeBuffers());
    return out;
  }

  private freeWindows(): void {
    for (const b of this.windows) if (b !== undefined) this.w.memory.free(b);
    this.windows.length = 0;
  }
}
