/**
 * Backoff: the one spin-then-park primitive of the data plane, its named policies, and the
 * counter-word parking used for interrupt and engine-wake words. The parking word is a
 * scripted fake where the protocol is under test, so nothing here depends on timing.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  Backoff,
  BACKOFF,
  IDLE_RECHECK_FOUND_WORK,
  IDLE_SPUN,
  IDLE_TIMED_OUT,
  IDLE_WOKEN,
  SequenceWord,
  type BackoffPolicy,
  type SpinGate,
  type ParkingWord,
} from '../../dist/protocol/backoff.js';

type Outcome = 'ok' | 'not-equal' | 'timed-out';

/** Records the protocol calls and answers sleeps from a script. */
class ScriptedWord implements ParkingWord {
  readonly calls: string[] = [];
  readonly sleeps: number[] = [];
  seq = 40;
  next: Outcome = 'timed-out';
  prepareSleep(): number {
    this.calls.push('prepare');
    return this.seq;
  }
  cancelSleep(): void {
    this.calls.push('cancel');
  }
  sleep(seq: number, timeoutMs: number): Outcome {
    this.calls.push(`sleep ${seq}`);
    this.sleeps.push(timeoutMs);
    return this.next;
  }
}

const never = (): boolean => false;
const always = (): boolean => true;

describe('BACKOFF policies', () => {
  it('names every wait of the data plane with a valid, frozen policy', () => {
    expect(Object.keys(BACKOFF).sort()).toEqual(['channelIdle', 'completionPoll', 'coreWait', 'engineIdle', 'engineResetAck', 'hostSlotRelease', 'readyRegister', 'remoteHardware', 'ringFull']);
    expect(Object.isFrozen(BACKOFF)).toBe(true);
    for (const [name, p] of Object.entries(BACKOFF)) {
      expect(Object.isFrozen(p), name).toBe(true);
      expect(p.spins, name).toBeGreaterThanOrEqual(0);
      expect(p.parkMs, name).toBeGreaterThan(0);
      expect(p.maxParkMs, name).toBeGreaterThanOrEqual(p.parkMs);
      expect(() => new Backoff(p)).not.toThrow();
    }
    // A full ring parks at once: there is nothing to poll for until the main thread drains.
    expect(BACKOFF.ringFull.spins).toBe(0);
    // The main thread's waits (waitUntil) never spin; the READY poll is the kernel's 1 ms.
    for (const name of ['readyRegister', 'hostSlotRelease', 'engineResetAck'] as const) expect(BACKOFF[name].spins, name).toBe(0);
    expect(BACKOFF.readyRegister).toEqual({ spins: 0, parkMs: 1, maxParkMs: 1 });
  });

  it('rejects a policy it cannot honour, naming the value', () => {
    expect(() => new Backoff({ spins: -1, parkMs: 1, maxParkMs: 1 })).toThrow(/EINVAL: backoff: spins -1/);
    expect(() => new Backoff({ spins: Number.NaN, parkMs: 1, maxParkMs: 1 })).toThrow(/spins NaN/);
    expect(() => new Backoff({ spins: 0, parkMs: 0, maxParkMs: 1 })).toThrow(/EINVAL: backoff: parkMs 0/);
  });
});

describe('Backoff', () => {
  it('spins exactly `spins` polls, then announces, re-checks and parks with the sample', () => {
    const b = new Backoff({ spins: 3, parkMs: 2, maxParkMs: 8 });
    const word = new ScriptedWord();
    for (let i = 0; i < 3; i++) expect(b.idle(word, never)).toBe(IDLE_SPUN);
    expect(word.calls).toEqual([]);
    expect(b.idle(word, never)).toBe(IDLE_TIMED_OUT);
    expect(word.calls).toEqual(['prepare', 'sleep 40']);
  });

  it('a re-check that finds work cancels the announcement and restarts the spin budget', () => {
    const b = new Backoff({ spins: 1, parkMs: 1, maxParkMs: 4 });
    const word = new ScriptedWord();
    b.idle(word, never);
    expect(b.idle(word, always)).toBe(IDLE_RECHECK_FOUND_WORK);
    expect(word.calls).toEqual(['prepare', 'cancel']);
    expect(b.spinning).toBe(true);
    expect(b.idle(word, never)).toBe(IDLE_SPUN);
  });

  it('timeouts double up to the cap; a wake (or a word that already moved) resets the ladder', () => {
    const b = new Backoff({ spins: 0, parkMs: 1, maxParkMs: 5 });
    const word = new ScriptedWord();
    for (let i = 0; i < 5; i++) expect(b.idle(word, never)).toBe(IDLE_TIMED_OUT);
    expect(word.sleeps).toEqual([1, 2, 4, 5, 5]);
    word.next = 'ok';
    expect(b.idle(word, never)).toBe(IDLE_WOKEN);
    expect(b.currentParkMs).toBe(1);
    word.next = 'not-equal';
    expect(b.idle(word, never)).toBe(IDLE_WOKEN);
    expect([b.wakeups, b.timeouts]).toEqual([2, 5]);
  });

  it('parked() is the ladder of a park made elsewhere (the main thread parks asynchronously)', () => {
    const b = new Backoff({ spins: 2, parkMs: 3, maxParkMs: 10 });
    expect(b.parked('timed-out')).toBe(IDLE_TIMED_OUT);
    expect(b.parked('timed-out')).toBe(IDLE_TIMED_OUT);
    expect(b.currentParkMs).toBe(10);
    expect(b.parked('not-equal')).toBe(IDLE_WOKEN);
    expect(b.currentParkMs).toBe(3);
    expect(b.spinning).toBe(true);
    expect([b.wakeups, b.timeouts]).toEqual([1, 2]);
  });

  it('Infinity spins never parks', () => {
    const spin = new Backoff({ spins: Infinity, parkMs: 1, maxParkMs: 1 });
    const word = new ScriptedWord();
    for (let i = 0; i < 10_000; i++) expect(spin.idle(word, never)).toBe(IDLE_SPUN);
    expect(word.calls).toEqual([]);
  });

  it('matches a model for any sequence of idle steps, outcomes and work', () => {
    const step = fc.oneof(
      fc.record({ op: fc.constant('idle' as const), recheck: fc.boolean(), outcome: fc.constantFrom<Outcome>('ok', 'not-equal', 'timed-out') }),
      fc.record({ op: fc.constant('work' as const) }),
    );
    const policy = fc.record({ spins: fc.integer({ min: 0, max: 5 }), parkMs: fc.integer({ min: 1, max: 4 }), maxParkMs: fc.integer({ min: 1, max: 40 }) });
    fc.assert(
      fc.property(policy, fc.array(step, { maxLength: 60 }), (p: BackoffPolicy, steps) => {
        const b = new Backoff(p);
        const word = new ScriptedWord();
        const cap = Math.max(p.maxParkMs, p.parkMs);
        let polls = 0;
        let park = p.parkMs;
        let wakeups = 0;
        let timeouts = 0;
        for (const s of steps) {
          if (s.op === 'work') {
            b.onWork();
            polls = 0;
            park = p.parkMs;
          } else {
            word.next = s.outcome;
            const sleepsBefore = word.sleeps.length;
            const got = b.idle(word, () => s.recheck);
            let want: number;
            if (polls < p.spins) {
              polls++;
              want = IDLE_SPUN;
            } else if (s.recheck) {
              polls = 0;
              park = p.parkMs;
              want = IDLE_RECHECK_FOUND_WORK;
            } else if (s.outcome === 'timed-out') {
              expect(word.sleeps[sleepsBefore]).toBe(park);
              timeouts++;
              park = Math.min(park * 2, cap);
              want = IDLE_TIMED_OUT;
            } else {
              expect(word.sleeps[sleepsBefore]).toBe(park);
              wakeups++;
              polls = 0;
              park = p.parkMs;
              want = IDLE_WOKEN;
            }
            expect(got).toBe(want);
          }
          expect(b.spinning).toBe(polls < p.spins);
          expect(b.currentParkMs).toBe(park);
          expect([b.wakeups, b.timeouts]).toEqual([wakeups, timeouts]);
        }
      }),
    );
  });
});

describe('Backoff with a spin gate', () => {
  /** A gate answered from a script, recording the park/wake announcements. */
  class ScriptedGate implements SpinGate {
    allow = true;
    looks = 0;
    readonly log: string[] = [];
    allowsSpin(): boolean {
      this.looks++;
      return this.allow;
    }
    parked(): void {
      this.log.push('parked');
    }
    awake(): void {
      this.log.push('awake');
    }
  }

  it('a crowded gate parks at once instead of spinning; the thread is announced parked only around the sleep', () => {
    const gate = new ScriptedGate();
    gate.allow = false;
    const word = new ScriptedWord();
    word.next = 'ok';
    const b = new Backoff({ spins: 1000, parkMs: 1, maxParkMs: 8 }, gate);
    expect(b.idle(word, never)).toBe(IDLE_WOKEN);
    expect([b.crowdedParks, gate.looks]).toEqual([1, 1]);
    expect(word.calls).toEqual(['prepare', 'sleep 40']);
    expect(gate.log).toEqual(['parked', 'awake']);
    // The gate opens: the policy's polls are spun again, then it parks.
    gate.allow = true;
    for (let i = 0; i < 1000; i++) expect(b.idle(word, never)).toBe(IDLE_SPUN);
    expect(b.idle(word, never)).toBe(IDLE_WOKEN);
    expect([b.crowdedParks, word.calls.length, gate.log.length]).toEqual([1, 4, 4]);
  });

  it('looks at the gate every 64 polls of a spin, so a gate that closes ends the spin at the next look', () => {
    const gate = new ScriptedGate();
    const word = new ScriptedWord();
    const b = new Backoff({ spins: 1000, parkMs: 1, maxParkMs: 1 }, gate);
    for (let i = 0; i < 10; i++) expect(b.idle(word, never)).toBe(IDLE_SPUN);
    gate.allow = false;
    let spun = 10;
    while (b.idle(word, never) === IDLE_SPUN) spun++;
    expect(spun).toBe(64);
    expect([gate.looks, b.crowdedParks]).toEqual([2, 1]);
  });

  it('a re-check that finds work announces nothing to the gate', () => {
    const gate = new ScriptedGate();
    gate.allow = false;
    const word = new ScriptedWord();
    const b = new Backoff({ spins: 5, parkMs: 1, maxParkMs: 1 }, gate);
    expect(b.idle(word, always)).toBe(IDLE_RECHECK_FOUND_WORK);
    expect(gate.log).toEqual([]);
    expect(word.calls).toEqual(['prepare', 'cancel']);
  });

  it('never stops a never-parking policy, and never asks the gate', () => {
    const gate = new ScriptedGate();
    gate.allow = false;
    const word = new ScriptedWord();
    const b = new Backoff({ spins: Infinity, parkMs: 1, maxParkMs: 1 }, gate);
    for (let i = 0; i < 1000; i++) expect(b.idle(word, never)).toBe(IDLE_SPUN);
    expect([b.crowdedParks, gate.looks, word.calls.length]).toEqual([0, 0, 0]);
  });
});

describe('SequenceWord', () => {
  it('samples the counter and parks through the given wait only while it is unchanged', () => {
    const view = new Int32Array(new SharedArrayBuffer(16));
    const waits: number[][] = [];
    const word = new SequenceWord(view, 2, (v, index, expected, timeoutMs) => {
      waits.push([index, expected, timeoutMs]);
      return Atomics.wait(v, index, expected, timeoutMs);
    });
    Atomics.store(view, 2, 7);
    const seq = word.prepareSleep();
    expect(seq).toBe(7);
    word.cancelSleep();
    // An event after the sample: the park returns at once instead of sleeping a minute.
    Atomics.add(view, 2, 1);
    expect(word.sleep(seq, 60_000)).toBe('not-equal');
    expect(word.sleep(8, 0)).toBe('timed-out');
    expect(waits).toEqual([[2, 7, 60_000], [2, 8, 0]]);
  });

  it('defaults to Atomics.wait on the word', () => {
    const view = new Int32Array(new SharedArrayBuffer(8));
    const word = new SequenceWord(view, 1);
    expect(word.sleep(word.prepareSleep() + 1, 60_000)).toBe('not-equal');
    expect(word.sleep(word.prepareSleep(), 0)).toBe('timed-out');
  });
});
