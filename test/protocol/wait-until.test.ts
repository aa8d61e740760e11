/**
 * waitUntil, the main thread's form of the one wait: the condition is checked at once and
 * after every park; a park on a word ends on its notify (from any thread) or when the word
 * moved since the sample; without a word each park is a timer. Deadlines, aborts and a
 * throwing condition end it with codes. Parks here are minutes long wherever the test needs a
 * wake to arrive: a lost wake fails the test at its deadline instead of passing by a timeout.
 */
import fc from 'fast-check';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { EpdmaError } from '../../dist/device/errors.js';
import { waitUntil } from '../../dist/protocol/wait-until.js';
import { runFixture } from '../support/run-fixture.js';
import { within } from '../support/wait.js';

/** Parks long enough that only a wake can end them within a test's deadline. */
const WAKE_ONLY = { spins: 0, parkMs: 600_000, maxParkMs: 600_000 };

function word(): { view: Int32Array; index: number } {
  return { view: new Int32Array(new SharedArrayBuffer(16)), index: 1 };
}

async function rejection(p: Promise<unknown>): Promise<EpdmaError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(EpdmaError);
  return err as EpdmaError;
}

describe('waitUntil', () => {
  it('resolves without parking when the condition already holds', async () => {
    let checks = 0;
    await waitUntil(() => ++checks > 0, WAKE_ONLY, { word: word(), timeoutMs: 0, what: 'ready at once' });
    expect(checks).toBe(1);
  });

  it('a notify from another thread ends the park; the condition is checked again', async () => {
    const w = word();
    // Atomics.wait in the worker until the main thread made its first check, then store and notify.
    const worker = new Worker(
      `const { workerData: { sab, index } } = require('node:worker_threads');
       const v = new Int32Array(sab);
       Atomics.wait(v, 0, 0);
       Atomics.store(v, index, 42);
       Atomics.notify(v, index);`,
      { eval: true, workerData: { sab: w.view.buffer, index: w.index } },
    );
    try {
      let checks = 0;
      const ready = (): boolean => {
        const stored = Atomics.load(w.view, w.index) === 42;
        if (++checks === 1) {
          Atomics.store(w.view, 0, 1);
          Atomics.notify(w.view, 0);
        }
        return stored;
      };
      await within(waitUntil(ready, WAKE_ONLY, { word: w, timeoutMs: 600_000, what: 'the worker' }), 'the wake from the worker');
      // Woken (or the word had moved before the park): one more check, never a spin.
      expect(checks).toBe(2);
    } finally {
      await worker.terminate();
    }
  });

  it('samples the word before the check: a change in between ends the park at once', async () => {
    const w = word();
    let checks = 0;
    // The "other side" moves the word while the condition is being checked (and does not notify).
    const ready = (): boolean => {
      Atomics.add(w.view, w.index, 1);
      return ++checks === 3;
    };
    await within(waitUntil(ready, WAKE_ONLY, { word: w, timeoutMs: 600_000, what: 'moved word' }), 'a wait whose word moved during the check');
    expect(checks).toBe(3);
  });

  it('resolves exactly at the first check that holds (property, word moving every check)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 30 }), async (k) => {
        const w = word();
        let checks = 0;
        const ready = (): boolean => {
          Atomics.add(w.view, w.index, 1);
          return ++checks === k;
        };
        await waitUntil(ready, WAKE_ONLY, { word: w, timeoutMs: 600_000, what: 'property' });
        expect(checks).toBe(k);
      }),
      { numRuns: 50 },
    );
  });

  it('without a word every park is a timer (a register: nothing wakes its reader)', async () => {
    let checks = 0;
    await within(waitUntil(() => ++checks === 5, { spins: 0, parkMs: 1, maxParkMs: 2 }, { timeoutMs: 600_000, what: 'register' }), 'five polls');
    expect(checks).toBe(5);
  });

  it('ETIMEDOUT names the wait, after one last check at the deadline', async () => {
    let checks = 0;
    const err = await rejection(waitUntil(() => (checks++, false), { spins: 0, parkMs: 2, maxParkMs: 2 }, { word: word(), timeoutMs: 10, what: 'the never word' }));
    expect(err.code).toBe('ETIMEDOUT');
    expect(err.message).toBe('ETIMEDOUT: the never word: not within 10 ms');
    expect(checks).toBeGreaterThanOrEqual(2);
  });

  it('an abort ends a park with ESHUTDOWN; an aborted signal does not even check', async () => {
    const ac = new AbortController();
    let checks = 0;
    const p = waitUntil(() => {
      checks++;
      queueMicrotask(() => ac.abort());
      return false;
    }, WAKE_ONLY, { word: word(), timeoutMs: 600_000, signal: ac.signal, what: 'aborted wait' });
    const err = await within(rejection(p), 'the abort');
    expect(err.message).toBe('ESHUTDOWN: aborted wait: aborted');
    expect(checks).toBe(1);
    checks = 0;
    await expect(waitUntil(() => (checks++, true), WAKE_ONLY, { timeoutMs: 1, signal: ac.signal, what: 'pre-aborted' })).rejects.toMatchObject({ code: 'ESHUTDOWN' });
    expect(checks).toBe(0);
  });

  it('a condition that throws ends the wait with its error', async () => {
    const gone = new EpdmaError('ESHUTDOWN', 'the other side is gone');
    let checks = 0;
    const ready = (): boolean => {
      if (++checks === 3) throw gone;
      return false;
    };
    const w = word();
    const mover = (): boolean => {
      Atomics.add(w.view, w.index, 1);
      return ready();
    };
    await expect(waitUntil(mover, WAKE_ONLY, { word: w, timeoutMs: 600_000, what: 'throwing' })).rejects.toBe(gone);
    expect(checks).toBe(3);
  });

  it('refuses a spinning policy and a timeout that is not a duration (EINVAL, naming the value)', async () => {
    await expect(waitUntil(() => true, { spins: 10, parkMs: 1, maxParkMs: 1 }, { timeoutMs: 1, what: 'spinner' })).rejects.toThrow(/^EINVAL: spinner: a main-thread wait cannot spin \(policy spins 10\)$/);
    await expect(waitUntil(() => true, WAKE_ONLY, { timeoutMs: Number.NaN, what: 'nan' })).rejects.toThrow(/^EINVAL: nan: timeoutMs NaN/);
  });

  it('keeps a program alive while it waits (Atomics.waitAsync alone would let it exit)', async () => {
    const r = await runFixture('wait-until-alive.mjs', [], [], 60_000);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('checks 4\n');
    expect(r.code).toBe(0);
  });
});
