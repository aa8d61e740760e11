import type { AwaitedWord } from './wait-until.js';
import { BACKOFF } from './backoff.js';

/**
 * The main thread's listener on a doorbell word (the completion doorbell, an NTB port's
 * doorbell): whoever has news for it bumps the word and notifies it; the listener runs its
 * pass and parks with one Atomics.waitAsync only when a pass found nothing, so the main
 * thread never blocks and never polls.
 *
 *   seq = word; busy = pass(); if !busy: park while word === seq
 *
 * The word is sampled BEFORE the pass: news that lands after the pass looked changes the word
 * after the sample, so the park returns 'not-equal' at once instead of sleeping on it. After
 * a busy pass the listener yields one macrotask before the next, so a steady stream of news
 * cannot starve timers, I/O and the other listeners.
 *
 * While news is due (`expecting`: transfers in flight), an empty pass is followed by another
 * one instead of a park, BACKOFF.completionPoll.spins times: the main thread stays out of the
 * kernel between completions, and the worker that rings skips its notify (the parked flag
 * below). The next pass runs a macrotask later, or at once if the word moves while the
 * listener peeks at it (~5 us, PEEKS_PER_POLL). That is polling, never blocking: timers and
 * I/O run between the passes, and no peek outlasts a few microseconds.
 *
 * The parked flag (`parkedIndex`, a word of the same view) is up only while the listener is
 * parked, so a ringer notifies only then (CompletionDoorbell.ring). No wake is lost: a ringer
 * bumps the word, then reads the flag; the listener raises the flag, then parks while the word
 * holds its sample. If the ringer read the flag down, its bump came before the flag went up,
 * so before the park's check: the park returns 'not-equal' (Atomics are sequentially consistent).
 *
 * Allocation: the pass and the loop step are made once; a park costs Atomics.waitAsync's
 * promise, a busy pass and a polling pass that saw nothing in its peek an immediate, nothing
 * per item a pass handles.
 */
export interface DoorbellListenerOptions {
  /**
   * Where an exception thrown by the pass goes; the listener keeps running. By default it is
   * rethrown on its own macrotask, so it surfaces as an uncaught exception instead of silently
   * stopping the listener.
   */
  readonly onError?: (error: unknown) => void;
  /**
   * Upper bound of one park in ms (default: none). Only needed when another process rings the
   * word: its notify does not reach this one.
   */
  readonly parkTimeoutMs?: number;
  /** True while news is due soon: empty passes then poll before a park (see above). */
  readonly expecting?: () => boolean;
  /** Index, in the word's view, of the flag that is 1 while the listener is parked. */
  readonly parkedIndex?: number;
}

/** Surfaces `error` as an uncaught exception on its own macrotask (a listener never dies of it). */
export function rethrowLater(error: unknown): void {
  setImmediate(() => {
    throw error;
  });
}

/**
 * Looks at the word before a polling pass pays for a macrotask: ~5 us (an Atomics.load of a
 * shared word took ~10 ns on this project's 2-core VM), about what a macrotask costs. Most
 * completions then land inside a peek, and the next pass runs at once: `npm run alloc` went
 * from ~650-720 to ~420-560 bytes per 64-byte transfer (no subscriber / completions$ / batches;
 * without polling it is ~390-520), the difference being the Immediate of each polling pass.
 */
const PEEKS_PER_POLL = 500;

export class DoorbellListener {
  private readonly view: Int32Array;
  private readonly index: number;
  /** One pass over what the doorbell announces; true if it found anything. */
  private readonly pass: () => boolean;
  private readonly onError: (error: unknown) => void;
  private readonly parkTimeoutMs: number;
  private readonly expecting: (() => boolean) | undefined;
  private readonly parkedIndex: number;
  /** Empty passes in a row since the last busy one or park. */
  private emptyPasses = 0;
  private stopped = true;
  /** A chain of steps is live (it ends only at a step that finds `stopped`). */
  private looping = false;
  private finished: Promise<void> = Promise.resolve();
  private resolveFinished: (() => void) | undefined;
  /** Passes made, parks that actually waited. */
  passes = 0;
  parks = 0;
  /** Empty passes that polled instead of parking. */
  polls = 0;

  constructor(word: AwaitedWord, pass: () => boolean, options: DoorbellListenerOptions = {}) {
    this.view = word.view;
    this.index = word.index;
    this.pass = pass;
    this.onError = options.onError ?? rethrowLater;
    this.parkTimeoutMs = options.parkTimeoutMs ?? Infinity;
    this.expecting = options.expecting;
    this.parkedIndex = options.parkedIndex ?? -1;
  }

  get running(): boolean {
    return !this.stopped;
  }

  /** Starts listening; the first pass runs before start() returns (news rung before start is not lost). */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    // Restarted before the last chain noticed the stop: that chain simply goes on.
    if (this.looping) return;
    this.looping = true;
    this.finished = new Promise((resolve) => (this.resolveFinished = resolve));
    this.step();
  }

  /**
   * Stops listening (a parked listener is rung awake) and resolves once the loop has ended:
   * news rung after that stays on the doorbell for whoever listens next. (A start() before
   * the loop noticed the stop keeps the loop going: this then resolves at the next stop.)
   */
  stop(): Promise<void> {
    if (!this.stopped) {
      this.stopped = true;
      Atomics.add(this.view, this.index, 1);
      Atomics.notify(this.view, this.index);
    }
    return this.finished;
  }

  private readonly step = (): void => {
    if (this.stopped) return this.finish();
    const seq = Atomics.load(this.view, this.index);
    this.passes++;
    let busy: boolean;
    try {
      busy = this.pass();
    } catch (error) {
      // What the pass took before it threw is gone from the doorbell: yield and look again.
      this.onError(error);
      busy = true;
    }
    if (this.stopped) return this.finish();
    if (busy) {
      this.emptyPasses = 0;
      setImmediate(this.step);
      return;
    }
    if (this.expecting !== undefined && this.emptyPasses < BACKOFF.completionPoll.spins && this.expecting()) {
      this.emptyPasses++;
      this.polls++;
      // A ring seen in the peek: the next pass runs now (at most spins deep, each an empty pass).
      if (this.rings(seq)) return this.step();
      setImmediate(this.step);
      return;
    }
    this.emptyPasses = 0;
    if (this.parkedIndex >= 0) Atomics.store(this.view, this.parkedIndex, 1);
    const park = Atomics.waitAsync(this.view, this.index, seq, this.parkTimeoutMs);
    if (park.async) {
      this.parks++;
      void park.value.then(this.unpark);
    } else {
      // 'not-equal' (rung since the sample: look again) or 'timed-out' (a zero timeout):
      // yield anyway, so a doorbell rung continuously cannot spin the main thread.
      this.lowerParkedFlag();
      setImmediate(this.step);
    }
  };

  /** True if the word moves from `seq` within PEEKS_PER_POLL looks. */
  private rings(seq: number): boolean {
    for (let i = 0; i < PEEKS_PER_POLL; i++) if (Atomics.load(this.view, this.index) !== seq) return true;
    return false;
  }

  private readonly unpark = (): void => {
    this.lowerParkedFlag();
    this.step();
  };

  private lowerParkedFlag(): void {
    if (this.parkedIndex >= 0) Atomics.store(this.view, this.parkedIndex, 0);
  }

  private finish(): void {
    this.looping = false;
    this.resolveFinished?.();
  }
}
