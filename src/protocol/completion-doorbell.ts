import { EpdmaError } from '../device/errors.js';
import type { CompletionRing, CompletionVisitor } from './completion-ring.js';
import { DoorbellListener, rethrowLater } from './doorbell-listener.js';

/**
 * The completion doorbell of one process side: every channel worker of the side rings it once
 * per published completion batch, and the main thread's CompletionPump waits on it with
 * Atomics.waitAsync, so one asynchronous wait serves every channel and the main thread never
 * blocks.
 */

const COUNT = 0;
/** 1 while the pump is parked on COUNT (DoorbellListener's parked flag): only then does a ring notify. */
const PARKED = 1;
/** Bytes a doorbell occupies (a cache line of its own). */
const DOORBELL_BYTES = 64;

export class CompletionDoorbell {
  readonly buffer: SharedArrayBuffer;
  readonly byteOffset: number;
  readonly view: Int32Array;

  static create(): CompletionDoorbell {
    return new CompletionDoorbell(new SharedArrayBuffer(DOORBELL_BYTES));
  }

  constructor(sab: SharedArrayBuffer, byteOffset = 0) {
    if (byteOffset % 4 !== 0 || byteOffset < 0 || byteOffset + 8 > sab.byteLength) {
      throw new EpdmaError(
        'EINVAL',
        `completion doorbell: byteOffset ${byteOffset} not 4-aligned inside a buffer of ${sab.byteLength} bytes`,
      );
    }
    this.buffer = sab;
    this.byteOffset = byteOffset;
    this.view = new Int32Array(sab, byteOffset, 2);
  }

  /**
   * Called by a worker after CompletionRing.publish(): bumps the count and wakes the pump if
   * it is parked (a notify costs the ringer a lock and the pump a kernel wake; a polling pump
   * sees the count).
   */
  ring(): void {
    Atomics.add(this.view, COUNT, 1);
    if (Atomics.load(this.view, PARKED) !== 0) Atomics.notify(this.view, COUNT);
  }

  sample(): number {
    return Atomics.load(this.view, COUNT);
  }
}

export interface CompletionPumpOptions {
  /**
   * Where an exception thrown by a visitor goes; the pump keeps running. By default it is
   * rethrown on its own macrotask, so it surfaces as an uncaught exception instead of silently
   * stopping every channel's completions.
   */
  readonly onError?: (error: unknown, ring: CompletionRing) => void;
  /**
   * Upper bound of one wait in ms (default: none). Only needed when rings are published by
   * another process, whose notify does not reach this one.
   */
  readonly waitTimeoutMs?: number;
  /**
   * Called before and after every drainAll (the loop's passes and direct calls), so a consumer
   * can treat what the visitors saw in one pass as one batch. onPassEnd runs even if a visitor threw.
   */
  readonly onPassStart?: () => void;
  readonly onPassEnd?: () => void;
  /** True while completions are due (transfers in flight): the pump polls before it parks. */
  readonly expecting?: () => boolean;
}

interface PumpEntry {
  readonly ring: CompletionRing;
  readonly visit: CompletionVisitor;
  active: boolean;
}

/**
 * The main thread's completion loop, a DoorbellListener on the side's doorbell whose pass
 * drains every ring: whatever a worker publishes after its ring was drained rings the doorbell
 * after the listener's sample, so nothing published is slept on.
 *
 * Allocation: none per record (visitors read by slot), see DoorbellListener per pass.
 */
export class CompletionPump {
  readonly doorbell: CompletionDoorbell;
  private readonly onError: (error: unknown, ring: CompletionRing) => void;
  private readonly listener: DoorbellListener;
  private readonly onPassStart: (() => void) | undefined;
  private readonly onPassEnd: (() => void) | undefined;
  // Copy-on-write: add/remove (rare) replace the array, a pass iterates the array it started with.
  private entries: readonly PumpEntry[] = [];
  /** Records visited, for stats. */
  drained = 0;

  constructor(doorbell: CompletionDoorbell, options: CompletionPumpOptions = {}) {
    this.doorbell = doorbell;
    this.onError = options.onError ?? rethrowLater;
    this.listener = new DoorbellListener(
      { view: doorbell.view, index: COUNT },
      () => this.drainAll() > 0,
      {
        parkedIndex: PARKED,
        ...(options.waitTimeoutMs !== undefined ? { parkTimeoutMs: options.waitTimeoutMs } : {}),
        ...(options.expecting !== undefined ? { expecting: options.expecting } : {}),
      },
    );
    this.onPassStart = options.onPassStart;
    this.onPassEnd = options.onPassEnd;
  }

  get running(): boolean {
    return this.listener.running;
  }

  /** Passes made, and waits that actually parked (stats). */
  get passes(): number {
    return this.listener.passes;
  }

  get waits(): number {
    return this.listener.parks;
  }

  get size(): number {
    return this.entries.length;
  }

  /**
   * Registers a ring and the visitor its records go to (allocate the visitor once per ring).
   * Rings the doorbell, so a running pump makes a pass that includes the new ring even if its
   * records were announced before it was registered.
   */
  add(ring: CompletionRing, visit: CompletionVisitor): void {
    if (this.entries.some((e) => e.ring === ring)) {
      throw new EpdmaError('EINVAL', 'completion pump: ring is already registered');
    }
    this.entries = [...this.entries, { ring, visit, active: true }];
    this.doorbell.ring();
  }

  /** Unregisters a ring; from now on, including later in a pass in progress, it is not drained. */
  remove(ring: CompletionRing): boolean {
    const entry = this.entries.find((e) => e.ring === ring);
    if (entry === undefined) return false;
    entry.active = false;
    this.entries = this.entries.filter((e) => e !== entry);
    return true;
  }

  /** Drains every registered ring once; returns the number of records visited. */
  drainAll(): number {
    this.onPassStart?.();
    try {
      return this.drainEvery();
    } finally {
      this.onPassEnd?.();
    }
  }

  private drainEvery(): number {
    const entries = this.entries;
    let total = 0;
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i]!;
      if (!entry.active) continue;
      // Loop until empty: a throwing visitor leaves the rest of the batch for the next round.
      for (;;) {
        const tail = entry.ring.tail();
        try {
          total += entry.ring.drain(entry.visit);
          break;
        } catch (error) {
          total += (entry.ring.tail() - tail) >>> 0;
          this.onError(error, entry.ring);
          if (!entry.active) break;
        }
      }
    }
    this.drained += total;
    return total;
  }

  start(): void {
    this.listener.start();
  }

  /** Ends the loop (a parked one is rung awake) and resolves when it has. */
  stop(): Promise<void> {
    return this.listener.stop();
  }
}
