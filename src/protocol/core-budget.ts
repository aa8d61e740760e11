import { EpdmaError } from '../device/errors.js';
import { BACKOFF } from './backoff.js';
import type { BackoffPolicy, ParkingWord, SpinGate } from './backoff.js';

/**
 * How the channel workers of one testbed share the cores with each other and with the main
 * thread. With more workers than cores (8 on 2), letting every worker with work run makes the
 * main thread one of nine runnable threads: it gets a ninth of the machine and wakes late,
 * the rings run dry, and a worker that spins meanwhile takes a core from one that copies.
 * Measured on this project's 2-core machine: 8 channels at 64 KiB moved less than one.
 *
 * So at most `cap` workers (cores - 1: the main thread keeps a core, and its completion pump
 * polls on it while transfers are in flight) run at once:
 *
 * - a worker with work takes a core (tryRun) or parks on the handoff word (waitPolicy,
 *   announcing itself in the waiting mask) until a running worker gives one up;
 * - a running worker gives its core up at the end of its turn (TURN_MS from taking it) when
 *   others wait (yield), so the channels take turns, and when it runs out of work (after a
 *   short hold while the main thread owes it a refill). Run dry while others wait, it queues
 *   for the next turn like a worker with work: the refill lands in its ring meanwhile, and
 *   nobody has to wake it from its idle park only to find no core free. Giving up bumps the
 *   handoff word and wakes one waiter (Atomics.notify wakes the longest waiter first);
 * - an idle worker spins (SpinGate) only while at most `cap` workers are awake and none waits
 *   for a core: a worker that just gave its core to a waiter would otherwise spin on the CPU
 *   the waiter needs (the waiter counts as awake only once it runs); measured with 8 channels
 *   on 2 cores, woken workers then sat ~250 us in the run queue per handoff.
 *
 * The budget is a performance policy, never a gate on correctness: a worker that waited
 * starveMs for a core runs anyway (a yield nobody took), a worker restarted in a crashed
 * holder's slot wakes the waiters, a control request wakes them all (CoreWaiters.rouse), and
 * every park has a timeout.
 *
 * Layout (Int32 words): one awake flag per worker slot (written only by its worker), then
 * RUNNING and WAITING (bit per slot, changed with atomic or/and) and HANDOFF (a counter).
 * A restarted worker takes its predecessor's slot and clears what a crash left in it.
 */
const RUNNING = 0;
const WAITING = 1;
const HANDOFF = 2;
const SHARED_WORDS = 3;
/** Slots are bits of one Int32 word. */
const MAX_THREADS = 31;
/**
 * A worker's turn on a core while others wait for one. Every handoff costs a futex wake and
 * the woken worker's way back onto a CPU: here ~50-200 us for most, up to milliseconds for a
 * few (measured from release to the waiter's tryRun with 8 channels on this project's 2-core
 * VM), time in which nobody copies. Interleaved runs of 8 channels at 64 KiB (three 1 s runs
 * each, several rounds, medians): 2 ms turns moved ~8.6-9.5 GB/s with ~560 handoffs a second,
 * 4-6 ms turns ~10.2-10.6 GB/s with ~390, 10 ms ~10.3 GB/s. A saturated channel among n
 * waits (n - 1) turns for its next one: 35 ms with 8, where 2 ms turns made it 14 ms.
 */
export const TURN_MS = 5;

/** Worker slots of a budget buffer (its length says how many); EINVAL if it holds no budget. */
function threadsOf(buffer: SharedArrayBuffer): number {
  const threads = (buffer.byteLength >>> 2) - SHARED_WORDS;
  if (threads < 1 || threads > MAX_THREADS) throw new EpdmaError('EINVAL', `core budget: a buffer of ${buffer.byteLength} bytes holds no budget`);
  return threads;
}

/** The shared words (RUNNING, WAITING, HANDOFF) after the slots' flags. */
function sharedWords(buffer: SharedArrayBuffer, threads: number): Int32Array {
  return new Int32Array(buffer, 4 * threads, SHARED_WORDS);
}

/** Bumps the handoff word and wakes `count` waiters: the longest waiting first. */
function handOff(shared: Int32Array, count = 1): void {
  Atomics.add(shared, HANDOFF, 1);
  Atomics.notify(shared, HANDOFF, count);
}

function bitCount(v: number): number {
  let n = 0;
  for (let x = v >>> 0; x !== 0; x &= x - 1) n++;
  return n;
}

export class CoreBudget implements SpinGate, ParkingWord {
  readonly slot: number;
  readonly cap: number;
  /**
   * Longest a worker with work waits for a core before it runs regardless: a turn of every
   * slot (the others' turns, and one of slack for handoffs and holds).
   */
  readonly starveMs: number;
  /** How a worker waits for a core: parked until a handoff, at most starveMs at a time. */
  readonly waitPolicy: BackoffPolicy;
  /** Times this worker parked for a core, gave one up to a waiter, and ran past the budget. */
  waits = 0;
  yields = 0;
  overruns = 0;
  private readonly flags: Int32Array;
  private readonly shared: Int32Array;
  private readonly bit: number;
  private holding = false;
  /** performance.now() since when this worker has waited for a core; -1: not waiting. */
  private waitingSince = -1;

  /** Bytes of a budget shared by `threads` workers. */
  static bytes(threads: number): number {
    if (!Number.isInteger(threads) || threads < 1 || threads > MAX_THREADS) {
      throw new EpdmaError('EINVAL', `core budget: ${threads} threads outside 1..${MAX_THREADS}`);
    }
    return 4 * (threads + SHARED_WORDS);
  }

  constructor(buffer: SharedArrayBuffer, slot: number, cap: number) {
    const threads = threadsOf(buffer);
    if (!Number.isInteger(slot) || slot < 0 || slot >= threads) {
      throw new EpdmaError('EINVAL', `core budget: slot ${slot} outside 0..${threads - 1}`);
    }
    if (!Number.isInteger(cap) || cap < 1) throw new EpdmaError('EINVAL', `core budget: cap ${cap} is not a count of cores`);
    this.flags = new Int32Array(buffer, 0, threads);
    this.shared = sharedWords(buffer, threads);
    this.slot = slot;
    this.cap = cap;
    this.starveMs = threads * TURN_MS;
    this.waitPolicy = Object.freeze({ ...BACKOFF.coreWait, parkMs: this.starveMs, maxParkMs: this.starveMs });
    this.bit = 1 << slot;
    // Whatever a crashed predecessor held or announced is released; if it held a core, the
    // workers waiting for one learn it now, not at their park's timeout.
    const held = Atomics.and(this.shared, RUNNING, ~this.bit) & this.bit;
    Atomics.and(this.shared, WAITING, ~this.bit);
    if (held !== 0 && Atomics.load(this.shared, WAITING) !== 0) handOff(this.shared);
    this.awake();
  }

  // ---- SpinGate: the idle backoff's spins ----

  awake(): void {
    Atomics.store(this.flags, this.slot, 1);
  }

  parked(): void {
    Atomics.store(this.flags, this.slot, 0);
  }

  /** Workers awake now, this one included if it is. */
  awakeCount(): number {
    const w = this.flags;
    let n = 0;
    for (let i = 0; i < w.length; i++) n += Atomics.load(w, i);
    return n;
  }

  /** True while this (awake) worker may spin: no more than `cap` workers are awake, none waits for a core. */
  allowsSpin(): boolean {
    return this.awakeCount() <= this.cap && !this.othersWaiting();
  }

  // ---- running ----

  /** True while this worker holds a core. */
  get running(): boolean {
    return this.holding;
  }

  /**
   * Takes a core if fewer than `cap` are taken, or if this worker has waited starveMs for
   * one. True if it holds a core now.
   */
  tryRun(): boolean {
    if (this.holding) return true;
    for (;;) {
      const mask = Atomics.load(this.shared, RUNNING);
      if (bitCount(mask) >= this.cap && !this.starved()) return false;
      if (Atomics.compareExchange(this.shared, RUNNING, mask, mask | this.bit) === mask) {
        if (bitCount(mask) >= this.cap) this.overruns++;
        this.holding = true;
        this.waitingSince = -1;
        return true;
      }
    }
  }

  private starved(): boolean {
    const now = performance.now();
    if (this.waitingSince < 0) this.waitingSince = now;
    return now - this.waitingSince >= this.starveMs;
  }

  /** Gives the core up (out of work); wakes a waiter if there is one. */
  release(): void {
    if (!this.holding) return;
    this.holding = false;
    Atomics.and(this.shared, RUNNING, ~this.bit);
    if (Atomics.load(this.shared, WAITING) !== 0) handOff(this.shared);
  }

  /** True if another worker waits for a core. */
  othersWaiting(): boolean {
    return (Atomics.load(this.shared, WAITING) & ~this.bit) !== 0;
  }

  /** Gives the core to a waiting worker (end of its turn); this one then waits for the next. */
  yieldToWaiter(): void {
    if (!this.holding) return;
    this.yields++;
    this.release();
  }

  // ---- ParkingWord: waiting for a core (with waitPolicy) ----

  /** Announces the wait (a release from now on wakes a waiter) and samples the handoff count. */
  prepareSleep(): number {
    Atomics.or(this.shared, WAITING, this.bit);
    return Atomics.load(this.shared, HANDOFF);
  }

  cancelSleep(): void {
    Atomics.and(this.shared, WAITING, ~this.bit);
  }

  sleep(seq: number, timeoutMs: number): 'ok' | 'not-equal' | 'timed-out' {
    this.waits++;
    this.parked();
    const outcome = Atomics.wait(this.shared, HANDOFF, seq, timeoutMs);
    this.awake();
    Atomics.and(this.shared, WAITING, ~this.bit);
    return outcome;
  }
}

/**
 * The main thread's handle on a budget's waiters. A worker waiting for a core parks on the
 * handoff word, not on its kick word, so a control request (or an exit) posted to it would
 * wait for a turn: the control client rouses them all, each re-checks its control counter,
 * and those with nothing to answer park again. Control requests are rare; transfers never
 * rouse.
 */
export class CoreWaiters {
  private readonly shared: Int32Array;

  constructor(buffer: SharedArrayBuffer) {
    this.shared = sharedWords(buffer, threadsOf(buffer));
  }

  rouse(): void {
    // The bump makes a waiter that sampled the word but is not asleep yet return at once.
    handOff(this.shared, Infinity);
  }
}
