/**
 * DoorbellListener, the one listener loop of the main thread (the completion pump and the NTB
 * ports are passes on it): the first pass runs at start, a pass that found nothing parks on the
 * word until a ring, a ring between the sample and the park is never slept on, a busy pass
 * yields and looks again, a throwing pass is reported and the loop goes on, and stop() ends a
 * parked loop. Parks have no timeout here unless the test is about the timeout: a lost wake
 * fails at the test's deadline.
 */
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { DoorbellListener } from '../../dist/protocol/doorbell-listener.js';
import { BACKOFF } from '../../dist/protocol/backoff.js';
import { waitFor, within } from '../support/wait.js';

const SEQ = 0;
const NEWS = 1;
const PARKED = 2;

/** A doorbell word plus a news counter: ring() adds news, bumps and notifies. */
function doorbell() {
  const view = new Int32Array(new SharedArrayBuffer(12));
  return {
    view,
    word: { view, index: SEQ },
    ring(n = 1): void {
      Atomics.add(view, NEWS, n);
      Atomics.add(view, SEQ, 1);
      Atomics.notify(view, SEQ);
    },
    /** A pass that takes every news item and records how many it took. */
    taker(taken: number[]): () => boolean {
      return () => {
        const n = Atomics.exchange(view, NEWS, 0);
        if (n === 0) return false;
        taken.push(n);
        return true;
      };
    },
  };
}

const listeners: DoorbellListener[] = [];
afterEach(async () => {
  await Promise.all(listeners.splice(0).map((l) => l.stop()));
});

function listen(...args: ConstructorParameters<typeof DoorbellListener>): DoorbellListener {
  const l = new DoorbellListener(...args);
  listeners.push(l);
  return l;
}

const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);

describe('DoorbellListener', () => {
  it('makes its first pass inside start(): news rung before start is not lost', () => {
    const db = doorbell();
    const taken: number[] = [];
    db.ring(3);
    const l = listen(db.word, db.taker(taken));
    l.start();
    expect(taken).toEqual([3]);
    expect(l.passes).toBe(1);
    expect(l.running).toBe(true);
  });

  it('parks only after a pass that found nothing, and a ring from another thread wakes it', async () => {
    const db = doorbell();
    const taken: number[] = [];
    const l = listen(db.word, db.taker(taken));
    l.start();
    expect(l.parks).toBe(1); // nothing pending: parked at once
    const worker = new Worker(
      `const { workerData: { sab } } = require('node:worker_threads');
       const v = new Int32Array(sab);
       for (let i = 0; i < 50; i++) { Atomics.add(v, 1, 1); Atomics.add(v, 0, 1); Atomics.notify(v, 0); }`,
      { eval: true, workerData: { sab: db.view.buffer } },
    );
    try {
      await waitFor(() => sum(taken) === 50, 'every ring from the worker');
    } finally {
      await worker.terminate();
    }
    // With the rings over, a pass finds nothing and the listener parks again: the passes are
    // the busy ones plus at least the first and the last empty one.
    await waitFor(() => l.parks >= 2, 'the listener to park again');
    expect(l.passes).toBeGreaterThanOrEqual(taken.length + 2);
    expect(sum(taken)).toBe(50);
  });

  it('a ring that lands during an empty pass ends the park at once (sampled before the pass)', async () => {
    const db = doorbell();
    const taken: number[] = [];
    let armed = false;
    const take = db.taker(taken);
    const l = listen(db.word, () => {
      const found = take();
      // The other side publishes right after this pass looked, without the pass seeing it.
      if (armed && !found) {
        armed = false;
        db.ring(7);
      }
      return found;
    });
    l.start();
    armed = true;
    db.ring(0); // wakes the listener for an empty pass, which then races the ring of 7
    await within(waitFor(() => sum(taken) === 7, 'the news rung during the pass (lost if this times out)'), 'the ring during the pass');
    expect(armed).toBe(false);
    expect(taken).toEqual([7]);
  });

  it('a busy pass yields a macrotask and looks again until the doorbell is empty', async () => {
    const db = doorbell();
    let left = 5;
    let timerRan = false;
    const l = listen(db.word, () => {
      if (left === 0) return false;
      left--;
      return true;
    });
    setTimeout(() => (timerRan = true), 0);
    l.start();
    await waitFor(() => left === 0 && l.parks === 1, 'every busy pass, then a park');
    expect(l.passes).toBe(6);
    expect(timerRan).toBe(true);
  });

  it('reports a throwing pass and keeps listening', async () => {
    const db = doorbell();
    const errors: unknown[] = [];
    const taken: number[] = [];
    const take = db.taker(taken);
    const l = listen(db.word, () => {
      const found = take();
      if (found && taken.length === 1) throw new Error('bad handler');
      return found;
    }, { onError: (e) => errors.push(e) });
    l.start();
    db.ring(1);
    await waitFor(() => errors.length === 1, 'the error');
    db.ring(2);
    await waitFor(() => sum(taken) === 3, 'the ring after the error');
    expect((errors[0] as Error).message).toBe('bad handler');
    expect(taken).toEqual([1, 2]);
  });

  it('stop() ends a parked loop; news rung after it waits on the doorbell for the next start', async () => {
    const db = doorbell();
    const taken: number[] = [];
    const l = listen(db.word, db.taker(taken));
    l.start();
    expect(l.parks).toBe(1);
    await within(l.stop(), 'stop while parked');
    expect(l.running).toBe(false);
    const passes = l.passes;
    db.ring(4);
    expect(Atomics.load(db.view, NEWS)).toBe(4);
    l.start();
    expect(taken).toEqual([4]);
    expect(l.passes).toBe(passes + 1);
    expect(await within(l.stop().then(() => 'stopped'), 'second stop')).toBe('stopped');
    // Stopping twice is the same stop.
    await within(l.stop(), 'stop again');
  });

  it('with a park timeout it looks again without a ring (another process rings: its notify cannot reach)', async () => {
    const db = doorbell();
    const taken: number[] = [];
    const l = listen(db.word, db.taker(taken), { parkTimeoutMs: 1 });
    l.start();
    // News arrives with no bump and no notify, as from another process.
    Atomics.add(db.view, NEWS, 9);
    await waitFor(() => sum(taken) === 9, 'the news found after a park timed out');
    expect(l.parks).toBeGreaterThanOrEqual(1);
  });

  it('while news is expected it polls BACKOFF.completionPoll.spins empty passes, one macrotask apart, then parks', async () => {
    const db = doorbell();
    const taken: number[] = [];
    let expecting = true;
    let timerRan = false;
    const l = listen(db.word, db.taker(taken), { expecting: () => expecting, parkedIndex: PARKED });
    setTimeout(() => (timerRan = true), 0);
    l.start();
    expect(l.parks).toBe(0);
    await waitFor(() => l.parks === 1, 'the park after the polls');
    expect(l.polls).toBe(BACKOFF.completionPoll.spins);
    expect(l.passes).toBe(BACKOFF.completionPoll.spins + 1);
    expect(timerRan).toBe(true); // the polls were macrotasks: timers ran between them
    // News during the polls is taken by the next poll; a busy pass restarts the count.
    db.ring(5);
    await waitFor(() => sum(taken) === 5 && l.parks === 2, 'the news, then the next park');
    expect(l.polls).toBe(2 * BACKOFF.completionPoll.spins);
    // Nothing expected: an empty pass parks at once.
    expecting = false;
    db.ring(1);
    await waitFor(() => sum(taken) === 6 && l.parks === 3, 'the news, then a park without polls');
    expect(l.polls).toBe(2 * BACKOFF.completionPoll.spins);
  });

  it('a ring that lands while a polling pass peeks runs the next pass at once, without a macrotask', async () => {
    const db = doorbell();
    const taken: number[] = [];
    const take = db.taker(taken);
    let calls = 0;
    // The first pass finds nothing, and news lands right after it looked (as a worker's
    // publish would, during the peek).
    const l = listen(db.word, () => {
      const busy = take();
      if (++calls === 1) db.ring(3);
      return busy;
    }, { expecting: () => sum(taken) < 3, parkedIndex: PARKED });
    l.start();
    // Both passes ran inside start(): the peek saw the ring, no Immediate was waited for.
    expect([l.passes, l.polls, taken]).toEqual([2, 1, [3]]);
    await waitFor(() => l.parks === 1, 'the park once nothing is expected');
    expect(sum(taken)).toBe(3);
  });

  it('raises the parked flag only while parked, so a ringer can skip its notify when it is down', async () => {
    const db = doorbell();
    const taken: number[] = [];
    const flagInPass: number[] = [];
    const take = db.taker(taken);
    const l = listen(db.word, () => {
      flagInPass.push(Atomics.load(db.view, PARKED));
      return take();
    }, { parkedIndex: PARKED });
    l.start();
    expect(l.parks).toBe(1);
    expect(Atomics.load(db.view, PARKED)).toBe(1);
    db.ring(2);
    await waitFor(() => sum(taken) === 2 && l.parks === 2, 'the news, then the next park');
    expect(Atomics.load(db.view, PARKED)).toBe(1);
    // Every pass ran with the flag down.
    expect(flagInPass.every((f) => f === 0)).toBe(true);
    await l.stop();
    expect(Atomics.load(db.view, PARKED)).toBe(0);
  });
});
