import type { Observable } from 'rxjs';
import type { QueueStats } from './ntb-stats.js';

/** Public shapes of the NTB-style transport (API.md "NTB-style transport"), plus documented extras. */

export interface NtbTransportOptions {
  /** Queue pairs, 1..32 (QP_LINKS has one bit per queue). Default 1. */
  queues?: number;
  /** Frame size in bytes, header included; a multiple of 4 above 12. Default 65536. */
  mtu?: number;
  /** Frames per ring and direction, at least 2. Default 64. */
  ringEntries?: number;
  /** Payloads below this many bytes are copied by the CPU (piscina). Default 1024. */
  copyBytes?: number;
  /** Move payload with DMA channels. Default true. */
  useDma?: boolean;
  /** Extra: memory windows the queues are spread over (round-robin). Default 2, capped at `queues`. */
  memoryWindows?: number;
  /**
   * Extra: deliver views of the receive ring instead of copies. A view is valid only during the
   * synchronous `next()` call; the slot is handed back to the producer right after it.
   */
  zeroCopyReceive?: boolean;
}

export interface QueuePair {
  /** Largest payload one send carries: mtu - 12 (the header sits at the end of each frame). */
  readonly maxPayload: number;
  /**
   * Resolves once the peer's ring holds the frame (payload and header written). Waits while the
   * ring is full or the link is down; rejects EINVAL for an empty payload, EIO above maxPayload,
   * ESHUTDOWN when the port closes first. The payload must stay unchanged until it resolves.
   */
  send(payload: Uint8Array): Promise<void>;
  /** Frames in order, each exactly once to every subscriber present when it is consumed. */
  readonly receive$: Observable<Uint8Array>;
  readonly stats: QueueStats;
  /**
   * Extra: a buffer in the sender's DMA memory. Sending (a subarray of) it is zero copy: the
   * DMA channel reads it in place, no staging copy. Valid until freePayload or the port closes.
   */
  allocPayload(bytes: number): Uint8Array;
  /** Extra: returns a buffer from allocPayload. */
  freePayload(buffer: Uint8Array): void;
}

export interface NtbPort {
  queue(index: number): QueuePair;
  /** True while every queue of the port is up; replays the current state to new subscribers. */
  readonly link$: Observable<boolean>;
  close(): Promise<void>;
}

export interface NtbTransport extends AsyncDisposable {
  readonly host: NtbPort;
  readonly endpoint: NtbPort;
  /** Extra: closes both ports (and with them the shared pool and memory). Idempotent. */
  close(): Promise<void>;
}

export type { QueueStats };
