import { afterEach, describe, expect, it } from 'vitest';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { SubmissionRing } from '../../dist/protocol/submission-ring.js';
import {
  IDLE_RECHECK_FOUND_WORK,
  IDLE_SPUN,
  IDLE_TIMED_OUT,
  IDLE_WOKEN,
  IdleBackoff,
  KickWord,
  type IdleBackoffOptions,
} from '../../dist/protocol/kick-word.js';

const FIXTURE = new URL('../fixtures/ring-kick-consumer.mjs', import.meta.url);
// progress words shared with the fixture
const CONSUMED = 0;
const STOP = 1;
const ERRORS = 2;
const WAKEUPS = 3;
const TIMEOUTS = 4;
// The worker's sleep timeout is far beyond this deadline, so a lost wakeup cannot be rescued
// by a timeout: it shows as a stall, and a stall fails the test.
const WORKER_SLEEP_MS = 120_000;
const STALL_DEADLINE_MS = 10_000;

const never = (): boolean => false;

describe('KickWord', () => {
  it('does not touch kickSeq or notify while the worker is awake', () => {
    const kick = KickWord.create();
    for (let i = 0; i < 10; i++) kick.kick();
    expect(kick.kickSeq()).toBe(0);
    expect(kick.notifies).toBe(0);
    expect(kick.isSleeping()).toBe(false);
  });

  it('turns a kick between prepareSleep and sleep into an immediate return', () => {
    const kick = KickWord.create();
    const seq = kick.prepareSleep();
    expect(kick.isSleeping()).toBe(true);
    kick.kick();
    expect(kick.kickSeq()).toBe(seq + 1);
    expect(kick.notifies).toBe(1);
    expect(kick.sleep(seq, WORKER_SLEEP_MS)).toBe('not-equal');
    expect(kick.isSleeping()).toBe(false);
  });

  it('cancelSleep keeps the producer from notifying', () => {
    const kick = KickWord.create();
    kick.prepareSleep();
    kick.cancelSleep();
    kick.kick();
    expect(kick.notifies).toBe(0);
  });

  it('attaches to a word inside a larger shared block and checks its alignment', () => {
    const sab = new SharedArrayBuffer(256);
    const a = new KickWord(sab, 64);
    const b = new KickWord(sab, 128);
    const seq = a.prepareSleep();
    b.kick();
    expect(b.notifies).toBe(0);
    a.kick();
    expect(new KickWord(sab, 64).kickSeq()).toBe(seq + 1);
    expect(() => new KickWord(sab, 2)).toThrow(/EINVAL: kick word: byteOffset 2/);
    expect(() => new KickWord(sab, 252)).toThrow(/byteOffset 252/);
  });
});

describe('IdleBackoff', () => {
  it("'spin' never announces a sleep", () => {
    const idle = new IdleBackoff({ policy: 'spin' });
    const kick = KickWord.create();
    for (let i = 0; i < 5000; i++) expect(idle.onIdle(kick, never)).toBe(IDLE_SPUN);
    expect(kick.isSleeping()).toBe(false);
  });

  it("'adaptive' spins spinIterations polls, then re-checks before sleeping", () => {
    const idle = new IdleBackoff({ policy: 'adaptive', spinIterations: 3 });
    const kick = KickWord.create();
    let rechecks = 0;
    const workArrived = (): boolean => {
      rechecks++;
      return true;
    };
    for (let i = 0; i < 3; i++) expect(idle.onIdle(kick, workArrived)).toBe(IDLE_SPUN);
    expect(rechecks).toBe(0);
    expect(idle.onIdle(kick, workArrived)).toBe(IDLE_RECHECK_FOUND_WORK);
    expect(rechecks).toBe(1);
    expect(kick.isSleeping()).toBe(false);
    // Work found: the spin budget starts over.
    expect(idle.onIdle(kick, workArrived)).toBe(IDLE_SPUN);
  });

  it("'sleep' waits at once, a pending kick ends the wait, and timeouts double up to the cap", () => {
    const idle = new IdleBackoff({ policy: 'sleep', sleepMs: 1, maxSleepMs: 4 });
    const kick = KickWord.create();
    const kickWhileChecking = (): boolean => {
      kick.kick();
      return false;
    };
    expect(idle.onIdle(kick, kickWhileChecking)).toBe(IDLE_WOKEN);
    expect(idle.wakeups).toBe(1);
    const ladder: number[] = [];
    for (let i = 0; i < 4; i++) {
      ladder.push(idle.currentSleepMs);
      expect(idle.onIdle(kick, never)).toBe(IDLE_TIMED_OUT);
    }
    expect(ladder).toEqual([1, 2, 4, 4]);
    expect(idle.timeouts).toBe(4);
    idle.onWork();
    expect(idle.currentSleepMs).toBe(1);
  });

  it('rejects options it cannot honour', () => {
    expect(() => new IdleBackoff({ policy: 'busy' as never })).toThrow(/EINVAL: idle policy: 'busy'/);
    expect(() => new IdleBackoff({ spinIterations: -1 })).toThrow(/spinIterations -1/);
    expect(() => new IdleBackoff({ sleepMs: 0 })).toThrow(/sleepMs 0/);
  });
});

describe('kick/sleep with a real channel worker', () => {
  let worker: Worker | undefined;

  afterEach(async () => {
    await worker?.terminate();
    worker = undefined;
  });

  async function stress(idleOptions: IdleBackoffOptions, bursts: number) {
    const ring = SubmissionRing.create(64);
    const kick = KickWord.create();
    const progress = new Int32Array(new SharedArrayBuffer(64));
    worker = new Worker(FIXTURE, {
      workerData: { ring: ring.buffer, kick: kick.buffer, progress: progress.buffer, idle: idleOptions },
    });
    const exited = once(worker, 'exit');

    const waitConsumed = async (target: number, what: string): Promise<void> => {
      for (;;) {
        const seen = Atomics.load(progress, CONSUMED);
        if (seen >= target) return;
        const wait = Atomics.waitAsync(progress, CONSUMED, seen, STALL_DEADLINE_MS);
        const outcome = wait.async ? await wait.value : wait.value;
        if (outcome === 'timed-out') {
          throw new Error(`${what}: the worker stalled with ${seen} of ${target} descriptors consumed`);
        }
      }
    };

    const addrs = [0, 0, 0];
    const lengths = [1, 2, 3];
    let cookie = 1;
    let random = 12345;
    // Busy-waits 0..~2 us, so issues land at every phase of the worker's way into sleep
    // (the window between its last empty poll and `sleeping = 1` is tens of nanoseconds).
    const jitter = (): void => {
      random = (random * 1103515245 + 12345) >>> 0;
      for (let i = random >>> 22; i > 0; i--) Atomics.load(progress, STOP);
    };
    for (let b = 0; b < bursts; b++) {
      // One burst = a few issuePending() calls, each of one or two descriptors and one kick.
      const issuesInBurst = 1 + ((b * 7) % 4);
      for (let i = 0; i < issuesInBurst; i++) {
        const count = 1 + ((b + i) % 2);
        for (let d = 0; d < count; d++) {
          const nseg = 1 + (cookie % 3);
          for (let k = 0; k < nseg; k++) addrs[k] = cookie * 0x1000 + k;
          while (ring.pushSg(cookie, 0, cookie * 2, addrs, lengths, nseg) === -1) {
            kick.kick();
            await waitConsumed(Atomics.load(progress, CONSUMED) + 1, `burst ${b} (ring full)`);
          }
          cookie++;
        }
        kick.kick();
        jitter();
      }
      // The last kick of a burst has no later kick to rescue it: if it were lost, this stalls.
      if (b % 8 !== 7) await waitConsumed(cookie - 1, `burst ${b}`);
    }
    await waitConsumed(cookie - 1, 'last burst');
    Atomics.store(progress, STOP, 1);
    kick.kick();
    await exited;
    worker = undefined;
    return {
      consumed: Atomics.load(progress, CONSUMED),
      submitted: cookie - 1,
      errors: Atomics.load(progress, ERRORS),
      wakeups: Atomics.load(progress, WAKEUPS),
      timeouts: Atomics.load(progress, TIMEOUTS),
      notifies: kick.notifies,
    };
  }

  it("never loses a wakeup when the worker sleeps as soon as it is idle ('sleep')", async () => {
    const r = await stress({ policy: 'sleep', sleepMs: WORKER_SLEEP_MS, maxSleepMs: WORKER_SLEEP_MS }, 4000);
    expect(r.errors).toBe(0);
    expect(r.consumed).toBe(r.submitted);
    expect(r.timeouts).toBe(0);
    // The worker really slept and kicks woke it.
    expect(r.notifies).toBeGreaterThan(0);
    expect(r.wakeups).toBeGreaterThan(0);
  });

  it("never loses a wakeup when the worker spins briefly first ('adaptive')", async () => {
    const r = await stress(
      { policy: 'adaptive', spinIterations: 64, sleepMs: WORKER_SLEEP_MS, maxSleepMs: WORKER_SLEEP_MS },
      4000,
    );
    expect(r.errors).toBe(0);
    expect(r.consumed).toBe(r.submitted);
    expect(r.timeouts).toBe(0);
    expect(r.notifies).toBeGreaterThan(0);
  });

  it('delivers every descriptor in order with the default adaptive policy', async () => {
    const r = await stress({}, 1500);
    expect(r.errors).toBe(0);
    expect(r.consumed).toBe(r.submitted);
  });
});
