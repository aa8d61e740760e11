import { EpdmaError } from '../device/errors.js';
import { DW_PCIE_EP_DMA_READY_POLL_US } from '../device/metadata/metadata-format.js';

/**
 * The one way a thread of the data plane waits for another: poll a while (a wakeup is then off
 * the critical path), then park on a shared word the other side changes and wakes, with a
 * timeout that is only a safety net and doubles while nothing happens. Each kind of wait is a
 * named policy below; the word and its wake protocol are a ParkingWord. The main thread, which
 * must never block, waits the same way asynchronously (waitUntil in wait-until.ts, under the
 * same policies); a doorbell it listens on for good is a DoorbellListener; waiting out a
 * crashed channel worker is an event, ChannelActor.whenRunning.
 */
export interface BackoffPolicy {
  /** Empty polls before the first park: 0 parks at once, Infinity never parks. */
  readonly spins: number;
  /** Timeout of the first park in ms. */
  readonly parkMs: number;
  /** Cap of the timeout, which doubles after every park that timed out. */
  readonly maxParkMs: number;
}

/** The waits of the runtime, by what is waited for: worker threads first (Backoff.idle). */
export const BACKOFF = Object.freeze({
  /**
   * A channel worker with nothing to do, parked on its kick word. An empty poll costs ~28 ns on
   * Node 20 x64, so 1500 polls are ~40-50 us; an idle channel then costs ~20 wakeups a second.
   */
  channelIdle: Object.freeze({ spins: 1500, parkMs: 1, maxParkMs: 50 }),
  /** The endpoint's engine worker with no doorbell latched (~100-200 us of passes), parked on the engine-wake word. */
  engineIdle: Object.freeze({ spins: 2000, parkMs: 20, maxParkMs: 20 }),
  /** A channel worker whose chunk runs on an engine in another process, parked on the channel's interrupt word. */
  remoteHardware: Object.freeze({ spins: 200, parkMs: 5, maxParkMs: 5 }),
  /** A channel worker with a full completion ring, parked on the ring's tail word until the main thread drains. */
  ringFull: Object.freeze({ spins: 0, parkMs: 1, maxParkMs: 16 }),
  // The main thread's waits (waitUntil): it never blocks and never spins, so spins is 0 and
  // every park is an Atomics.waitAsync on the awaited word, or a timer where no wake can come.
  /**
   * dw-edma-pcie's probe polling R in the metadata BAR every DW_PCIE_EP_DMA_READY_POLL_US, as
   * read_poll_timeout does: a register, which nothing wakes a reader of.
   */
  readyRegister: Object.freeze({ spins: 0, parkMs: DW_PCIE_EP_DMA_READY_POLL_US / 1000, maxParkMs: DW_PCIE_EP_DMA_READY_POLL_US / 1000 }),
  /**
   * A host process waiting for the endpoint process to free the host slot after the previous
   * host: parked on the slot word, which the endpoint notifies; from another process that
   * wake cannot reach this thread, so the park's timeout is the poll.
   */
  hostSlotRelease: Object.freeze({ spins: 0, parkMs: 5, maxParkMs: 5 }),
  /**
   * The endpoint waiting for its engine worker to acknowledge a reset, parked on the ack word:
   * the worker's notify (or its exit) ends the park; the timeout is only a safety net.
   */
  engineResetAck: Object.freeze({ spins: 0, parkMs: 20, maxParkMs: 160 }),
  /**
   * A channel worker with work but no core of the CoreBudget, parked on its handoff word until
   * a running worker gives its core up (or a control request rouses the waiters). The timeout
   * is the budget's starvation bound, a turn of every slot (CoreBudget.waitPolicy sets it; the
   * value here is the default testbed's: 8 slots of 5 ms turns): a park that times out ends in
   * a run past the cap. Parks of 2 ms woke each of 7 waiting workers ~500 times a second for
   * nothing, and every such wake took a CPU from the copying worker or the main thread: 8
   * channels at 64 KiB moved ~0.6x of one channel then, ~0.8x with 20 ms (same runs, main
   * thread polling).
   */
  coreWait: Object.freeze({ spins: 0, parkMs: 40, maxParkMs: 40 }),
  /**
   * The main thread's completion pump while transfers are in flight: empty passes, each a
   * peek at the doorbell (~5 us) and a macrotask (~2-3 us on Node 20) apart, before it
   * parks. Waking a parked main thread goes through the kernel (the worker's notify posts a
   * task, epoll wakes the thread), and the notify costs the worker V8's futex lock: measured
   * on this project's 2-core VM, polling took 64-byte transfers from ~380 k/s to ~550-640 k/s
   * and one channel at 64 KiB from ~10-12 to ~14-18 GB/s. 64 passes are ~0.5 ms after the
   * last completion; with nothing in flight the pump parks at once (parkMs: the doorbell's
   * own wake ends the park, no timeout). It polls while channel workers wait for a core too:
   * the CoreBudget leaves the main thread its core, and a parked main thread woke too late to
   * refill the running worker's ring (8 channels at 64 KiB, interleaved runs: ~0.6x of one
   * channel parked, ~0.85x polling, both with 50 ms core waits).
   */
  completionPoll: Object.freeze({ spins: 64, parkMs: Infinity, maxParkMs: Infinity }),
} satisfies Record<string, BackoffPolicy>);

/**
 * A shared word to park on, with the protocol that makes a wake impossible to lose: announce
 * and sample, re-check the condition, then sleep while the word still holds the sample.
 */
export interface ParkingWord {
  /** Announces the intent to park and samples the word; any change after this ends the park. */
  prepareSleep(): number;
  /** The re-check found work: not parking after all. */
  cancelSleep(): void;
  /** Parks while the word holds `seq`, for at most `timeoutMs` (Atomics.wait's answer). */
  sleep(seq: number, timeoutMs: number): 'ok' | 'not-equal' | 'timed-out';
}

/** Outcome of one Backoff.idle() call. */
export const IDLE_SPUN = 0;
export const IDLE_RECHECK_FOUND_WORK = 1;
export const IDLE_WOKEN = 2;
export const IDLE_TIMED_OUT = 3;

type WaitOnWord = (view: Int32Array, index: number, expected: number, timeoutMs: number) => 'ok' | 'not-equal' | 'timed-out';

const atomicsWait: WaitOnWord = (view, index, expected, timeoutMs) => Atomics.wait(view, index, expected, timeoutMs);

/**
 * A counter word whose writer bumps it and wakes waiters after every event (an interrupt
 * sequence, the engine-wake word): nothing to announce, the sample is the current count.
 * `wait` is Atomics.wait by default, or the cross-process futex wait.
 */
export class SequenceWord implements ParkingWord {
  private readonly view: Int32Array;
  private readonly index: number;
  private readonly wait: WaitOnWord;

  constructor(view: Int32Array, index: number, wait: WaitOnWord = atomicsWait) {
    this.view = view;
    this.index = index;
    this.wait = wait;
  }

  prepareSleep(): number {
    return Atomics.load(this.view, this.index);
  }

  cancelSleep(): void {
    // Nothing was announced.
  }

  sleep(seq: number, timeoutMs: number): 'ok' | 'not-equal' | 'timed-out' {
    return this.wait(this.view, this.index, seq, timeoutMs);
  }
}

/** Empty polls between two looks at the spin gate (a look may read a word per thread). */
const SPIN_GATE_LOOK_EVERY = 64;

/**
 * Who else wants the cores while this thread spins (CoreBudget): a spin goes on only while
 * the gate allows it, and the gate learns when the thread parks and wakes.
 */
export interface SpinGate {
  allowsSpin(): boolean;
  parked(): void;
  awake(): void;
}

/**
 * One waiting thread's backoff under a policy. Call idle() after every poll that found nothing
 * and onWork() after every poll that did something. Allocation-free: pass a ParkingWord and a
 * re-check function made once, never an arrow per call.
 */
export class Backoff {
  readonly plan: BackoffPolicy;
  /** Parks that ended by a wake, and by the timeout. */
  wakeups = 0;
  timeouts = 0;
  /** Spins cut short because the spin gate had no core for this thread. */
  crowdedParks = 0;
  private idlePolls = 0;
  private nextParkMs: number;
  private readonly budget: SpinGate | null;

  /** With a `budget`, a finite policy spins only while the gate allows (see CoreBudget). */
  constructor(plan: BackoffPolicy, budget: SpinGate | null = null) {
    if (!(plan.spins >= 0)) throw new EpdmaError('EINVAL', `backoff: spins ${plan.spins} is not a count`);
    if (!(plan.parkMs > 0)) throw new EpdmaError('EINVAL', `backoff: parkMs ${plan.parkMs} must be > 0`);
    this.plan = plan;
    this.nextParkMs = plan.parkMs;
    this.budget = Number.isFinite(plan.spins) ? budget : null;
  }

  /**
   * One idle step: a spin while the policy's polls last (and the spin gate has a core for
   * it), else announce on `word`, re-check (`recheck` true: work arrived, do not park) and
   * park. Returns IDLE_SPUN, IDLE_RECHECK_FOUND_WORK, IDLE_WOKEN or IDLE_TIMED_OUT.
   */
  idle(word: ParkingWord, recheck: () => boolean): number {
    if (this.idlePolls < this.plan.spins) {
      if (this.budget === null || this.idlePolls % SPIN_GATE_LOOK_EVERY !== 0 || this.budget.allowsSpin()) {
        this.idlePolls++;
        return IDLE_SPUN;
      }
      this.crowdedParks++;
      this.idlePolls = this.plan.spins;
    }
    const seq = word.prepareSleep();
    if (recheck()) {
      word.cancelSleep();
      this.onWork();
      return IDLE_RECHECK_FOUND_WORK;
    }
    this.budget?.parked();
    const outcome = word.sleep(seq, this.nextParkMs);
    this.budget?.awake();
    return this.parked(outcome);
  }

  /**
   * Accounts for one park that ended with `result`: a timeout doubles the next park's timeout
   * up to the cap (IDLE_TIMED_OUT); a wake (or a word that had already moved) restarts the
   * ladder (IDLE_WOKEN). idle() calls it; a main-thread wait (waitUntil) parks asynchronously
   * and calls it itself.
   */
  parked(result: 'ok' | 'not-equal' | 'timed-out'): number {
    if (result === 'timed-out') {
      this.timeouts++;
      this.nextParkMs = Math.min(this.nextParkMs * 2, Math.max(this.plan.maxParkMs, this.plan.parkMs));
      return IDLE_TIMED_OUT;
    }
    this.wakeups++;
    this.onWork();
    return IDLE_WOKEN;
  }

  /** True if the next idle() would spin rather than park. */
  get spinning(): boolean {
    return this.idlePolls < this.plan.spins;
  }

  /** The timeout the next park will use. */
  get currentParkMs(): number {
    return this.nextParkMs;
  }

  /** Work was found: spin again before the next park and restart the timeout ladder. */
  onWork(): void {
    this.idlePolls = 0;
    this.nextParkMs = this.plan.parkMs;
  }
}
