import { afterEach, describe, expect, it, vi } from 'vitest';
import { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import { CompletionDoorbell, CompletionPump } from '../../dist/protocol/completion-doorbell.js';
import {
  COMPLETION_REASONS,
  COMPLETION_RESULTS,
  CompletionRing,
  DEFAULT_COMPLETION_CAPACITY,
  RESULT_ABORTED,
  RESULT_OK,
  RESULT_READ_FAILED,
  RESULT_WRITE_FAILED,
  Reason,
} from '../../dist/protocol/completion-ring.js';

interface Rec {
  cookie: number;
  result: number;
  reason: number;
  faultAddr: number;
  residue: number;
  bytes: number;
  completedNs: bigint;
}

function rec(cookie: number): Rec {
  return {
    cookie,
    result: cookie % 4,
    reason: cookie % COMPLETION_REASONS.length,
    faultAddr: cookie % 4 === 0 ? 0 : 0x1_0000_0000 + cookie * 8,
    residue: (cookie * 13) % 4096,
    bytes: cookie * 4096,
    completedNs: 1_700_000_000_000_000n + BigInt(cookie),
  };
}

function pushRec(ring: CompletionRing, r: Rec): boolean {
  return ring.push(r.cookie, r.result, r.reason, r.faultAddr, r.residue, r.bytes, Number(r.completedNs));
}

/** Drains with one visitor allocated up front, collecting what it saw. */
function drainAll(ring: CompletionRing): Rec[] {
  const seen: Rec[] = [];
  const visit = (r: CompletionRing, slot: number): void => {
    seen.push({
      cookie: r.cookieAt(slot),
      result: r.resultAt(slot),
      reason: r.reasonAt(slot),
      faultAddr: r.faultAddrAt(slot),
      residue: r.residueAt(slot),
      bytes: r.bytesAt(slot),
      completedNs: r.completedNsAt(slot),
    });
  };
  ring.drain(visit);
  return seen;
}

describe('CompletionRing', () => {
  it('has the reason table the channels report, frozen, with 0 meaning none', () => {
    expect(Object.isFrozen(COMPLETION_REASONS)).toBe(true);
    expect(COMPLETION_REASONS[0]).toBe('');
    for (const text of [
      'engine abort: source address not mapped',
      'engine abort: destination address not mapped',
      'engine abort: linked-list element outside the LL region',
      'engine abort: DMA engine or channel disabled',
      'channel worker crashed',
      'terminated',
      'link down: READY clear',
      'paused transfer terminated',
    ]) {
      expect(COMPLETION_REASONS).toContain(text);
    }
    expect(COMPLETION_REASONS[Reason.SOURCE_NOT_MAPPED]).toBe('engine abort: source address not mapped');
    expect(COMPLETION_REASONS[Reason.WORKER_CRASHED]).toBe('channel worker crashed');
    expect(COMPLETION_REASONS[Reason.LINK_DOWN]).toBe('link down: READY clear');
    expect(COMPLETION_REASONS[Reason.PAUSED_TERMINATED]).toBe('paused transfer terminated');
    expect(new Set(Object.values(Reason)).size).toBe(Object.keys(Reason).length);
    expect(Math.max(...Object.values(Reason))).toBe(COMPLETION_REASONS.length - 1);
    expect(COMPLETION_RESULTS[RESULT_OK]).toBe('ok');
    expect(COMPLETION_RESULTS[RESULT_READ_FAILED]).toBe('read-failed');
    expect(COMPLETION_RESULTS[RESULT_WRITE_FAILED]).toBe('write-failed');
    expect(COMPLETION_RESULTS[RESULT_ABORTED]).toBe('aborted');
  });

  it('defaults to 4096 records of 48 bytes and checks the buffer it attaches to', () => {
    const ring = CompletionRing.create();
    expect(ring.capacity).toBe(DEFAULT_COMPLETION_CAPACITY);
    expect(ring.buffer.byteLength).toBe(192 + 4096 * 48);
    expect(() => CompletionRing.create(6)).toThrow(/EINVAL: completion ring: capacity 6/);
    expect(() => new CompletionRing(new SharedArrayBuffer(100))).toThrow(/no control block/);
  });

  it('keeps a batch invisible until publish and frees it with one tail store', () => {
    const worker = CompletionRing.create(8);
    const main = new CompletionRing(worker.buffer);
    for (let c = 1; c <= 5; c++) expect(pushRec(worker, rec(c))).toBe(true);
    expect(worker.unpublished()).toBe(5);
    expect(main.available()).toBe(0);
    expect(drainAll(main)).toEqual([]);
    worker.publish();
    expect(worker.unpublished()).toBe(0);
    expect(main.available()).toBe(5);
    // The visitor sees every record before tail moves; tail moves once, past all of them.
    const tails: number[] = [];
    const count = main.drain((r) => tails.push(r.tail()));
    expect(count).toBe(5);
    expect(tails).toEqual([0, 0, 0, 0, 0]);
    expect(main.tail()).toBe(5);
  });

  it('round-trips every field, including 64-bit addresses and nanosecond timestamps', () => {
    const worker = CompletionRing.create(4);
    const main = new CompletionRing(worker.buffer);
    const r: Rec = {
      cookie: 0xffff_ffff,
      result: RESULT_WRITE_FAILED,
      reason: Reason.DESTINATION_NOT_MAPPED,
      faultAddr: 0xfff_ffff_ffff_f000,
      residue: 0xffff_ffff,
      bytes: 2 ** 40,
      completedNs: BigInt(Number.MAX_SAFE_INTEGER), // the producer's clock is a Number: exact to 2^53 ns
    };
    pushRec(worker, r);
    worker.publish();
    let reasonText: string | undefined = 'unset';
    main.drain((ring, slot) => {
      reasonText = ring.reasonTextAt(slot);
    });
    expect(reasonText).toBe('engine abort: destination address not mapped');
    pushRec(worker, { ...rec(4), reason: 0 });
    worker.publish();
    main.drain((ring, slot) => {
      reasonText = ring.reasonTextAt(slot);
    });
    expect(reasonText).toBeUndefined();
    pushRec(worker, r);
    worker.publish();
    expect(drainAll(main)).toEqual([r]);
  });

  it('refuses a push into a full ring, overwriting nothing, and wraps many times', () => {
    const worker = CompletionRing.create(4);
    const main = new CompletionRing(worker.buffer);
    for (let c = 1; c <= 4; c++) expect(pushRec(worker, rec(c))).toBe(true);
    expect(pushRec(worker, rec(99))).toBe(false);
    worker.publish();
    expect(pushRec(worker, rec(99))).toBe(false);
    expect(drainAll(main)).toEqual([1, 2, 3, 4].map(rec));
    let next = 5;
    let expected = 5;
    for (let round = 0; round < 3000; round++) {
      const n = 1 + (round % 4);
      for (let i = 0; i < n; i++) expect(pushRec(worker, rec(next++))).toBe(true);
      worker.publish();
      for (const got of drainAll(main)) expect(got).toEqual(rec(expected++));
    }
    expect(expected).toBe(next);
    expect(main.tail()).toBe(next - 1);
  });

  it('counts the record a visitor threw on as drained and leaves the rest for the next drain', () => {
    const worker = CompletionRing.create(8);
    const main = new CompletionRing(worker.buffer);
    for (let c = 1; c <= 5; c++) pushRec(worker, rec(c));
    worker.publish();
    const seen: number[] = [];
    expect(() =>
      main.drain((r, slot) => {
        seen.push(r.cookieAt(slot));
        if (r.cookieAt(slot) === 3) throw new Error('subscriber failed');
      }),
    ).toThrow('subscriber failed');
    expect(seen).toEqual([1, 2, 3]);
    expect(main.tail()).toBe(3);
    expect(drainAll(main).map((r) => r.cookie)).toEqual([4, 5]);
  });

  it('matches a queue model for random batches of pushes, publishes and drains', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('push' as const), n: fc.integer({ min: 1, max: 6 }) }),
      fc.constant({ kind: 'publish' as const }),
      fc.constant({ kind: 'drain' as const }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
        const worker = CompletionRing.create(8);
        const main = new CompletionRing(worker.buffer);
        const published: Rec[] = [];
        const pushed: Rec[] = [];
        let cookie = 1;
        for (const o of ops) {
          if (o.kind === 'push') {
            for (let i = 0; i < o.n; i++) {
              const r = rec(cookie);
              const ok = pushRec(worker, r);
              expect(ok).toBe(published.length + pushed.length < 8);
              if (ok) {
                pushed.push(r);
                cookie++;
              }
            }
          } else if (o.kind === 'publish') {
            worker.publish();
            published.push(...pushed.splice(0));
          } else {
            expect(drainAll(main)).toEqual(published.splice(0));
          }
        }
      }),
      { numRuns: 200 },
    );
  });

  it('carries a cyclic period number, and a slot reused for a plain record reads -1 (no period)', () => {
    const worker = CompletionRing.create(2);
    const main = new CompletionRing(worker.buffer);
    const periods: number[] = [];
    const visit = (r: CompletionRing, slot: number): void => {
      periods.push(r.periodAt(slot));
    };
    // Two laps over both slots: a period record, then a plain one in the same slot.
    for (const p of [0, 0xffff_fffe, -1, -1, 7, -1]) {
      expect(worker.push(1, RESULT_OK, 0, 0, 0, 64, 1, p)).toBe(true);
      worker.publish();
      main.drain(visit);
    }
    expect(periods).toEqual([0, 0xffff_fffe, -1, -1, 7, -1]);
    // Without the argument a record completes its descriptor.
    pushRec(worker, rec(3));
    worker.publish();
    main.drain(visit);
    expect(periods.at(-1)).toBe(-1);
  });
});

describe('CompletionRing: a producer parked on a full ring', () => {
  let worker: Worker | undefined;
  let pump: CompletionPump | undefined;

  afterEach(async () => {
    await pump?.stop();
    await worker?.terminate();
    pump = undefined;
    worker = undefined;
  });

  it('announces itself, samples tail, and a drain after the sample makes its sleep return at once', () => {
    const ring = CompletionRing.create(2);
    expect(ring.push(1, 0, 0, 0, 0, 1, 0) && ring.push(2, 0, 0, 0, 0, 2, 0)).toBe(true);
    ring.publish();
    expect(ring.full()).toBe(true);
    const seq = ring.prepareSleep();
    expect(seq).toBe(ring.tail());
    expect(ring.drain(() => {})).toBe(2);
    expect(ring.full()).toBe(false);
    // The tail moved after the sample: Atomics.wait sees a different value and does not block.
    expect(ring.sleep(seq, 60_000)).toBe('not-equal');
    // A cancelled park leaves nothing announced either way.
    ring.prepareSleep();
    ring.cancelSleep();
    expect(ring.sleep(ring.tail(), 0)).toBe('timed-out');
  });

  it('is woken by every drain: 3000 records through a 2-record ring, no park ends by its (one minute) timeout', async () => {
    const COUNT = 3000;
    const ring = CompletionRing.create(2);
    const doorbell = CompletionDoorbell.create();
    const report = new Int32Array(new SharedArrayBuffer(12));
    const seen: number[] = [];
    pump = new CompletionPump(doorbell);
    pump.add(ring, (r, slot) => {
      seen.push(r.cookieAt(slot));
    });
    pump.start();
    worker = new Worker(new URL('../fixtures/ring-full-producer.mjs', import.meta.url), {
      // A lost wake would stall the producer for a minute: far past the deadline below.
      workerData: { ring: ring.buffer, doorbell: doorbell.buffer, report: report.buffer, count: COUNT, policy: { spins: 0, parkMs: 60_000, maxParkMs: 60_000 } },
    });
    await vi.waitFor(() => {
      expect(Atomics.load(report, 0)).toBe(1);
      expect(seen.length).toBe(COUNT);
    }, { timeout: 20_000, interval: 20 });
    expect(seen).toEqual(Array.from({ length: COUNT }, (_, i) => i + 1));
    // Every park ended by the drain's wake (or found the tail already moved), none by its timeout.
    expect(Atomics.load(report, 2)).toBe(0);
    expect(Atomics.load(report, 1)).toBeGreaterThan(0);
  });
});
