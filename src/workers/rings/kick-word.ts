import { EpdmaError } from '../../device/errors.js';

/**
 * The per-channel wake word: how the main thread wakes a channel worker that went to sleep on
 * an empty submission ring, with no lost wakeups and no notify while the worker is awake.
 *
 * Two Int32 words: kickSeq (bumped by the producer) and sleeping (set by the consumer).
 *
 *   consumer                               producer
 *   seq = prepareSleep()   // sleeping=1   publish ring head (Atomics.store)
 *   if (ring has work) cancelSleep()       kick(): if (sleeping == 1) { kickSeq++; notify }
 *   else sleep(seq, timeout) // wait while kickSeq == seq, then sleeping=0
 *
 * Why nothing is lost: Atomics are sequentially consistent. If the consumer's re-check missed
 * the producer's head store, that store comes after the consumer's `sleeping = 1` in the total
 * order, so the producer's load of `sleeping` sees 1 and bumps kickSeq. The bump also comes
 * after the consumer sampled seq, so Atomics.wait either sees kickSeq != seq and returns at
 * once, or is already queued and is woken by the notify (wait's check-and-queue and notify are
 * atomic with respect to each other).
 *
 * Only one thread kicks a channel (the main thread, once per issuePending), so kick() needs no
 * compare-and-swap. Atomics.notify does not cross processes: two-process mode needs the addon's
 * futex on the same word.
 */

const KICK_SEQ = 0;
const SLEEPING = 1;
/** Bytes a kick word occupies; padded to a cache line so neighbours in a shared block do not false-share. */
export const KICK_WORD_BYTES = 64;

/** Outcome of one IdleBackoff.onIdle() call. */
export const IDLE_SPUN = 0;
export const IDLE_RECHECK_FOUND_WORK = 1;
export const IDLE_WOKEN = 2;
export const IDLE_TIMED_OUT = 3;

export class KickWord {
  readonly buffer: SharedArrayBuffer;
  readonly byteOffset: number;
  private readonly ctl: Int32Array;
  /** Producer side: how many kicks found the worker asleep and notified it. */
  notifies = 0;

  static create(): KickWord {
    return new KickWord(new SharedArrayBuffer(KICK_WORD_BYTES));
  }

  constructor(sab: SharedArrayBuffer, byteOffset = 0) {
    if (byteOffset % 4 !== 0 || byteOffset < 0 || byteOffset + 8 > sab.byteLength) {
      throw new EpdmaError(
        'EINVAL',
        `kick word: byteOffset ${byteOffset} not 4-aligned inside a buffer of ${sab.byteLength} bytes`,
      );
    }
    this.buffer = sab;
    this.byteOffset = byteOffset;
    this.ctl = new Int32Array(sab, byteOffset, 2);
  }

  // ---- producer (main thread) ----

  /** Wakes the worker if it is asleep or about to sleep; costs one load when it is awake. */
  kick(): void {
    if (Atomics.load(this.ctl, SLEEPING) === 1) {
      Atomics.add(this.ctl, KICK_SEQ, 1);
      Atomics.notify(this.ctl, KICK_SEQ, 1);
      this.notifies++;
    }
  }

  // ---- consumer (channel worker) ----

  /** Announces the intent to sleep and samples kickSeq; re-check the ring after this. */
  prepareSleep(): number {
    Atomics.store(this.ctl, SLEEPING, 1);
    return Atomics.load(this.ctl, KICK_SEQ);
  }

  /** The re-check found work: stay awake. */
  cancelSleep(): void {
    Atomics.store(this.ctl, SLEEPING, 0);
  }

  /**
   * Blocks the worker thread until a kick newer than `seq` or the timeout (ms; Infinity for
   * none). Returns Atomics.wait's answer: 'ok' (kicked), 'not-equal' (kicked before the wait),
   * 'timed-out'.
   */
  sleep(seq: number, timeoutMs: number): 'ok' | 'not-equal' | 'timed-out' {
    const outcome = Atomics.wait(this.ctl, KICK_SEQ, seq, timeoutMs);
    Atomics.store(this.ctl, SLEEPING, 0);
    return outcome;
  }

  kickSeq(): number {
    return Atomics.load(this.ctl, KICK_SEQ);
  }

  isSleeping(): boolean {
    return Atomics.load(this.ctl, SLEEPING) === 1;
  }
}

export type IdlePolicy = 'adaptive' | 'spin' | 'sleep';

export interface IdleBackoffOptions {
  /** 'adaptive' (default): spin, then sleep with a growing timeout; 'spin': never sleep; 'sleep': sleep at once. */
  readonly policy?: IdlePolicy;
  /** Idle polls before the first sleep (adaptive). The default is about 50 us of polling an empty ring. */
  readonly spinIterations?: number;
  /** First sleep timeout in ms; doubles on every timeout while still idle. */
  readonly sleepMs?: number;
  /** Cap of the doubling sleep timeout in ms. */
  readonly maxSleepMs?: number;
}

/** An empty poll (peekHeader + onIdle) measured ~28 ns on Node 20 x64: 1500 polls is ~40-50 us. */
export const DEFAULT_SPIN_ITERATIONS = 1500;
export const DEFAULT_SLEEP_MS = 1;
export const DEFAULT_MAX_SLEEP_MS = 50;

/**
 * What a channel worker does when a poll found nothing to do. Call onIdle() after every empty
 * poll and onWork() after every poll that did something. The sleep timeout is a safety net
 * (a kick always wakes the worker); it doubles while nothing happens so an idle channel costs
 * ~20 wakeups per second, and drops back to sleepMs after work.
 *
 * Atomics.wait blocks the worker's event loop too: a worker that must also serve control-plane
 * messages returns to its event loop after onIdle() reports IDLE_WOKEN or IDLE_TIMED_OUT, and
 * the control client kicks the channel after posting a request (ControlClientOptions.wake).
 */
export class IdleBackoff {
  readonly policy: IdlePolicy;
  readonly spinIterations: number;
  readonly sleepMs: number;
  readonly maxSleepMs: number;
  private idlePolls = 0;
  private nextSleepMs: number;
  /** Counters for stats: sleeps that ended by a kick, and by the timeout. */
  wakeups = 0;
  timeouts = 0;

  constructor(options: IdleBackoffOptions = {}) {
    this.policy = options.policy ?? 'adaptive';
    this.spinIterations = options.spinIterations ?? DEFAULT_SPIN_ITERATIONS;
    this.sleepMs = options.sleepMs ?? DEFAULT_SLEEP_MS;
    this.maxSleepMs = Math.max(options.maxSleepMs ?? DEFAULT_MAX_SLEEP_MS, this.sleepMs);
    if (this.policy !== 'adaptive' && this.policy !== 'spin' && this.policy !== 'sleep') {
      throw new EpdmaError('EINVAL', `idle policy: '${String(this.policy)}' is not adaptive, spin or sleep`);
    }
    if (!Number.isInteger(this.spinIterations) || this.spinIterations < 0) {
      throw new EpdmaError('EINVAL', `idle policy: spinIterations ${this.spinIterations} is not a count`);
    }
    if (!(this.sleepMs > 0)) {
      throw new EpdmaError('EINVAL', `idle policy: sleepMs ${this.sleepMs} must be > 0`);
    }
    this.nextSleepMs = this.sleepMs;
  }

  /**
   * One idle step. `recheck` reports whether work arrived (e.g. the submission ring is not
   * empty); pass a function allocated once when the worker starts, never an arrow per call.
   * Returns IDLE_SPUN, IDLE_RECHECK_FOUND_WORK, IDLE_WOKEN or IDLE_TIMED_OUT.
   */
  onIdle(kickWord: KickWord, recheck: () => boolean): number {
    if (this.policy === 'spin') return IDLE_SPUN;
    if (this.policy === 'adaptive' && this.idlePolls < this.spinIterations) {
      this.idlePolls++;
      return IDLE_SPUN;
    }
    const seq = kickWord.prepareSleep();
    if (recheck()) {
      kickWord.cancelSleep();
      this.onWork();
      return IDLE_RECHECK_FOUND_WORK;
    }
    if (kickWord.sleep(seq, this.nextSleepMs) === 'timed-out') {
      this.timeouts++;
      this.nextSleepMs = Math.min(this.nextSleepMs * 2, this.maxSleepMs);
      return IDLE_TIMED_OUT;
    }
    this.wakeups++;
    this.onWork();
    return IDLE_WOKEN;
  }

  /** The timeout the next sleep will use. */
  get currentSleepMs(): number {
    return this.nextSleepMs;
  }

  /** True if the next onIdle() would spin rather than sleep. */
  get wantsSpin(): boolean {
    return this.policy === 'spin' || (this.policy === 'adaptive' && this.idlePolls < this.spinIterations);
  }

  /** Go straight to sleeping at the next onIdle() (no spin budget left for this worker). */
  skipSpin(): void {
    if (this.policy === 'adaptive') this.idlePolls = this.spinIterations;
  }

  /** The worker found work: spin again before the next sleep and restart the timeout ladder. */
  onWork(): void {
    this.idlePolls = 0;
    this.nextSleepMs = this.sleepMs;
  }
}
