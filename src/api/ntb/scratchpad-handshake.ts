import { EpdmaError } from '../../device/errors.js';
import { join64, lower32, upper32 } from '../../device/wordpart.js';

/**
 * The NTB scratchpad link handshake (reference 8.2). Each side of an NTB has a small set of
 * 32-bit scratchpad registers; a side WRITES THE PEER'S set and READS ITS OWN (what the peer
 * wrote). Here a set is an Int32Array over a SharedArrayBuffer, accessed with Atomics as a
 * register would be.
 *
 * Transport link work (ntb_transport_link_work), repeated every 10 ms while the link is up:
 * write my MW sizes, NUM_MWS, NUM_QPS and VERSION into the peer's spads; read mine; VERSION,
 * NUM_QPS and NUM_MWS must match, else retry. Then the windows are set up with the sizes the
 * peer advertised, and each queue runs QP link work: read my QP_LINKS value v, write
 * v | BIT(qp) into the peer's QP_LINKS; once v has BIT(qp) the peer is ready and the queue is
 * up, else retry every 10 ms. On link down each side zeroes its own spads.
 */

export const SPAD_VERSION = 0;
export const SPAD_QP_LINKS = 1;
export const SPAD_NUM_QPS = 2;
export const SPAD_NUM_MWS = 3;
export const spadMwSizeHigh = (mw: number): number => 4 + 2 * mw;
export const spadMwSizeLow = (mw: number): number => 5 + 2 * mw;
export const NTB_TRANSPORT_VERSION = 4;
/** ntb_transport's NTB_LINK_DOWN_TIMEOUT: the retry period of both link works. */
const NTB_LINK_RETRY_MS = 10;
/** QP_LINKS is one 32-bit register: one bit per queue. */
export const MAX_QUEUES = 32;

export class Scratchpads {
  readonly view: Int32Array;

  /** At least 6 spads (the kernel refuses fewer), 4 + 2 per memory window. */
  static create(mwCount: number): Scratchpads {
    return new Scratchpads(new SharedArrayBuffer(4 * Math.max(6, spadMwSizeLow(mwCount - 1) + 1)));
  }

  constructor(buffer: SharedArrayBuffer) {
    this.view = new Int32Array(buffer);
  }

  get count(): number {
    return this.view.length;
  }

  read(index: number): number {
    return Atomics.load(this.view, this.check(index)) >>> 0;
  }

  write(index: number, value: number): void {
    Atomics.store(this.view, this.check(index), value | 0);
  }

  clear(): void {
    for (let i = 0; i < this.view.length; i++) Atomics.store(this.view, i, 0);
  }

  private check(index: number): number {
    if (!Number.isInteger(index) || index < 0 || index >= this.view.length) {
      throw new EpdmaError('EINVAL', `scratchpad ${index} outside 0..${this.view.length - 1}`);
    }
    return index;
  }
}

export interface TransportParams {
  readonly qpCount: number;
  readonly mwCount: number;
  /** The size this side advertises for each window (the peer allocates that much). */
  readonly mwSizes: readonly number[];
}

export type TransportStepResult =
  | { readonly ok: true; readonly peerMwSizes: number[] }
  | { readonly ok: false; readonly reason: string };

/** One run of ntb_transport_link_work: publish mine into the peer's spads, check the peer's. */
export function transportLinkStep(own: Scratchpads, peer: Scratchpads, p: TransportParams): TransportStepResult {
  for (let i = 0; i < p.mwCount; i++) {
    const size = p.mwSizes[i] ?? 0;
    peer.write(spadMwSizeHigh(i), upper32(size));
    peer.write(spadMwSizeLow(i), lower32(size));
  }
  peer.write(SPAD_NUM_MWS, p.mwCount);
  peer.write(SPAD_NUM_QPS, p.qpCount);
  peer.write(SPAD_VERSION, NTB_TRANSPORT_VERSION);

  const version = own.read(SPAD_VERSION);
  if (version !== NTB_TRANSPORT_VERSION) return { ok: false, reason: `VERSION ${version}, want ${NTB_TRANSPORT_VERSION}` };
  const qps = own.read(SPAD_NUM_QPS);
  if (qps !== p.qpCount) return { ok: false, reason: `NUM_QPS ${qps}, want ${p.qpCount}` };
  const mws = own.read(SPAD_NUM_MWS);
  if (mws !== p.mwCount) return { ok: false, reason: `NUM_MWS ${mws}, want ${p.mwCount}` };
  const peerMwSizes: number[] = [];
  for (let i = 0; i < p.mwCount; i++) peerMwSizes.push(join64(own.read(spadMwSizeHigh(i)), own.read(spadMwSizeLow(i))));
  return { ok: true, peerMwSizes };
}

/** One run of ntb_qp_link_work: announce my queue, report whether the peer announced its. */
export function qpLinkStep(own: Scratchpads, peer: Scratchpads, qp: number): boolean {
  const val = own.read(SPAD_QP_LINKS);
  peer.write(SPAD_QP_LINKS, val | (1 << qp));
  return (val & (1 << qp)) !== 0;
}

/** ntb_transport_link_down: clear my queue's bit in the peer's QP_LINKS. */
export function qpLinkDown(own: Scratchpads, peer: Scratchpads, qp: number): void {
  peer.write(SPAD_QP_LINKS, own.read(SPAD_QP_LINKS) & ~(1 << qp));
}

/** Whether the peer's bit for `qp` is (still) in my QP_LINKS. */
export function peerQpReady(own: Scratchpads, qp: number): boolean {
  return (own.read(SPAD_QP_LINKS) & (1 << qp)) !== 0;
}

export interface HandshakeHooks {
  /** Windows sized as the peer advertised: allocate/keep them and set up the rings. */
  setupWindows(peerMwSizes: number[]): void;
  /** Queue `qp` is up on both sides. */
  queueUp(qp: number): void;
  /** A transport step did not match yet (for diagnostics). */
  retrying?(reason: string): void;
  /** setupWindows or queueUp threw: the handshake stops (the error is for the port to surface). */
  failed(error: unknown): void;
}

/**
 * The timer-driven state machine of one side: start() on link up, linkDown() on link down,
 * stop() on close. Never busy-loops: every retry is a 10 ms timer.
 */
export class ScratchpadHandshake {
  private timer: NodeJS.Timeout | undefined;
  private transportUp = false;
  private readonly qpUp: boolean[];
  private running = false;
  private disposed = false;
  /** Transport steps that did not match (retries), for tests and diagnostics. */
  retries = 0;

  constructor(
    readonly own: Scratchpads,
    readonly peer: Scratchpads,
    private readonly params: TransportParams,
    private readonly hooks: HandshakeHooks,
    private readonly retryMs = NTB_LINK_RETRY_MS,
  ) {
    this.qpUp = new Array<boolean>(params.qpCount).fill(false);
  }

  get isTransportUp(): boolean {
    return this.transportUp;
  }

  isQueueUp(qp: number): boolean {
    return this.qpUp[qp] === true;
  }

  /** NTB link event up: run the transport link work now, then every 10 ms until it matches. */
  start(): void {
    if (this.running || this.disposed) return;
    this.running = true;
    this.tick();
  }

  /** NTB link event down: stop the works, forget the queues, zero my own spads. */
  linkDown(): void {
    this.stop();
    this.transportUp = false;
    this.qpUp.fill(false);
    this.own.clear();
  }

  /** For good (port closed): nothing restarts the works any more. */
  dispose(): void {
    this.disposed = true;
    this.stop();
  }

  /** Cancels pending retries (state stays as it is). */
  stop(): void {
    this.running = false;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /**
   * The peer withdrew queue `qp` (cleared its QP_LINKS bit or sent LINK_DOWN). As in
   * ntb_qp_link_cleanup_work, the QP link work is rescheduled while the transport is up, so the
   * queue comes back if the peer announces it again.
   */
  queueDown(qp: number): void {
    this.qpUp[qp] = false;
    if (this.transportUp && !this.running && !this.disposed) {
      this.running = true;
      this.schedule();
    }
  }

  private schedule(): void {
    if (!this.running) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.tick();
    }, this.retryMs);
  }

  private tick(): void {
    if (!this.running) return;
    if (!this.transportUp) {
      const r = transportLinkStep(this.own, this.peer, this.params);
      if (!r.ok) {
        this.retries++;
        this.hooks.retrying?.(r.reason);
        this.schedule();
        return;
      }
      try {
        this.hooks.setupWindows(r.peerMwSizes);
      } catch (err) {
        this.stop();
        this.hooks.failed(err);
        return;
      }
      this.transportUp = true;
    }
    let pending = false;
    for (let qp = 0; qp < this.qpUp.length; qp++) {
      if (this.qpUp[qp]) continue;
      if (qpLinkStep(this.own, this.peer, qp)) {
        this.qpUp[qp] = true;
        try {
          this.hooks.queueUp(qp);
        } catch (err) {
          this.qpUp[qp] = false;
          this.stop();
          this.hooks.failed(err);
          return;
        }
        if (!this.running) return; // a hook closed or downed the port
      } else {
        pending = true;
      }
    }
    if (pending) this.schedule();
    else this.running = false;
  }
}
