import type { ChannelKind } from '../device/regs/channel-registers.js';
import type { MapFormat } from '../device/regs/map-format.js';
import type { AddressSpaceDescription } from './channel-worker-data.js';

/** Words of the engine worker's control block (Int32). */
export const ENGINE_CTL = {
  /** Non-zero: leave the loop. */
  EXIT: 0,
  /** Bumped by the main thread: reset every engine (a host left); acknowledged in RESET_ACK. */
  RESET_REQ: 1,
  RESET_ACK: 2,
  /** How often the worker went to sleep (diagnostics). */
  SLEEPS: 3,
} as const;
export const ENGINE_CTL_BYTES = 64;

/** What the endpoint process's engine worker is started with (plain data and shared buffers). */
export interface EngineWorkerData {
  readonly registers: SharedArrayBuffer;
  readonly mapFormat: MapFormat;
  readonly control: SharedArrayBuffer;
  /** The delegated channels and their LL regions (EP-local addresses). */
  readonly channels: readonly { readonly kind: ChannelKind; readonly hwChannel: number; readonly llRegion: { readonly base: number; readonly size: number } }[];
  /** The EP's local bus and the host memory as the EP's DMA reaches it. */
  readonly local: AddressSpaceDescription;
  readonly remote: AddressSpaceDescription;
  /** The EP-local memory the function grants the host's channels for data (EP RAM). */
  readonly localData?: AddressSpaceDescription;
  readonly linkBytesPerSec?: number;
}
