/**
 * ChannelHandle through the whole stack (handle -> submission ring -> channel worker's dw-edma
 * core -> in-process engine -> completion ring -> pump), on an EP-local side built by hand:
 * chunking across ll_max, CB alternation in the LL memory, cookies and ordering, txStatus
 * residue, pause/resume, terminate and abort (reference 6.4, 6.5, 7).
 */
import { describe, expect, it } from 'vitest';
import { EpdmaError } from '../../dist/device/errors.js';
import { LL_CONTROL } from '../../dist/device/ll/ll-codec.js';
import { CHANNEL_BUSY, CHANNEL_IDLE } from '../../dist/protocol/channel-control-block.js';
import type { ChannelHandle } from '../../dist/api/dma-channel.js';
import type { Completion } from '../../dist/api/types.js';
import type { ChannelWorkerStats } from '../../dist/protocol/channel-worker-data.js';
import {
  collect, EP_RAM_BASE, fillPattern, HOST_RAM_BASE, LL_MAX_4K, nonZero,
  sameBytes, scatteredSegments, view, waitFor, within, useSideFixture,
} from '../support/side-fixture.js';

const open = useSideFixture();

const stats = (h: ChannelHandle): Promise<ChannelWorkerStats> => h.actor.call('stats');
const WORD_PER_ELEMENT = 6; // 24-byte data element

/** A slow link: 4 MB/s, so a 1 MB three-chunk descriptor takes ~250 ms. */
const SLOW = 4_000_000;

function expectEpdma(fn: () => unknown, code: string, message?: RegExp): void {
  let thrown: unknown;
  try {
    fn();
  } catch (err) {
    thrown = err;
  }
  expect(thrown).toBeInstanceOf(EpdmaError);
  expect((thrown as EpdmaError).code).toBe(code);
  if (message !== undefined) expect((thrown as EpdmaError).message).toMatch(message);
}

async function expectRejects(p: Promise<unknown>, code: string): Promise<void> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(EpdmaError);
  expect((err as EpdmaError).code).toBe(code);
}

describe.each(['unroll', 'hdma-compat', 'hdma-native'] as const)('chunking across ll_max (%s)', (format) => {
  it('copies 1, 169, 170, 338 and 500 segments exactly; one chunk per 169 segments', async () => {
    const f = await open({ format });
    const ch = await f.request('endpoint/wr0');
    fillPattern(f.epRam.bytes, 3);
    let device = HOST_RAM_BASE + 0x1000;
    let src = EP_RAM_BASE;
    for (const n of [1, LL_MAX_4K, LL_MAX_4K + 1, 2 * LL_MAX_4K, 500]) {
      const before = await stats(ch);
      const { segments, image, bytes } = scatteredSegments(f.epRam, src, n);
      ch.configure({ deviceAddr: device });
      const d = ch.prepSlaveSg(segments);
      d.submit();
      ch.issuePending();
      const c = await d.done;
      expect(c).toMatchObject({ result: 'ok', residue: 0, bytes });
      expect(sameBytes(view(f.hostRam, device, bytes), image)).toBe(true);
      // Nothing past the end of the descriptor's device range.
      expect(nonZero(view(f.hostRam, device + bytes, 64))).toBe(0);
      const after = await stats(ch);
      expect(after.chunks - before.chunks).toBe(Math.ceil(n / LL_MAX_4K));
      expect(after.descriptors - before.descriptors).toBe(1);
      expect(after.engine!.elements - before.engine!.elements).toBe(n);
      expect(after.engine!.chunks - before.engine!.chunks).toBe(Math.ceil(n / LL_MAX_4K));
      device += bytes + 0x1000;
      src += 0x10000;
    }
  });
});

describe('chunking and the LL region', () => {
  it('a read channel (dev-to-mem) gathers host memory into scattered EP segments across chunks', async () => {
    const f = await open({ writeChannels: 0, readChannels: 1 });
    const ch = await f.request('endpoint/rd0');
    const n = 2 * LL_MAX_4K + 5;
    const { segments, bytes } = scatteredSegments(f.epRam, EP_RAM_BASE + 0x100, n);
    const host = view(f.hostRam, HOST_RAM_BASE + 0x2000, bytes);
    fillPattern(host, 11);
    ch.configure({ deviceAddr: HOST_RAM_BASE + 0x2000 });
    const d = ch.prepSlaveSg(segments);
    d.submit();
    ch.issuePending();
    expect((await d.done).result).toBe('ok');
    let o = 0;
    for (const s of segments) {
      expect(sameBytes(view(f.epRam, s.addr, s.length), host.subarray(o, o + s.length))).toBe(true);
      o += s.length;
    }
    expect((await stats(ch)).chunks).toBe(3);
  });

  it('alternates CB per chunk from 1 and reuses the region start: visible in the LL memory', async () => {
    const f = await open();
    const ch = await f.request('endpoint/wr0');
    fillPattern(f.epRam.bytes, 5);
    const { words, paddr } = f.ll('write', 0);
    ch.configure({ deviceAddr: HOST_RAM_BASE });
    // 500 = 169 (CB 1) + 169 (CB 0) + 162 (CB 1).
    const d = ch.prepSlaveSg(scatteredSegments(f.epRam, EP_RAM_BASE, 500).segments);
    d.submit();
    ch.issuePending();
    expect((await d.done).result).toBe('ok');
    const control = (i: number): number => words[i * WORD_PER_ELEMENT]! >>> 0;
    expect(control(0) & LL_CONTROL.CB).toBe(LL_CONTROL.CB); // chunk 3
    expect(control(161) & (LL_CONTROL.CB | LL_CONTROL.LIE)).toBe(LL_CONTROL.CB | LL_CONTROL.LIE); // chunk 3's last
    expect(control(160) & LL_CONTROL.LIE).toBe(0);
    // Chunk 3's link element at 162: LLP | TCB, CB inverted (clear), back to the region start.
    expect(control(162)).toBe(LL_CONTROL.LLP | LL_CONTROL.TCB);
    expect(words[162 * WORD_PER_ELEMENT + 2]! >>> 0).toBe(paddr);
    // Beyond it, chunk 2's leftovers: data elements with CB 0, then its link with CB set.
    expect(control(165) & (LL_CONTROL.CB | LL_CONTROL.LLP)).toBe(0);
    expect(control(168) & (LL_CONTROL.CB | LL_CONTROL.LIE)).toBe(LL_CONTROL.LIE);
    expect(control(169)).toBe(LL_CONTROL.LLP | LL_CONTROL.TCB | LL_CONTROL.CB);

    // The next descriptor starts again with CB 1: 170 = 169 (CB 1) + 1 (CB 0), so element 0
    // holds chunk 2 (CB 0, LIE) and its link sits at 1 with CB set.
    const d2 = ch.prepSlaveSg(scatteredSegments(f.epRam, EP_RAM_BASE + 0x20000, 170).segments);
    d2.submit();
    ch.issuePending();
    expect((await d2.done).result).toBe('ok');
    expect(control(0) & (LL_CONTROL.CB | LL_CONTROL.LIE)).toBe(LL_CONTROL.LIE);
    expect(control(1)).toBe(LL_CONTROL.LLP | LL_CONTROL.TCB | LL_CONTROL.CB);
    expect(control(2) & LL_CONTROL.CB).toBe(LL_CONTROL.CB); // chunk 1 of d2, CB 1
  });

  it('prep refuses what one descriptor cannot carry, naming the value', async () => {
    const f = await open();
    const ch = await f.request('endpoint/wr0');
    expectEpdma(() => ch.prepSlaveSingle(EP_RAM_BASE, 64), 'EINVAL', /before configure/);
    ch.configure({ deviceAddr: HOST_RAM_BASE });
    const max = ch.actor.submissions.maxSegments;
    const many = Array.from({ length: max + 1 }, (_, i) => ({ addr: EP_RAM_BASE + i * 16, length: 16 }));
    expectEpdma(() => ch.prepSlaveSg(many), 'EINVAL', new RegExp(`${max + 1} segments`));
    expectEpdma(() => ch.prepSlaveSg([]), 'EINVAL', /empty/);
    expectEpdma(() => ch.prepSlaveSingle(HOST_RAM_BASE, 64), 'EINVAL', /0x100000000\+0x40 is outside endpoint memory/);
    expectEpdma(() => ch.prepSlaveSingle(EP_RAM_BASE, 0), 'EINVAL', /length 0/);
    expectEpdma(() => ch.prepSlaveSingle(EP_RAM_BASE, 64, { direction: 'dev-to-mem' }), 'EINVAL', /direction 'dev-to-mem'/);
  });
});

describe('cookies, ordering and residue', () => {
  it('hands out cookies from 1, increasing, and completes in submission order', async () => {
    const f = await open();
    const ch = await f.request('endpoint/wr0');
    fillPattern(f.epRam.bytes, 9);
    const perChannel = collect(ch.completions$);
    const perSide = collect(f.side.completions$);
    ch.configure({ deviceAddr: HOST_RAM_BASE });
    const descs = [];
    for (let i = 0; i < 40; i++) {
      // Mixed sizes: single segments and multi-chunk SG lists.
      const d = i % 5 === 4
        ? ch.prepSlaveSg(scatteredSegments(f.epRam, EP_RAM_BASE + i * 0x4000, 200, () => 8).segments)
        : ch.prepSlaveSingle(EP_RAM_BASE + i * 0x4000, 100 + i);
      expect(d.submit()).toBe(i + 1);
      descs.push(d);
      if (i % 7 === 6) ch.issuePending();
    }
    ch.issuePending();
    const done = await Promise.all(descs.map((d) => d.done));
    expect(done.map((c) => c.cookie)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    expect(done.every((c) => c.result === 'ok' && c.residue === 0)).toBe(true);
    await waitFor(() => perSide.items.length === 40, 'the side stream');
    expect(perChannel.items.map((c) => c.cookie)).toEqual(done.map((c) => c.cookie));
    expect(perSide.items.map((c) => c.cookie)).toEqual(done.map((c) => c.cookie));
    for (const c of done) expect(c.completedNs >= c.submittedNs).toBe(true);
    expect(ch.txStatus(40)).toEqual({ status: 'complete', residue: 0 });
    expectEpdma(() => ch.txStatus(41), 'EINVAL', /cookie 41 was never submitted/);
  });

  it('txStatus residue is descriptor-granular through a slow multi-chunk transfer', async () => {
    const f = await open({ linkBytesPerSec: SLOW });
    const ch = await f.request('endpoint/wr0');
    const seg = 2048;
    const n = 500;
    const total = n * seg;
    ch.configure({ deviceAddr: HOST_RAM_BASE });
    const d = ch.prepSlaveSg(Array.from({ length: n }, (_, i) => ({ addr: EP_RAM_BASE + i * seg, length: seg })));
    const cookie = d.submit();
    // Submitted, not issued: nothing has started.
    expect(ch.txStatus(cookie)).toEqual({ status: 'in-progress', residue: total });
    ch.issuePending();
    // residue = alloc_sz - xfer_sz, xfer_sz growing as chunks START: total - k chunks.
    const allowed = [total, total - LL_MAX_4K * seg, total - 2 * LL_MAX_4K * seg, 0];
    // Sample txStatus every millisecond until it reports completion; check the samples after.
    const samples: { status: string; residue: number }[] = [];
    await waitFor(() => {
      const s = ch.txStatus(cookie);
      if (s.status === 'complete') return true;
      if (samples.at(-1)?.residue !== s.residue || samples.at(-1)?.status !== s.status) samples.push(s);
      return false;
    }, 'the descriptor to complete');
    for (const s of samples) {
      expect(s.status).toBe('in-progress');
      expect(allowed).toContain(s.residue);
    }
    const seen = samples.map((s) => s.residue);
    // Never goes back up, and a chunk of ~85 ms is long enough to be seen in between.
    for (let i = 1; i < seen.length; i++) expect(seen[i]!).toBeLessThan(seen[i - 1]!);
    expect(seen.some((r) => r === total - LL_MAX_4K * seg || r === total - 2 * LL_MAX_4K * seg)).toBe(true);
    expect((await d.done).residue).toBe(0);
    expect(ch.txStatus(cookie)).toEqual({ status: 'complete', residue: 0 });
  });

  it('txStatus of a descriptor the worker finished but the pump has not drained: residue 0, not the full size', async () => {
    const f = await open();
    const ch = await f.request('endpoint/wr0');
    ch.configure({ deviceAddr: HOST_RAM_BASE });
    const d = ch.prepSlaveSingle(EP_RAM_BASE, 4096);
    const cookie = d.submit();
    ch.issuePending();
    // Block the main thread (so the pump cannot run) until the worker published the record.
    const nap = new Int32Array(new SharedArrayBuffer(4));
    const end = Date.now() + 10_000;
    while (ch.actor.completions.available() === 0 && Date.now() < end) Atomics.wait(nap, 0, 0, 1);
    expect(ch.actor.completions.available()).toBe(1);
    expect(ch.txStatus(cookie).residue).toBe(0);
    expect(['in-progress', 'complete']).toContain(ch.txStatus(cookie).status);
    expect((await d.done).result).toBe('ok');
    expect(ch.txStatus(cookie)).toEqual({ status: 'complete', residue: 0 });
  });
});

describe('pause and resume (take effect at chunk boundaries)', () => {
  it('pauses at a chunk boundary, makes no progress while paused, and resumes to completion', async () => {
    const f = await open({ linkBytesPerSec: SLOW });
    const ch = await f.request('endpoint/wr0');
    fillPattern(f.epRam.bytes, 21);
    const seg = 2048;
    const total = 500 * seg;
    ch.configure({ deviceAddr: HOST_RAM_BASE });
    const d = ch.prepSlaveSg(Array.from({ length: 500 }, (_, i) => ({ addr: EP_RAM_BASE + i * seg, length: seg })));
    const cookie = d.submit();
    ch.issuePending();
    // pause needs a BUSY channel: wait until the worker has taken the descriptor.
    await waitFor(() => ch.actor.control.currentCookie() === cookie, 'the descriptor to start');
    await ch.pause();
    const s = ch.txStatus(cookie);
    expect(s.status).toBe('paused');
    // Chunks of LL_MAX_4K segments: the pause lands after chunk 1, 2 or the last (shorter) one.
    const startedChunks = Math.ceil((total - s.residue) / (LL_MAX_4K * seg));
    expect([1, 2, 3]).toContain(startedChunks);
    expect(total - s.residue).toBe(Math.min(total, startedChunks * LL_MAX_4K * seg));
    // At a chunk boundary every started chunk has moved completely, nothing more.
    const copied = total - s.residue;
    const at = await stats(ch);
    expect(at.engine!.bytes).toBe(copied);
    expect(sameBytes(view(f.hostRam, HOST_RAM_BASE, copied), view(f.epRam, EP_RAM_BASE, copied))).toBe(true);
    expect(nonZero(view(f.hostRam, HOST_RAM_BASE + copied, total - copied))).toBe(0);
    // Round trips to the paused worker (pausing again is EPERM): it polls its rings and engine
    // in between, and neither a chunk nor a byte moves.
    for (let round = 0; round < 3; round++) await expectRejects(ch.pause(), 'EPERM');
    const later = await stats(ch);
    expect(later.engine!.bytes).toBe(copied);
    expect(later.engine!.chunks).toBe(at.engine!.chunks);
    expect(later.chunks).toBe(at.chunks);
    expect(nonZero(view(f.hostRam, HOST_RAM_BASE + copied, total - copied))).toBe(0);
    expect(ch.txStatus(cookie).status).toBe('paused');
    await ch.resume();
    const c = await d.done;
    expect(c).toMatchObject({ cookie, result: 'ok', residue: 0, bytes: total });
    expect(sameBytes(view(f.hostRam, HOST_RAM_BASE, total), view(f.epRam, EP_RAM_BASE, total))).toBe(true);
    await expectRejects(ch.resume(), 'EPERM');
  });

  it('a pause that lands on the last chunk holds the descriptor (residue 0) and the queue until resume; every cookie says paused', async () => {
    const f = await open({ linkBytesPerSec: SLOW });
    const ch = await f.request('endpoint/wr0');
    ch.configure({ deviceAddr: HOST_RAM_BASE });
    const one = ch.prepSlaveSingle(EP_RAM_BASE, 256 * 1024); // one chunk
    const queued = ch.prepSlaveSingle(EP_RAM_BASE, 64);
    one.submit();
    queued.submit();
    ch.issuePending();
    await waitFor(() => ch.actor.control.currentCookie() === 1, 'the descriptor to start');
    await ch.pause();
    expect(ch.txStatus(1)).toEqual({ status: 'paused', residue: 0 });
    // DMA_PAUSED for every in-progress cookie of a paused channel, queued ones too.
    expect(ch.txStatus(2)).toEqual({ status: 'paused', residue: 64 });
    await ch.resume();
    const done = await within(Promise.all([one.done, queued.done]), 'both after resume');
    expect(done.map((c) => [c.cookie, c.result])).toEqual([[1, 'ok'], [2, 'ok']]);
  });

  it('pause on an idle or unconfigured channel and resume on a running one reject EPERM', async () => {
    const f = await open({ linkBytesPerSec: SLOW });
    const ch = await f.request('endpoint/wr0');
    await expectRejects(ch.pause(), 'EPERM'); // not configured
    ch.configure({ deviceAddr: HOST_RAM_BASE });
    await expectRejects(ch.pause(), 'EPERM'); // idle
    await expectRejects(ch.resume(), 'EPERM'); // idle
    const d = ch.prepSlaveSingle(EP_RAM_BASE, 256 * 1024);
    const cookie = d.submit();
    ch.issuePending();
    await waitFor(() => ch.actor.control.currentCookie() === cookie, 'the descriptor to start');
    await expectRejects(ch.resume(), 'EPERM'); // busy, not paused
    expect((await d.done).result).toBe('ok');
  });
});

describe('terminate', () => {
  it('terminateAsync + synchronize during traffic: no callbacks, done says terminated, configure needed again', async () => {
    const f = await open({ linkBytesPerSec: SLOW });
    const ch = await f.request('endpoint/wr0');
    fillPattern(f.epRam.bytes, 2);
    const stream = collect(ch.completions$);
    const side = collect(f.side.completions$);
    ch.configure({ deviceAddr: HOST_RAM_BASE });
    const issued = Array.from({ length: 5 }, (_, i) => ch.prepSlaveSg(scatteredSegments(f.epRam, EP_RAM_BASE + i * 0x40000, 300, () => 2048).segments));
    for (const d of issued) d.submit();
    ch.issuePending();
    const notIssued = [ch.prepSlaveSingle(EP_RAM_BASE, 64), ch.prepSlaveSingle(EP_RAM_BASE, 64)];
    for (const d of notIssued) d.submit();
    await waitFor(() => ch.actor.control.currentCookie() === 1, 'cookie 1 to start');
    ch.terminateAsync();
    // The channel stays configured until the STOP takes effect (kernel): a prep is accepted,
    // unless the worker already took the STOP by this line; then it is that EINVAL.
    try {
      expect(ch.prepSlaveSingle(EP_RAM_BASE, 64)).toBeDefined();
    } catch (err) {
      expect(err).toMatchObject({ code: 'EINVAL' });
      expect((err as Error).message).toMatch(/after a terminate took effect/);
    }
    await ch.synchronize();
    expectEpdma(() => ch.prepSlaveSingle(EP_RAM_BASE, 64), 'EINVAL', /after a terminate took effect/);
    const all = [...issued, ...notIssued];
    const results: Completion[] = [];
    for (const d of all) results.push(await d.done);
    expect(results.map((c) => c.cookie)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    // A 600 KB descriptor on a 4 MB/s link cannot finish before the terminate round trip.
    for (const c of results) expect(c).toMatchObject({ result: 'aborted', reason: 'terminated' });
    for (let cookie = 1; cookie <= 7; cookie++) expect(ch.txStatus(cookie).status).toBe('error');
    expect((await stats(ch)).terminated).toBe(5);
    expect(ch.actor.control.status()).toBe(CHANNEL_IDLE);
    // Streams emit as records are drained, before `done` resolves: they are complete here.
    expect(stream.items).toHaveLength(0);
    expect(side.items).toHaveLength(0);
    expect(ch.outstanding).toBe(0);

    // The channel works after a new slave config; cookies keep counting.
    ch.configure({ deviceAddr: HOST_RAM_BASE + 0x80_0000 });
    const again = ch.prepSlaveSingle(EP_RAM_BASE + 0x1000, 4096);
    expect(again.submit()).toBe(8);
    ch.issuePending();
    expect((await again.done).result).toBe('ok');
    expect(sameBytes(view(f.hostRam, HOST_RAM_BASE + 0x80_0000, 4096), view(f.epRam, EP_RAM_BASE + 0x1000, 4096))).toBe(true);
    expect(stream.items.map((c) => c.cookie)).toEqual([8]);
  });

  it('work submitted after terminateAsync (with a new slave config) is not terminated by it', async () => {
    const f = await open({ linkBytesPerSec: SLOW });
    const ch = await f.request('endpoint/wr0');
    fillPattern(f.epRam.bytes, 12);
    ch.configure({ deviceAddr: HOST_RAM_BASE });
    const old = ch.prepSlaveSingle(EP_RAM_BASE, 256 * 1024);
    old.submit();
    ch.issuePending();
    await waitFor(() => ch.actor.control.currentCookie() === 1, 'the descriptor to start');
    ch.terminateAsync();
    // Allowed before synchronize (e.g. from a callback): "terminate all ... descriptors that
    // have previously been submitted" (dmaengine.h).
    ch.configure({ deviceAddr: HOST_RAM_BASE + 0x10_0000 });
    const fresh = ch.prepSlaveSingle(EP_RAM_BASE + 0x1000, 4096);
    expect(fresh.submit()).toBe(2);
    ch.issuePending();
    await ch.synchronize();
    expect(await old.done).toMatchObject({ result: 'aborted', reason: 'terminated' });
    expect(await within(fresh.done, 'the fresh descriptor')).toMatchObject({ cookie: 2, result: 'ok' });
    expect(sameBytes(view(f.hostRam, HOST_RAM_BASE + 0x10_0000, 4096), view(f.epRam, EP_RAM_BASE + 0x1000, 4096))).toBe(true);
  });

  it('terminate on a paused channel terminates the paused descriptor and the queue; the channel is reusable', async () => {
    const f = await open({ linkBytesPerSec: SLOW });
    const ch = await f.request('endpoint/wr0');
    ch.configure({ deviceAddr: HOST_RAM_BASE });
    const big = ch.prepSlaveSg(Array.from({ length: 400 }, (_, i) => ({ addr: EP_RAM_BASE + i * 2048, length: 2048 })));
    const queued = ch.prepSlaveSingle(EP_RAM_BASE, 64);
    big.submit();
    queued.submit();
    ch.issuePending();
    await waitFor(() => ch.actor.control.currentCookie() === 1, 'the descriptor to start');
    await ch.pause();
    await ch.terminateSync();
    expect(await big.done).toMatchObject({ result: 'aborted', reason: 'terminated' });
    expect(await queued.done).toMatchObject({ result: 'aborted', reason: 'terminated' });
    expect(ch.actor.control.status()).toBe(CHANNEL_IDLE);
    await expectRejects(ch.resume(), 'EPERM');
    ch.configure({ deviceAddr: HOST_RAM_BASE });
    const again = ch.prepSlaveSingle(EP_RAM_BASE, 4096);
    again.submit();
    ch.issuePending();
    expect(await within(again.done, 'after terminate')).toMatchObject({ cookie: 3, result: 'ok' });
  });

  it('terminateSync on an idle channel unconfigures it', async () => {
    const f = await open();
    const ch = await f.request('endpoint/wr0');
    ch.configure({ deviceAddr: HOST_RAM_BASE });
    await ch.terminateSync();
    expectEpdma(() => ch.prepSlaveSingle(EP_RAM_BASE, 64), 'EINVAL');
  });
});

describe('abort (engine fault)', () => {
  it('a write to an unmapped device address completes write-failed, names the address, writes nothing', async () => {
    const f = await open();
    const ch = await f.request('endpoint/wr0');
    fillPattern(f.epRam.bytes, 4);
    const stream = collect(ch.completions$);
    ch.configure({ deviceAddr: 0x5 });
    const bad = ch.prepSlaveSingle(EP_RAM_BASE, 64);
    bad.submit();
    ch.issuePending();
    const c = await bad.done;
    expect(c.result).toBe('write-failed');
    expect(c.reason).toBe('engine abort: destination address not mapped at 0x5');
    expect(c.reasonCode).toBe('destination-not-mapped');
    expect(c.bytes).toBe(0);
    expect(c.residue).toBe(0); // the only chunk was started: xfer_sz = alloc_sz
    expect(ch.txStatus(1).status).toBe('error');
    await waitFor(() => stream.items.length === 1, 'the abort to be emitted');
    expect((await stats(ch)).aborted).toBe(1);

    // Across the end of host RAM: the element faults whole, before a byte moves.
    const end = HOST_RAM_BASE + f.hostRam.size;
    ch.configure({ deviceAddr: end - 64 });
    const crossing = ch.prepSlaveSingle(EP_RAM_BASE, 128);
    crossing.submit();
    ch.issuePending();
    const c2 = await crossing.done;
    expect(c2.result).toBe('write-failed');
    expect(c2.reason).toMatch(/^engine abort: destination address not mapped at 0x/);
    expect(nonZero(view(f.hostRam, end - 64, 64))).toBe(0);
  });

  it('a read from an unmapped host address writes nothing into EP memory', async () => {
    const f = await open({ writeChannels: 0, readChannels: 1 });
    const ch = await f.request('endpoint/rd0');
    ch.configure({ deviceAddr: 0x2000_0000 });
    const d = ch.prepSlaveSg(scatteredSegments(f.epRam, EP_RAM_BASE, 200).segments);
    d.submit();
    ch.issuePending();
    const c = await d.done;
    expect(c).toMatchObject({ result: 'read-failed', reason: 'engine abort: source address not mapped at 0x20000000' });
    expect(nonZero(view(f.epRam, EP_RAM_BASE, 0x10000))).toBe(0);
  });

  it('after an abort the channel is IDLE: queued descriptors wait for the next issuePending', async () => {
    const f = await open();
    const ch = await f.request('endpoint/wr0');
    fillPattern(f.epRam.bytes, 8);
    ch.configure({ deviceAddr: 0x5 });
    const bad = ch.prepSlaveSingle(EP_RAM_BASE, 64);
    bad.submit();
    const good = [0, 512].map((o) => {
      ch.configure({ deviceAddr: HOST_RAM_BASE + o });
      return ch.prepSlaveSingle(EP_RAM_BASE + o, 512);
    });
    for (const d of good) d.submit();
    ch.issuePending();
    expect((await bad.done).result).toBe('write-failed');
    let settled = 0;
    for (const d of good) void d.done.then(() => settled++);
    // They are in the ring, and stay there: the kernel goes IDLE on ABORT. The worker polls
    // its ring between round trips and still says it is not busy.
    for (let round = 0; round < 3; round++) await expectRejects(ch.pause(), 'EPERM');
    expect(await stats(ch)).toMatchObject({ descriptors: 0, aborted: 1, chunks: 0 });
    expect(settled).toBe(0);
    expect(ch.actor.control.status()).toBe(CHANNEL_IDLE);
    expect(ch.txStatus(2)).toEqual({ status: 'in-progress', residue: 512 });
    expect(nonZero(view(f.hostRam, HOST_RAM_BASE, 1024))).toBe(0);
    // issue_pending restarts the issued queue even with nothing newly submitted.
    ch.issuePending();
    const done = await within(Promise.all(good.map((d) => d.done)), 'queued descriptors after issuePending');
    expect(done.map((c) => [c.cookie, c.result])).toEqual([[2, 'ok'], [3, 'ok']]);
    expect(sameBytes(view(f.hostRam, HOST_RAM_BASE, 1024), view(f.epRam, EP_RAM_BASE, 1024))).toBe(true);
  });

  it('after an abort, newly issued work restarts the queue in order', async () => {
    const f = await open();
    const ch = await f.request('endpoint/wr0');
    ch.configure({ deviceAddr: 0x5 });
    const bad = ch.prepSlaveSingle(EP_RAM_BASE, 64);
    bad.submit();
    ch.configure({ deviceAddr: HOST_RAM_BASE });
    const queued = ch.prepSlaveSingle(EP_RAM_BASE, 64);
    queued.submit();
    ch.issuePending();
    expect((await bad.done).result).toBe('write-failed');
    const fresh = ch.prepSlaveSingle(EP_RAM_BASE, 64);
    fresh.submit();
    ch.issuePending();
    const order: number[] = [];
    await Promise.all([queued, fresh].map((d) => d.done.then((c) => order.push(c.cookie))));
    expect(order).toEqual([2, 3]);
    expect(ch.actor.control.status()).not.toBe(CHANNEL_BUSY);
  });
});
