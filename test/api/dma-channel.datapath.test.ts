/**
 * The main-thread data path of a channel (issue 12): descriptors tracked in queues by ring
 * order rather than by cookie, so cookies that wrap past 2^31 - 1 while the queues themselves
 * wrap their slots keep every guarantee; Completions built only when someone wants them (a
 * subscriber now, `done` later) with the same content either way; submit times kept as numbers
 * and handed out on the process.hrtime clock; a worker crash in the middle of a resubmitting
 * stream completes every cookie exactly once.
 */
import { describe, expect, it } from 'vitest';
import type { Subscription } from 'rxjs';
import type { ChannelHandle } from '../../dist/api/dma-channel.js';
import type { Completion, TxDescriptor } from '../../dist/api/types.js';
import {
  collect, EP_RAM_BASE, fillPattern, HOST_RAM_BASE, sameBytes, streamsCaughtUp, view, waitFor, within, useSideFixture,
} from '../support/side-fixture.js';

const open = useSideFixture();
const COOKIE_MAX = 0x7fff_ffff;

/** Puts the channel's cookie counter where a long-running channel would be (no public way to get there). */
function startCookiesAt(ch: ChannelHandle, cookie: number): void {
  (ch as unknown as { nextCookie: number }).nextCookie = cookie;
}


/**
 * Keeps `depth` SIZE-byte transfers in flight from the completion stream until `n` were
 * submitted; transfer i copies EP slot i to host slot i. Returns each cookie's slot.
 */
function resubmitFromStream(ch: ChannelHandle, n: number, depth: number, size: number): { slotOf: Map<number, number>; sub: Subscription } {
  const slotOf = new Map<number, number>();
  let next = 0;
  const submit = (): void => {
    ch.configure({ deviceAddr: HOST_RAM_BASE + next * size });
    const cookie = ch.prepSlaveSingle(EP_RAM_BASE + next * size, size).submit();
    slotOf.set(cookie, next++);
  };
  const sub = ch.completions$.subscribe(() => {
    if (next < n) {
      submit();
      ch.issuePending();
    }
  });
  for (let i = 0; i < depth; i++) submit();
  ch.issuePending();
  return { slotOf, sub };
}

describe('cookies wrapping past 2^31 - 1', () => {
  it('a stream of 600 descriptors, up to 150 in flight, across the wrap: each cookie once, in order, its own bytes', async () => {
    const f = await open();
    const ch = await f.request('endpoint/wr0');
    const SIZE = 256;
    const N = 600;
    const DEPTH = 150; // more than the queues start with: they grow, and their slots wrap many times
    fillPattern(f.epRam.bytes.subarray(0, N * SIZE), 17);
    const first = COOKIE_MAX - 299;
    startCookiesAt(ch, first);
    const expected = Array.from({ length: N }, (_, i) => (first + i > COOKIE_MAX ? first + i - COOKIE_MAX : first + i));
    const stream = collect(ch.completions$);
    const { slotOf, sub } = resubmitFromStream(ch, N, DEPTH, SIZE);
    await waitFor(() => stream.items.length === N, `${N} completions`);
    sub.unsubscribe();
    await streamsCaughtUp(ch);
    expect(stream.items.map((c) => c.cookie)).toEqual(expected);
    expect(stream.items.every((c) => c.result === 'ok' && c.bytes === SIZE && c.residue === 0)).toBe(true);
    for (const c of stream.items) {
      const slot = slotOf.get(c.cookie)!;
      expect(sameBytes(view(f.hostRam, HOST_RAM_BASE + slot * SIZE, SIZE), view(f.epRam, EP_RAM_BASE + slot * SIZE, SIZE))).toBe(true);
      expect(ch.txStatus(c.cookie)).toEqual({ status: 'complete', residue: 0 });
    }
    expect(ch.outstanding).toBe(0);
    expect(ch.stats()).toMatchObject({ submitted: N, completed: N, errors: 0, bytes: N * SIZE });
  });

  it('txStatus tells queued, in-flight and complete apart on both sides of the wrap, and a terminate settles them all once', async () => {
    const f = await open({ linkBytesPerSec: 20_000 }); // 4 KiB takes ~200 ms: the queue stays put
    const ch = await f.request('endpoint/wr0');
    const SIZE = 4096;
    ch.configure({ deviceAddr: HOST_RAM_BASE });
    startCookiesAt(ch, COOKIE_MAX - 2);
    const ds: TxDescriptor[] = [];
    const cookies: number[] = [];
    for (let i = 0; i < 6; i++) {
      const d = ch.prepSlaveSingle(EP_RAM_BASE + i * SIZE, SIZE);
      ds.push(d);
      cookies.push(d.submit());
    }
    expect(cookies).toEqual([COOKIE_MAX - 2, COOKIE_MAX - 1, COOKIE_MAX, 1, 2, 3]);
    // Submitted, not issued: in progress with the whole residue (contract mode).
    for (const c of cookies) expect(ch.txStatus(c)).toEqual({ status: 'in-progress', residue: SIZE });
    ch.issuePending();
    await waitFor(() => ch.actor.control.currentCookie() === COOKIE_MAX - 2, 'the first descriptor in flight');
    for (const c of cookies.slice(1)) expect(ch.txStatus(c)).toEqual({ status: 'in-progress', residue: SIZE });
    // Once wrapped, every cookie up to 2^31 - 1 was handed out (by an earlier round): none is
    // refused as never submitted, and one not outstanding is complete.
    expect(ch.txStatus(4)).toEqual({ status: 'complete', residue: 0 });
    expect(() => ch.txStatus(COOKIE_MAX + 1)).toThrow(/EINVAL/);
    await ch.terminateSync();
    const done = await within(Promise.all(ds.map((d) => d.done)), 'every descriptor settled');
    expect(done.map((c) => c.cookie)).toEqual(cookies);
    // The first may have finished before the terminate reached it; the rest were terminated.
    for (const c of done.slice(1)) expect(c).toMatchObject({ result: 'aborted', reasonCode: 'terminated', bytes: 0, residue: SIZE });
    expect(ch.outstanding).toBe(0);
  });
});

describe('Completions built on demand', () => {
  it('nobody subscribed: done asked after the fact gives the same Completion a subscriber gets, on the hrtime clock', async () => {
    const f = await open();
    const ch = await f.request('endpoint/wr0');
    fillPattern(f.epRam.bytes.subarray(0, 8192), 3);
    ch.configure({ deviceAddr: HOST_RAM_BASE });
    const before = process.hrtime.bigint();
    const quiet = ch.prepSlaveSingle(EP_RAM_BASE, 4096);
    quiet.submit();
    ch.issuePending();
    await waitFor(() => ch.outstanding === 0, 'the unobserved descriptor to settle');
    const after = process.hrtime.bigint();
    const late = await quiet.done;
    expect(late).toEqual({ cookie: 1, channel: ch.info, result: 'ok', residue: 0, bytes: 4096, submittedNs: late.submittedNs, completedNs: late.completedNs });
    // Both times on process.hrtime.bigint()'s clock: inside the window the test saw (the submit
    // time comes from performance.now() through a pairing of the two clocks, allow for it).
    const slack = 5_000_000n;
    expect(late.submittedNs >= before - slack && late.submittedNs <= after + slack).toBe(true);
    expect(late.completedNs >= before && late.completedNs <= after).toBe(true);
    expect(late.completedNs >= late.submittedNs - slack).toBe(true);
    expect(await quiet.done).toBe(late); // built once

    const stream = collect(ch.completions$);
    ch.configure({ deviceAddr: HOST_RAM_BASE + 4096 });
    const seen = ch.prepSlaveSingle(EP_RAM_BASE + 4096, 4096);
    seen.submit();
    ch.issuePending();
    await waitFor(() => stream.items.length === 1, 'the observed completion');
    expect(await seen.done).toBe(stream.items[0]);
    expect(Object.keys(stream.items[0]!).sort()).toEqual(Object.keys(late).sort());
    expect(sameBytes(view(f.hostRam, HOST_RAM_BASE, 8192), view(f.epRam, EP_RAM_BASE, 8192))).toBe(true);
  });

  it('an engine abort nobody watched still tells done the reason and the faulting address', async () => {
    const f = await open();
    const ch = await f.request('endpoint/wr0');
    ch.configure({ deviceAddr: 0x7_0000_0000 }); // no host memory there
    const d = ch.prepSlaveSingle(EP_RAM_BASE, 64);
    d.submit();
    ch.issuePending();
    await waitFor(() => ch.outstanding === 0, 'the abort');
    const c = await d.done;
    expect(c).toMatchObject({ cookie: 1, result: 'write-failed', reasonCode: 'destination-not-mapped', bytes: 0 });
    expect(c.reason).toMatch(/destination address not mapped at 0x70{8}/);
    expect(ch.txStatus(1).status).toBe('error');
  });

  it('completionBatches$: each drained batch is its own array, kept intact after later batches; nothing batched without a subscriber', async () => {
    const f = await open();
    const ch = await f.request('endpoint/wr0');
    ch.configure({ deviceAddr: HOST_RAM_BASE });
    const run = async (n: number): Promise<void> => {
      const target = ch.stats().completed + n;
      for (let i = 0; i < n; i++) ch.prepSlaveSingle(EP_RAM_BASE + i * 64, 64).submit();
      ch.issuePending();
      await waitFor(() => ch.stats().completed === target, `${n} completions`);
      await streamsCaughtUp(ch);
    };
    await run(40); // before any subscriber: nothing collected for later
    const batches: (readonly Completion[])[] = [];
    const sub = f.side.completionBatches$.subscribe((b) => batches.push(b));
    await run(100);
    await run(100);
    sub.unsubscribe();
    const snapshot = batches.map((b) => b.map((c) => c.cookie));
    await run(20);
    expect(batches.every((b) => b.length > 0)).toBe(true);
    expect(new Set(batches).size).toBe(batches.length);
    expect(batches.map((b) => b.map((c) => c.cookie))).toEqual(snapshot);
    expect(snapshot.flat()).toEqual(Array.from({ length: 200 }, (_, i) => 41 + i));
  });
});

describe('a worker crash in a resubmitting stream', () => {
  it('every cookie completes exactly once on completions$: the ones the worker had taken aborted, the rest ok with their bytes', async () => {
    // 400 KB/s: each 4 KiB descriptor is on the link for ~10 ms, so the kill finds one in flight.
    const f = await open({ linkBytesPerSec: 400_000, supervision: { backoffMs: 2 } });
    const ch = await f.request('endpoint/wr0');
    const SIZE = 4096;
    const N = 200;
    const DEPTH = 16;
    fillPattern(f.epRam.bytes.subarray(0, N * SIZE), 23);
    const stream = collect(ch.completions$);
    const { sub } = resubmitFromStream(ch, N, DEPTH, SIZE);
    await waitFor(() => stream.items.length >= 50, '50 completions before the crash');
    await waitFor(() => ch.actor.control.currentCookie() !== 0, 'a descriptor in flight');
    await f.side.crash('endpoint/wr0');
    await within(f.side.settled('endpoint/wr0'), 'the restart');
    await waitFor(() => stream.items.length >= N, `${N} completions`);
    sub.unsubscribe();
    await streamsCaughtUp(ch);
    expect(stream.items).toHaveLength(N);
    expect(stream.items.map((c) => c.cookie)).toEqual(Array.from({ length: N }, (_, i) => i + 1));
    const aborted = stream.items.filter((c) => c.result !== 'ok');
    expect(aborted.length).toBeGreaterThanOrEqual(1);
    expect(aborted.length).toBeLessThanOrEqual(DEPTH);
    for (const c of aborted) expect(c).toMatchObject({ result: 'aborted', reasonCode: 'worker-crashed', bytes: 0, residue: SIZE });
    // The aborted ones are one run (what the dead worker had taken and not reported).
    expect(aborted.at(-1)!.cookie - aborted[0]!.cookie + 1).toBe(aborted.length);
    for (const c of stream.items) {
      if (c.result !== 'ok') continue;
      const slot = c.cookie - 1;
      expect(sameBytes(view(f.hostRam, HOST_RAM_BASE + slot * SIZE, SIZE), view(f.epRam, EP_RAM_BASE + slot * SIZE, SIZE))).toBe(true);
    }
    expect(ch.outstanding).toBe(0);
    expect(ch.stats()).toMatchObject({ submitted: N, completed: N - aborted.length, errors: aborted.length });
  });
});
