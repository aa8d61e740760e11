/**
 * CoreBudget: how many channel workers run at once, how a waiting worker is handed a core,
 * and the spin gate. Several budgets on one buffer stand for several workers; the handoff
 * protocol is checked step by step, then with real threads that count what they did.
 */
import fc from 'fast-check';
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CoreBudget, CoreWaiters, TURN_MS } from '../../dist/protocol/core-budget.js';
import { Backoff, IDLE_RECHECK_FOUND_WORK, IDLE_WOKEN } from '../../dist/protocol/backoff.js';

const budgetBuffer = (threads: number): SharedArrayBuffer => new SharedArrayBuffer(CoreBudget.bytes(threads));

describe('CoreBudget', () => {
  it('lets at most `cap` workers run; a release frees the core for the next', () => {
    const sab = budgetBuffer(4);
    const [a, b, c] = [0, 1, 2].map((slot) => new CoreBudget(sab, slot, 2));
    expect([a!.tryRun(), b!.tryRun(), c!.tryRun()]).toEqual([true, true, false]);
    expect([a!.running, b!.running, c!.running]).toEqual([true, true, false]);
    // Asking again while running keeps the core, it does not take a second one.
    expect(a!.tryRun()).toBe(true);
    expect(c!.tryRun()).toBe(false);
    a!.release();
    expect([a!.running, c!.tryRun()]).toEqual([false, true]);
    expect(a!.tryRun()).toBe(false);
    expect(a!.overruns + b!.overruns + c!.overruns).toBe(0);
  });

  it('a waiter runs past the cap only after a turn of every slot: starveMs, its park timeout', () => {
    vi.useFakeTimers({ toFake: ['performance'] });
    try {
      const sab = budgetBuffer(8);
      const holder = new CoreBudget(sab, 0, 1);
      const waiter = new CoreBudget(sab, 7, 1);
      expect(waiter.starveMs).toBe(8 * TURN_MS);
      expect(waiter.waitPolicy).toEqual({ spins: 0, parkMs: 8 * TURN_MS, maxParkMs: 8 * TURN_MS });
      expect(new CoreBudget(budgetBuffer(3), 2, 1).starveMs).toBe(3 * TURN_MS);
      expect(holder.tryRun()).toBe(true);
      // The wait counts from the first refusal.
      expect(waiter.tryRun()).toBe(false);
      vi.advanceTimersByTime(8 * TURN_MS - 1);
      expect(waiter.tryRun()).toBe(false);
      vi.advanceTimersByTime(1);
      expect([waiter.tryRun(), waiter.overruns, holder.running]).toEqual([true, 1, true]);
      // Released and refused again, it waits a whole bound anew.
      waiter.release();
      expect(waiter.tryRun()).toBe(false);
      vi.advanceTimersByTime(8 * TURN_MS - 1);
      expect(waiter.tryRun()).toBe(false);
      expect(waiter.overruns).toBe(1);
    } finally {
      vi.useRealTimers();
    }
  });

  it('a release wakes a waiter only when one announced itself: the handoff count says so', () => {
    const sab = budgetBuffer(2);
    const holder = new CoreBudget(sab, 0, 1);
    const waiter = new CoreBudget(sab, 1, 1);
    expect(holder.tryRun()).toBe(true);
    const quiet = waiter.prepareSleep();
    waiter.cancelSleep();
    holder.release();
    // Nobody waited: no handoff.
    expect(waiter.prepareSleep()).toBe(quiet);
    expect(holder.othersWaiting()).toBe(true);
    expect(holder.tryRun()).toBe(true);
    holder.release();
    // Announced, so the release handed the core off: a wait on the old sample returns at once.
    expect(waiter.sleep(quiet, 60_000)).toBe('not-equal');
    expect(holder.othersWaiting()).toBe(false);
  });

  it('a waiter that re-checks after announcing never misses a core freed in between', () => {
    // Any interleaving of the holder's release with the waiter's announce/re-check/sleep: the
    // waiter either takes the core in its re-check or its sleep returns without blocking.
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 3 }), (releaseAt) => {
        const sab = budgetBuffer(2);
        const holder = new CoreBudget(sab, 0, 1);
        const waiter = new CoreBudget(sab, 1, 1);
        holder.tryRun();
        if (releaseAt === 0) holder.release();
        const seq = waiter.prepareSleep();
        if (releaseAt === 1) holder.release();
        const took = waiter.tryRun();
        if (releaseAt === 2) holder.release();
        if (took) {
          waiter.cancelSleep();
          return releaseAt <= 1;
        }
        if (releaseAt === 3) holder.release();
        expect(waiter.sleep(seq, 60_000)).toBe('not-equal');
        expect(waiter.tryRun()).toBe(true);
        return releaseAt >= 2;
      }),
    );
  });

  it('waits through its waitPolicy (as the channel worker does): takes a free core in the re-check, and is woken by a yield', () => {
    const sab = budgetBuffer(2);
    const holder = new CoreBudget(sab, 0, 1);
    const waiter = new CoreBudget(sab, 1, 1);
    const wait = new Backoff(waiter.waitPolicy);
    const take = (): boolean => waiter.tryRun();
    expect(wait.idle(waiter, take)).toBe(IDLE_RECHECK_FOUND_WORK);
    waiter.release();
    holder.tryRun();
    // The holder yields between the waiter's announcement and its sleep: the sleep returns.
    const word = {
      prepareSleep: () => waiter.prepareSleep(),
      cancelSleep: () => waiter.cancelSleep(),
      sleep: (seq: number, ms: number) => {
        holder.yieldToWaiter();
        return waiter.sleep(seq, ms);
      },
    };
    expect(wait.idle(word, () => false)).toBe(IDLE_WOKEN);
    expect([holder.yields, waiter.waits, waiter.tryRun()]).toEqual([1, 1, true]);
  });

  it('a restarted worker clears what its crashed predecessor held and announced, and wakes the waiters', () => {
    const sab = budgetBuffer(3);
    const crashed = new CoreBudget(sab, 0, 1);
    crashed.tryRun();
    crashed.prepareSleep();
    const other = new CoreBudget(sab, 1, 1);
    expect(other.tryRun()).toBe(false);
    const seq = other.prepareSleep();
    const restarted = new CoreBudget(sab, 0, 1);
    // The waiter's sample is stale: its park returns at once instead of at the timeout.
    expect(other.sleep(seq, 60_000)).toBe('not-equal');
    expect(other.othersWaiting()).toBe(false);
    expect(other.tryRun()).toBe(true);
    expect(restarted.awakeCount()).toBe(2);
  });

  it('a worker starting in a slot that held no core hands nothing off', () => {
    const sab = budgetBuffer(3);
    const holder = new CoreBudget(sab, 1, 1);
    holder.tryRun();
    const waiter = new CoreBudget(sab, 2, 1);
    const seq = waiter.prepareSleep();
    new CoreBudget(sab, 0, 1);
    expect(waiter.prepareSleep()).toBe(seq);
    expect(holder.running).toBe(true);
  });

  it('CoreWaiters.rouse wakes every waiter, each from its own sample', () => {
    const sab = budgetBuffer(3);
    const holder = new CoreBudget(sab, 0, 1);
    const [a, b] = [1, 2].map((slot) => new CoreBudget(sab, slot, 1));
    holder.tryRun();
    const seqA = a!.prepareSleep();
    const seqB = b!.prepareSleep();
    new CoreWaiters(sab).rouse();
    expect([a!.sleep(seqA, 60_000), b!.sleep(seqB, 60_000)]).toEqual(['not-equal', 'not-equal']);
    // Roused, not handed a core: the holder still holds it.
    expect([a!.tryRun(), b!.tryRun(), holder.running]).toEqual([false, false, true]);
    expect(() => new CoreWaiters(new SharedArrayBuffer(8))).toThrow(/EINVAL: core budget: a buffer of 8 bytes holds no budget/);
  });

  it('counts the workers awake for the spin gate, one word each', () => {
    const sab = budgetBuffer(4);
    const a = new CoreBudget(sab, 0, 1);
    expect([a.awakeCount(), a.allowsSpin()]).toEqual([1, true]);
    const b = new CoreBudget(sab, 3, 1);
    expect([a.awakeCount(), a.allowsSpin(), b.allowsSpin()]).toEqual([2, false, false]);
    b.parked();
    expect([a.awakeCount(), a.allowsSpin()]).toEqual([1, true]);
  });

  it('forbids spinning while a worker waits for a core', () => {
    const sab = budgetBuffer(3);
    const idle = new CoreBudget(sab, 0, 2);
    const holder = new CoreBudget(sab, 1, 2);
    const waiter = new CoreBudget(sab, 2, 2);
    holder.parked();
    waiter.parked();
    expect(idle.allowsSpin()).toBe(true);
    // Announced and parked (not awake): the idle worker would spin on the CPU the waiter is
    // about to be handed, so it parks instead.
    const seq = waiter.prepareSleep();
    expect([idle.awakeCount(), idle.allowsSpin(), idle.othersWaiting()]).toEqual([1, false, true]);
    waiter.cancelSleep();
    expect([idle.allowsSpin(), idle.othersWaiting()]).toEqual([true, false]);
    expect(seq).toBe(waiter.prepareSleep());
    waiter.cancelSleep();
  });

  it('rejects a slot, cap or size it cannot honour, naming the value', () => {
    expect(() => new CoreBudget(budgetBuffer(2), 2, 1)).toThrow(/EINVAL: core budget: slot 2 outside 0\.\.1/);
    expect(() => new CoreBudget(budgetBuffer(2), -1, 1)).toThrow(/slot -1/);
    expect(() => new CoreBudget(budgetBuffer(2), 0, 0)).toThrow(/EINVAL: core budget: cap 0 is not a count of cores/);
    expect(() => new CoreBudget(new SharedArrayBuffer(8), 0, 1)).toThrow(/a buffer of 8 bytes holds no budget/);
    expect(() => CoreBudget.bytes(32)).toThrow(/EINVAL: core budget: 32 threads outside 1\.\.31/);
  });
});

describe('CoreBudget across threads', () => {
  const workers: Worker[] = [];
  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.terminate()));
  });

  it('never runs more than `cap` workers at once, and every worker gets its turns', async () => {
    const THREADS = 6;
    const CAP = 2;
    const TURNS = 40;
    const sab = budgetBuffer(THREADS);
    // [0] running now, [1] most ever running at once, [2 + i] turns worker i finished.
    const stats = new Int32Array(new SharedArrayBuffer(4 * (2 + THREADS)));
    const source = `
      const { workerData, parentPort } = require('node:worker_threads');
      import(workerData.budgetUrl).then(({ CoreBudget }) => import(workerData.backoffUrl).then(({ Backoff }) => {
        const { sab, slot, cap, stats, turns } = workerData;
        const s = new Int32Array(stats);
        const budget = new CoreBudget(sab, slot, cap);
        const wait = new Backoff(budget.waitPolicy);
        const take = () => budget.tryRun();
        for (let t = 0; t < turns; t++) {
          while (!budget.tryRun()) wait.idle(budget, take);
          const now = Atomics.add(s, 0, 1) + 1;
          for (let seen = Atomics.load(s, 1); now > seen && Atomics.compareExchange(s, 1, seen, now) !== seen; seen = Atomics.load(s, 1));
          // A turn: some work while holding the core, then give it up.
          let x = 0;
          for (let k = 0; k < 20000; k++) x += k;
          Atomics.sub(s, 0, 1);
          Atomics.add(s, 2 + slot, 1);
          budget.release();
        }
        parentPort.postMessage({ overruns: budget.overruns, waits: budget.waits });
      }));
    `;
    const done = Array.from({ length: THREADS }, (_, slot) => new Promise<{ overruns: number; waits: number }>((resolve, reject) => {
      const w = new Worker(source, {
        eval: true,
        workerData: {
          sab, slot, cap: CAP, stats: stats.buffer, turns: TURNS,
          budgetUrl: new URL('../../dist/protocol/core-budget.js', import.meta.url).href,
          backoffUrl: new URL('../../dist/protocol/backoff.js', import.meta.url).href,
        },
      });
      workers.push(w);
      w.once('message', resolve);
      w.once('error', reject);
    }));
    const results = await Promise.all(done);
    for (let i = 0; i < THREADS; i++) expect(Atomics.load(stats, 2 + i)).toBe(TURNS);
    const overruns = results.reduce((n, r) => n + r.overruns, 0);
    // Only a worker starved for starveMs may exceed the cap; without one, the cap held.
    if (overruns === 0) expect(Atomics.load(stats, 1)).toBeLessThanOrEqual(CAP);
    expect(Atomics.load(stats, 1)).toBeGreaterThanOrEqual(1);
    expect(Atomics.load(stats, 0)).toBe(0);
  });

  it('a rouse wakes every worker parked for a core, long before its park would time out', async () => {
    const sab = budgetBuffer(3);
    const observer = new CoreBudget(sab, 0, 1);
    observer.tryRun();
    const source = `
      const { workerData, parentPort } = require('node:worker_threads');
      import(workerData.budgetUrl).then(({ CoreBudget }) => import(workerData.backoffUrl).then(({ Backoff }) => {
        const budget = new CoreBudget(workerData.sab, workerData.slot, 1);
        // A park that only a wake can end within the test's time.
        const wait = new Backoff({ spins: 0, parkMs: 600000, maxParkMs: 600000 });
        parentPort.postMessage(wait.idle(budget, () => budget.tryRun()));
      }));
    `;
    const outcomes = [1, 2].map((slot) => new Promise<number>((resolve, reject) => {
      const w = new Worker(source, {
        eval: true,
        workerData: {
          sab, slot,
          budgetUrl: new URL('../../dist/protocol/core-budget.js', import.meta.url).href,
          backoffUrl: new URL('../../dist/protocol/backoff.js', import.meta.url).href,
        },
      });
      workers.push(w);
      w.once('message', resolve);
      w.once('error', reject);
    }));
    // Both announced their wait (the WAITING mask after the three slot flags and RUNNING) and
    // are parked, or about to be: the rouse's bump covers that.
    const words = new Int32Array(sab);
    await expect.poll(() => [Atomics.load(words, 4), observer.awakeCount()], { timeout: 20_000 }).toEqual([0b110, 1]);
    new CoreWaiters(sab).rouse();
    expect(await Promise.all(outcomes)).toEqual([IDLE_WOKEN, IDLE_WOKEN]);
    expect(observer.running).toBe(true);
  });
});
