import { EpdmaError } from '../device/errors.js';
import { Backoff, BACKOFF, type ParkingWord, type SpinGate } from './backoff.js';

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
const KICK_WORD_BYTES = 64;

/** Outcomes of IdleBackoff.onIdle(), as of every Backoff. */
export { IDLE_RECHECK_FOUND_WORK, IDLE_SPUN, IDLE_TIMED_OUT, IDLE_WOKEN } from './backoff.js';

export class KickWord implements ParkingWord {
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
  /** Whether a spin may take a core now (CoreBudget); without it, 'adaptive' always spins first. */
  readonly budget?: SpinGate | null;
}

/**
 * What a channel worker does when a poll found nothing to do: the channelIdle backoff parked
 * on its kick word, shaped by the channel's idle options. Call onIdle() after every empty poll
 * and onWork() after every poll that did something. The sleep timeout is a safety net (a kick
 * always wakes the worker); it doubles while nothing happens so an idle channel costs ~20
 * wakeups per second, and drops back to sleepMs after work.
 *
 * Atomics.wait blocks the worker's event loop too: a worker that must also serve control-plane
 * messages returns to its event loop after onIdle() reports IDLE_WOKEN or IDLE_TIMED_OUT, and
 * the control client kicks the channel after posting a request (ControlClientOptions.wake).
 */
export class IdleBackoff extends Backoff {
  readonly policy: IdlePolicy;
  readonly spinIterations: number;
  readonly sleepMs: number;
  readonly maxSleepMs: number;

  constructor(options: IdleBackoffOptions = {}) {
    const policy = options.policy ?? 'adaptive';
    const spinIterations = options.spinIterations ?? BACKOFF.channelIdle.spins;
    const sleepMs = options.sleepMs ?? BACKOFF.channelIdle.parkMs;
    const maxSleepMs = Math.max(options.maxSleepMs ?? BACKOFF.channelIdle.maxParkMs, sleepMs);
    if (policy !== 'adaptive' && policy !== 'spin' && policy !== 'sleep') {
      throw new EpdmaError('EINVAL', `idle policy: '${String(policy)}' is not adaptive, spin or sleep`);
    }
    if (!Number.isInteger(spinIterations) || spinIterations < 0) {
      throw new EpdmaError('EINVAL', `idle policy: spinIterations ${spinIterations} is not a count`);
    }
    if (!(sleepMs > 0)) {
      throw new EpdmaError('EINVAL', `idle policy: sleepMs ${sleepMs} must be > 0`);
    }
    // 'spin' never parks, 'sleep' parks at once, 'adaptive' spins its iterations first.
    const spins = policy === 'spin' ? Infinity : policy === 'sleep' ? 0 : spinIterations;
    super({ spins, parkMs: sleepMs, maxParkMs: maxSleepMs }, options.budget ?? null);
    this.policy = policy;
    this.spinIterations = spinIterations;
    this.sleepMs = sleepMs;
    this.maxSleepMs = maxSleepMs;
  }

  /**
   * One idle step. `recheck` reports whether work arrived (e.g. the submission ring is not
   * empty); pass a function allocated once when the worker starts, never an arrow per call.
   * Returns IDLE_SPUN, IDLE_RECHECK_FOUND_WORK, IDLE_WOKEN or IDLE_TIMED_OUT.
   */
  onIdle(kickWord: KickWord, recheck: () => boolean): number {
    return this.idle(kickWord, recheck);
  }

  /** The timeout the next sleep will use. */
  get currentSleepMs(): number {
    return this.currentParkMs;
  }
}
