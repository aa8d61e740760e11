import { afterEach, describe, expect, it } from 'vitest';
import { Worker } from 'node:worker_threads';
import { CompletionRing } from '../../dist/protocol/completion-ring.js';
import { CompletionDoorbell, CompletionPump } from '../../dist/protocol/completion-doorbell.js';
import { waitFor, within } from '../support/wait.js';

const FIXTURE = new URL('../fixtures/ring-completion-producer.mjs', import.meta.url);
const STALL_DEADLINE_MS = 10_000;

function publish(ring: CompletionRing, doorbell: CompletionDoorbell, cookies: number[]): void {
  for (const c of cookies) expect(ring.push(c, 0, 0, 0, 0, c, 0)).toBe(true);
  ring.publish();
  doorbell.ring();
}

/** A visitor that records cookies, and a promise for the moment it has seen `count` of them. */
function collector(count: number) {
  const cookies: number[] = [];
  let done!: () => void;
  const reached = new Promise<void>((resolve) => (done = resolve));
  const visit = (ring: CompletionRing, slot: number): void => {
    cookies.push(ring.cookieAt(slot));
    if (cookies.length === count) done();
  };
  return { cookies, reached, visit };
}

/** Until the pump has parked in its wait `n` times (it waits only when a pass found nothing). */
const parked = (pump: CompletionPump, n: number): Promise<void> => waitFor(() => pump.waits >= n, `the pump parked (${n})`);

describe('CompletionDoorbell', () => {
  it('counts rings and lives inside a larger block at an aligned offset', () => {
    const sab = new SharedArrayBuffer(128);
    const a = new CompletionDoorbell(sab, 64);
    a.ring();
    a.ring();
    expect(new CompletionDoorbell(sab, 64).sample()).toBe(2);
    expect(new CompletionDoorbell(sab, 0).sample()).toBe(0);
    expect(() => new CompletionDoorbell(sab, 6)).toThrow(/EINVAL: completion doorbell: byteOffset 6/);
  });
});

describe('CompletionPump', () => {
  const pumps: CompletionPump[] = [];
  const workers: Worker[] = [];

  afterEach(async () => {
    await Promise.all(pumps.splice(0).map((p) => p.stop()));
    await Promise.all(workers.splice(0).map((w) => w.terminate()));
  });

  function newPump(doorbell = CompletionDoorbell.create(), onError?: (e: unknown, r: CompletionRing) => void) {
    const pump = new CompletionPump(doorbell, onError ? { onError } : {});
    pumps.push(pump);
    return pump;
  }

  it('delivers batches from several rings and stops promptly while parked in its wait', async () => {
    const pump = newPump();
    const a = CompletionRing.create(8);
    const b = CompletionRing.create(8);
    const ca = collector(5);
    const cb = collector(2);
    pump.add(a, ca.visit);
    pump.add(b, cb.visit);
    pump.start();
    await parked(pump, 1);
    publish(a, pump.doorbell, [1, 2, 3]);
    publish(b, pump.doorbell, [10, 11]);
    await waitFor(() => pump.drained === 5, 'the first batches');
    const waitsBefore = pump.waits;
    publish(a, pump.doorbell, [4, 5]);
    await within(Promise.all([ca.reached, cb.reached]), 'every batch');
    expect(ca.cookies).toEqual([1, 2, 3, 4, 5]);
    expect(cb.cookies).toEqual([10, 11]);
    expect(pump.drained).toBe(7);
    // Parked with nothing to do: stop() must end the loop, not leave it waiting.
    await parked(pump, waitsBefore + 1);
    expect(pump.running).toBe(true);
    await within(pump.stop(), 'stop while parked');
    expect(pump.running).toBe(false);
    // The loop has returned: a batch published now stays in the ring for the next start.
    publish(a, pump.doorbell, [6]);
    expect(a.available()).toBe(1);
    pump.start();
    await waitFor(() => ca.cookies.length === 6, 'the batch published while stopped');
    expect(ca.cookies).toEqual([1, 2, 3, 4, 5, 6]);
    expect(pump.drained).toBe(8);
  });

  it('drains a ring added after its completions were announced', async () => {
    const pump = newPump();
    pump.start();
    await parked(pump, 1);
    const late = CompletionRing.create(8);
    publish(late, pump.doorbell, [7, 8, 9]);
    // The announcement woke the pump; its pass did not know the ring, and it parked again.
    await parked(pump, 2);
    expect(late.available()).toBe(3);
    const c = collector(3);
    pump.add(late, c.visit);
    await c.reached;
    expect(c.cookies).toEqual([7, 8, 9]);
    expect(() => pump.add(late, c.visit)).toThrow(/EINVAL: completion pump: ring is already registered/);
  });

  it('does not lose a batch published after its ring was drained in a pass that found nothing', async () => {
    // The doorbell must be sampled before the pass: a worker that publishes to ring A while the
    // pump drains the rings after A (here: the probe's drain does it, deterministically) rings
    // after the sample, so the wait returns at once and the next pass picks the batch up.
    const pump = newPump();
    const a = CompletionRing.create(8);
    let armed = false;
    class PublishWhileDraining extends CompletionRing {
      override drain(visit: (ring: CompletionRing, slot: number) => void): number {
        if (armed) {
          armed = false;
          publish(a, pump.doorbell, [42]);
        }
        return super.drain(visit);
      }
    }
    const c = collector(1);
    pump.add(a, c.visit);
    pump.add(new PublishWhileDraining(CompletionRing.create(2).buffer), () => {});
    pump.start();
    await parked(pump, 1);
    armed = true;
    pump.doorbell.ring();
    await within(c.reached, 'the batch published during the pass (lost if this times out)', STALL_DEADLINE_MS);
    expect(armed).toBe(false);
    expect(c.cookies).toEqual([42]);
  });

  it('stops draining a ring removed in the middle of a pass', () => {
    const pump = newPump();
    const a = CompletionRing.create(8);
    const b = CompletionRing.create(8);
    const seenB: number[] = [];
    pump.add(a, () => pump.remove(b));
    pump.add(b, (ring, slot) => seenB.push(ring.cookieAt(slot)));
    publish(a, pump.doorbell, [1]);
    publish(b, pump.doorbell, [2]);
    expect(pump.drainAll()).toBe(1);
    expect(seenB).toEqual([]);
    expect(pump.size).toBe(1);
    expect(pump.remove(b)).toBe(false);
    expect(b.available()).toBe(1);
  });

  it('reports a throwing visitor and still delivers the rest of the batch', () => {
    const errors: [unknown, CompletionRing][] = [];
    const pump = newPump(undefined, (e, r) => errors.push([e, r]));
    const ring = CompletionRing.create(8);
    const seen: number[] = [];
    pump.add(ring, (r, slot) => {
      seen.push(r.cookieAt(slot));
      if (r.cookieAt(slot) === 2) throw new Error('bad subscriber');
    });
    publish(ring, pump.doorbell, [1, 2, 3, 4]);
    expect(pump.drainAll()).toBe(4);
    expect(seen).toEqual([1, 2, 3, 4]);
    expect(errors).toHaveLength(1);
    expect((errors[0]![0] as Error).message).toBe('bad subscriber');
    expect(errors[0]![1]).toBe(ring);
  });

  /**
   * Runs producer workers against one pump and fails if no completion arrives for
   * STALL_DEADLINE_MS while some are still missing (the workers wait for each batch to be
   * drained, so a lost wakeup stops everything).
   */
  async function pumpWorkers(producers: number, bursts: number) {
    const doorbell = CompletionDoorbell.create();
    const pump = newPump(doorbell);
    const perRing = Array.from({ length: bursts }, (_, b) => 1 + (b % 7)).reduce((s, n) => s + n, 0);
    const total = perRing * producers;
    let delivered = 0;
    let errors = 0;
    let finish!: () => void;
    const allDelivered = new Promise<void>((resolve) => (finish = resolve));
    const rings = Array.from({ length: producers }, (_, i) => {
      const ring = CompletionRing.create(16);
      let next = i + 1;
      pump.add(ring, (r, slot) => {
        const c = next;
        const ok =
          r.cookieAt(slot) === c &&
          r.resultAt(slot) === c % 4 &&
          r.reasonAt(slot) === c % 9 &&
          r.faultAddrAt(slot) === c * 8 &&
          r.residueAt(slot) === c % 4096 &&
          r.bytesAt(slot) === c * 64 &&
          r.completedNsAt(slot) === BigInt(c) * 1000n;
        if (!ok) errors++;
        next = r.cookieAt(slot) + producers;
        if (++delivered === total) finish();
      });
      return ring;
    });
    pump.start();
    for (let i = 0; i < producers; i++) {
      workers.push(
        new Worker(FIXTURE, {
          workerData: { ring: rings[i]!.buffer, doorbell: doorbell.buffer, bursts, firstCookie: i + 1, cookieStep: producers },
        }),
      );
    }
    let lastSeen = -1;
    let watchdog: NodeJS.Timeout | undefined;
    const stalled = new Promise<never>((_, reject) => {
      watchdog = setInterval(() => {
        if (delivered === lastSeen) {
          reject(new Error(`pump stalled: ${delivered} of ${total} completions delivered`));
        }
        lastSeen = delivered;
      }, STALL_DEADLINE_MS);
    });
    try {
      await Promise.race([allDelivered, stalled]);
    } finally {
      clearInterval(watchdog);
    }
    await pump.stop();
    return { delivered, total, errors, waits: pump.waits, available: rings.map((r) => r.available()) };
  }

  it('never loses a wakeup: one worker publishing batches right as the pump goes back to waiting', async () => {
    const r = await pumpWorkers(1, 6000);
    expect(r.errors).toBe(0);
    expect(r.delivered).toBe(r.total);
    expect(r.available).toEqual([0]);
    // The pump really parked in waitAsync between batches.
    expect(r.waits).toBeGreaterThan(0);
  });

  it('serves several workers through one doorbell, in order per ring', async () => {
    const r = await pumpWorkers(3, 1500);
    expect(r.errors).toBe(0);
    expect(r.delivered).toBe(r.total);
    expect(r.available).toEqual([0, 0, 0]);
  });
});
