import type { RegionDescription } from '../device/bus/address-space.js';
import type { ChannelKind } from '../device/regs/channel-registers.js';
import type { MapFormat } from '../device/regs/map-format.js';
import type { LlRegion } from '../device/dma-chip.js';
import type { IdlePolicy } from './kick-word.js';
import type { Direction } from '../device/direction.js';
import type { DriverQuirks } from './driver-quirks.js';

/**
 * How long work may wait on a link that is down (or on a chunk the other side may have
 * dropped) before it completes 'aborted' with reason 'link down'. Long enough to ride out a
 * link flap or a slow retrain, short enough that nobody waits on a device that went away.
 */
export const DEFAULT_LINK_DOWN_TIMEOUT_MS = 5000;

/** An address space as plain data (AddressSpace.describe()). */
export interface AddressSpaceDescription {
  readonly name: string;
  readonly regions: readonly RegionDescription[];
}

/**
 * A word that says whether the channel may run: Int32Array(buffer, byteOffset)[index] & mask
 * (the host's READY bit, the EP's link word). Plain data, so the same gate crosses into the
 * worker; ChannelCore makes its view of the word once.
 */
export interface LinkGate {
  readonly buffer: SharedArrayBuffer;
  readonly byteOffset: number;
  readonly index: number;
  readonly mask: number;
}

/**
 * Everything a channel worker is started with. Only SharedArrayBuffers and plain data: the
 * same description starts the worker again after a crash, on the same memory.
 */
export interface ChannelWorkerData {
  readonly name: string;
  readonly kind: ChannelKind;
  readonly hwChannel: number;
  readonly direction: Direction;
  readonly mapFormat: MapFormat;
  readonly funcNo: number;
  /**
   * The channel core's semantics where dw-edma departs from the DMAengine contract
   * (driver-quirks.ts): 'contract' (the default of every side) or 'dw-edma'.
   */
  readonly quirks: DriverQuirks;
  /** Remote-routed (the host's partial instance): RIE set, EP-local interrupt masked. */
  readonly remote: boolean;
  readonly registers: SharedArrayBuffer;
  readonly ll: LlRegion;
  readonly submissions: SharedArrayBuffer;
  readonly completions: SharedArrayBuffer;
  readonly kick: SharedArrayBuffer;
  readonly control: SharedArrayBuffer;
  /** The side's completion doorbell (one per side, shared by its channels). */
  readonly doorbell: SharedArrayBuffer;
  /** Run only while (view[index] & mask) != 0, e.g. the metadata READY bit. */
  readonly gate: LinkGate | null;
  /** How long work waits on a closed gate or a possibly lost chunk (default DEFAULT_LINK_DOWN_TIMEOUT_MS). */
  readonly linkDownTimeoutMs?: number;
  /** Two-process mode: the endpoint's reset counter (control.mem EP_RESETS), Int32Array(buffer, byteOffset)[index]. */
  readonly resets?: { readonly buffer: SharedArrayBuffer; readonly byteOffset: number; readonly index: number } | null;
  /** In-process mode: the worker also steps this channel's engine. */
  readonly engine: {
    readonly local: AddressSpaceDescription;
    readonly remote: AddressSpaceDescription;
    readonly llRegion: { readonly base: number; readonly size: number };
    readonly linkBytesPerSec?: number;
    /** EP-local memory data may move to/from (host channels: what the function grants). */
    readonly localData?: AddressSpaceDescription;
    /** The host IOMMU's mapping table (IommuTable.buffer), when the host has one. */
    readonly iommu?: SharedArrayBuffer;
  } | null;
  /**
   * Two-process mode: the engine runs in another process (`engine` is null). The worker
   * then wakes that engine with the addon's futex on every doorbell, and while a chunk is on
   * the hardware sleeps on its channel's interrupt word instead of polling the status.
   */
  readonly crossProcess?: boolean;
  readonly idle: { readonly policy: IdlePolicy; readonly spinIterations?: number; readonly sleepMs?: number; readonly maxSleepMs?: number };
  /**
   * The CoreBudget shared by every channel worker of the testbed (one slot per worker, this
   * one's at `slot`): at most `cap` workers run at once and an idle worker spins only while at
   * most `cap` are awake. Without it every worker with work runs and every idle one spins.
   */
  readonly coreBudget?: { readonly buffer: SharedArrayBuffer; readonly slot: number; readonly cap: number };
  /** The channel's trace ring (rings/trace-ring.ts), present only while tracing. */
  readonly trace?: SharedArrayBuffer;
  /** Restart count: non-zero means the previous worker of this channel died. */
  readonly generation: number;
}

/** The control plane a channel worker exposes (through comlink). */
export interface ChannelWorkerControl {
  /**
   * Resolves once the pause the main thread requested (in the control block) took effect at a
   * chunk boundary (true), or was overtaken by a terminate, an abort or an empty queue (false).
   */
  waitPaused(): Promise<boolean>;
  /** Resolves when the terminate pending in the control block is finished and its records published. */
  terminate(): Promise<void>;
  /** Masks, clears and turns off the channel (reclaim/quiesce). */
  quiesce(ownsDirection: boolean): void;
  stats(): ChannelWorkerStats;
  registerDump(): Record<string, number>;
  configure(idle: { policy: IdlePolicy }): void;
  /** Throws inside the worker's loop: for crash tests of the supervisor. */
  crash(message: string): void;
}

export interface ChannelWorkerStats {
  readonly name: string;
  readonly generation: number;
  readonly descriptors: number;
  readonly periods: number;
  readonly aborted: number;
  readonly terminated: number;
  readonly chunks: number;
  readonly bytes: number;
  readonly gateWaits: number;
  readonly idleWakeups: number;
  readonly idleTimeouts: number;
  /** Idle spins cut short because the CoreBudget had no core for a spinner. */
  readonly crowdedParks: number;
  /** CoreBudget: parks waiting for a core, cores given to a waiter at a turn end, runs past the cap after starveMs. */
  readonly coreWaits: number;
  readonly coreYields: number;
  readonly coreOverruns: number;
  readonly engine: { chunks: number; elements: number; bytes: number; aborts: number; localInterrupts: number; remoteInterrupts: number } | null;
}
