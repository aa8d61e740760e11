/**
 * Channel control through the public API while a transfer is actually running: txStatus
 * residue through a long multi-chunk descriptor, pause/resume at chunk boundaries,
 * terminateAsync/synchronize/terminateSync and release during traffic. The link budget
 * (endpoint.linkBytesPerSec) slows the engines so a descriptor of several LL chunks lasts long
 * enough to be looked at; the assertions are about states and bytes, not durations.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestbed } from '../../dist/api/index.js';
import type { Completion, DmaBuffer, DmaChannel, Segment, Testbed, TxDescriptor } from '../../dist/api/index.js';
import { expectEpdma, expectRejects, fill, firstDifference, isZero, Opened, run, waitFor, within } from './testbed-support.js';

/** dw-edma fits ll_max = 4096 / 24 - 1 = 169 data elements in a 4 KiB LL region. */
const LL_MAX = 169;
const SEG = 32 * 1024;
const SEGMENTS = 1000; // six chunks: 5 x 169 + 155
const TOTAL = SEGMENTS * SEG;
const CHUNK_BYTES = LL_MAX * SEG;

let bed: Testbed;
const opened = new Opened();

beforeAll(async () => {
  bed = await createTestbed({
    // 100 MB/s: a 169-element chunk of 32 KiB segments takes ~55 ms.
    endpoint: { linkBytesPerSec: 100e6, writeChannels: 2, readChannels: 2, memoryBytes: 96 << 20 },
    host: { memoryBytes: 96 << 20 },
  });
});
afterAll(async () => {
  await bed?.close();
});
afterEach(async () => {
  await opened.closeAll();
});

interface Long {
  ch: DmaChannel;
  d: TxDescriptor;
  cookie: number;
  src: DmaBuffer;
  dst: DmaBuffer;
  /** Where segment i of the source lives (every other 32 KiB block: a real scatter list). */
  segments: Segment[];
}

type SideName = 'host' | 'endpoint';
const peerOf = (side: SideName): SideName => (side === 'host' ? 'endpoint' : 'host');

/**
 * A mem-to-dev channel of `side` (host: delegated read channel, endpoint: EP-local write
 * channel) with one 1000-segment descriptor prepared and submitted.
 */
async function longTransfer(side: SideName, seed: number): Promise<Long> {
  const ch = opened.channel(await bed[side].dma.requestChannel({ direction: 'mem-to-dev' }));
  const src = opened.alloc(bed[side].memory, 2 * TOTAL);
  const dst = opened.alloc(bed[peerOf(side)].memory, TOTAL);
  fill(src.bytes.subarray(0, 1 << 20), seed);
  for (let off = 1 << 20; off < src.length; off += 1 << 20) src.bytes.copyWithin(off, 0, 1 << 20);
  // Make every 32 KiB block distinct, so a misplaced segment shows.
  for (let i = 0; i < 2 * SEGMENTS; i++) {
    src.bytes[i * SEG] = i & 0xff;
    src.bytes[i * SEG + 1] = i >> 8;
  }
  dst.bytes.fill(0);
  const segments = Array.from({ length: SEGMENTS }, (_, i) => ({ addr: src.addr + 2 * i * SEG, length: SEG }));
  ch.configure({ deviceAddr: dst.addr });
  const d = ch.prepSlaveSg(segments);
  const cookie = d.submit();
  return { ch, d, cookie, src, dst, segments };
}

/** The first `bytes` of the device range, as the scatter list says they should be. */
function expectGathered(t: Long, bytes: number): void {
  for (let i = 0; i * SEG < bytes; i++) {
    const n = Math.min(SEG, bytes - i * SEG);
    const off = t.segments[i]!.addr - t.src.addr;
    const diff = firstDifference(t.dst.bytes.subarray(i * SEG, i * SEG + n), t.src.bytes.subarray(off, off + n));
    if (diff !== -1) expect(`segment ${i} differs at byte ${diff}`).toBe('equal');
  }
}

/** Residues txStatus may report: alloc_sz - xfer_sz, xfer_sz growing a chunk as each starts. */
const CHUNK_RESIDUES = Array.from({ length: Math.ceil(SEGMENTS / LL_MAX) + 1 }, (_, k) => Math.max(0, TOTAL - k * CHUNK_BYTES));

/** Waits until the worker has started the descriptor (its first chunk is counted). */
async function started(t: Long): Promise<void> {
  await waitFor(() => t.ch.txStatus(t.cookie).residue < TOTAL, 'the long descriptor to start');
}

const SIDES = ['host', 'endpoint'] as const;

describe.each(SIDES)('txStatus through a long multi-chunk transfer (%s)', (side) => {
  it('residue falls chunk by chunk (descriptor-granular), never rises, and ends at 0 with every byte moved', async () => {
    const t = await longTransfer(side, 1);
    expect(t.ch.txStatus(t.cookie)).toEqual({ status: 'in-progress', residue: TOTAL });
    t.ch.issuePending();
    // Sample txStatus every millisecond until it reports completion; check the samples after.
    const samples: { status: string; residue: number }[] = [];
    await waitFor(() => {
      const s = t.ch.txStatus(t.cookie);
      if (s.status === 'complete') return true;
      if (samples.at(-1)?.residue !== s.residue || samples.at(-1)?.status !== s.status) samples.push(s);
      return false;
    }, 'the long descriptor to complete');
    for (const s of samples) {
      expect(s.status).toBe('in-progress');
      expect(CHUNK_RESIDUES).toContain(s.residue);
    }
    const seen = samples.map((s) => s.residue);
    for (let i = 1; i < seen.length; i++) expect(seen[i]!).toBeLessThan(seen[i - 1]!);
    // Six chunks of ~55 ms each: the middle of the transfer is seen.
    expect(seen.some((r) => r > 0 && r < TOTAL)).toBe(true);
    const c = await within(t.d.done, 'the long descriptor');
    expect(c).toMatchObject({ cookie: t.cookie, result: 'ok', residue: 0, bytes: TOTAL, channel: t.ch.info });
    expect(t.ch.txStatus(t.cookie)).toEqual({ status: 'complete', residue: 0 });
    expectGathered(t, TOTAL);
  });
});

describe.each(SIDES)('pause and resume (%s)', (side) => {
  it('pause stops at a chunk boundary with the chunk-granular residue; nothing moves until resume; then it completes', async () => {
    const t = await longTransfer(side, 2);
    const stream: Completion[] = [];
    const sub = t.ch.completions$.subscribe((c) => stream.push(c));
    try {
      t.ch.issuePending();
      await started(t);
      await t.ch.pause();
      const s = t.ch.txStatus(t.cookie);
      expect(s.status).toBe('paused');
      expect(CHUNK_RESIDUES.slice(1)).toContain(s.residue);
      const copied = TOTAL - s.residue;
      // At the boundary the started chunks are complete and nothing after them moved.
      expectGathered(t, copied);
      expect(isZero(t.dst.bytes.subarray(copied))).toBe(true);
      // Round trips to the paused worker (pausing again is EPERM): it polls its rings in
      // between, and still nothing moves.
      for (let round = 0; round < 3; round++) await expectRejects(t.ch.pause(), 'EPERM', t.ch.info.name);
      expect(t.ch.txStatus(t.cookie)).toEqual(s);
      expect(isZero(t.dst.bytes.subarray(copied))).toBe(true);
      expect(stream).toHaveLength(0);
      await t.ch.resume();
      const c = await within(t.d.done, 'the resumed descriptor');
      expect(c).toMatchObject({ result: 'ok', residue: 0, bytes: TOTAL });
      expectGathered(t, TOTAL);
      await waitFor(() => stream.length === 1, 'the completion');
      await expectRejects(t.ch.resume(), 'EPERM', 'not paused');
    } finally {
      sub.unsubscribe();
    }
  });

  it('pause on an unconfigured or idle channel and resume on a running one are EPERM', async () => {
    const ch = opened.channel(await bed[side].dma.requestChannel());
    await expectRejects(ch.pause(), 'EPERM', 'not configured');
    ch.configure({ deviceAddr: bed[peerOf(side)].memory.base });
    await expectRejects(ch.pause(), 'EPERM', ch.info.name);
    await expectRejects(ch.resume(), 'EPERM', 'not paused');
    const t = await longTransfer(side, 3);
    t.ch.issuePending();
    await started(t);
    await expectRejects(t.ch.resume(), 'EPERM', 'not paused');
    await t.ch.terminateSync();
  });
});

describe.each(SIDES)('terminate (%s)', (side) => {
  it('terminateAsync + synchronize during traffic: running and queued descriptors end aborted "terminated", no callbacks; configure again to reuse', async () => {
    const t = await longTransfer(side, 4);
    const small = opened.alloc(bed[side].memory, 4096);
    fill(small.bytes, 40);
    const queued = t.ch.prepSlaveSingle(small.addr, 4096);
    const queuedCookie = queued.submit();
    const stream: Completion[] = [];
    const merged: Completion[] = [];
    const subs = [t.ch.completions$.subscribe((c) => stream.push(c)), bed.completions$.subscribe((c) => merged.push(c))];
    try {
      t.ch.issuePending();
      const notIssued = t.ch.prepSlaveSingle(small.addr, 64);
      const notIssuedCookie = notIssued.submit();
      await started(t);
      t.ch.terminateAsync();
      // The channel stays configured until the STOP takes effect (dw-edma); then a prep needs
      // a new slave config. The worker may already have taken the STOP by the next line, so
      // right after the request a prep either works or is that EINVAL, nothing else.
      try {
        expect(t.ch.prepSlaveSingle(small.addr, 64)).toBeDefined();
      } catch (err) {
        expect(err).toMatchObject({ code: 'EINVAL' });
        expect((err as Error).message).toMatch(/configure/);
      }
      await within(t.ch.synchronize(), 'synchronize');
      expectEpdma(() => t.ch.prepSlaveSingle(small.addr, 64), 'EINVAL', 'configure');
      const results = await within(Promise.all([t.d.done, queued.done, notIssued.done]), 'terminated descriptors');
      expect(results.map((c) => c.cookie)).toEqual([t.cookie, queuedCookie, notIssuedCookie]);
      for (const c of results) expect(c).toMatchObject({ result: 'aborted', reason: 'terminated' });
      for (const c of results) expect(t.ch.txStatus(c.cookie).status).toBe('error');
      // A terminated descriptor gets no callback (DMAengine): no stream sees it. Streams emit
      // as records are drained, before `done` resolves, so they are complete here.
      expect(stream).toHaveLength(0);
      expect(merged.filter((c) => c.channel.name === t.ch.info.name)).toHaveLength(0);
      // Stopped before the end: the last chunk never moved.
      expect(isZero(t.dst.bytes.subarray(TOTAL - SEG))).toBe(true);

      const dst = opened.alloc(bed[peerOf(side)].memory, 4096);
      t.ch.configure({ deviceAddr: dst.addr });
      const again = t.ch.prepSlaveSingle(small.addr, 4096);
      expect(again.submit()).toBe(notIssuedCookie + 1);
      t.ch.issuePending();
      const c = await within(again.done, 'after terminate');
      expect(c).toMatchObject({ result: 'ok' });
      expect(firstDifference(dst.bytes, small.bytes)).toBe(-1);
      // In order on the stream: the first and only item is the new descriptor.
      expect(stream).toEqual([c]);
      expect(merged.filter((m) => m.channel.name === t.ch.info.name)).toEqual([c]);
    } finally {
      for (const s of subs) s.unsubscribe();
    }
  });

  it('terminateSync on a paused channel ends the paused descriptor; resume is EPERM afterwards; transfer() works again', async () => {
    const t = await longTransfer(side, 5);
    t.ch.issuePending();
    await started(t);
    await t.ch.pause();
    await within(t.ch.terminateSync(), 'terminateSync');
    expect(await t.d.done).toMatchObject({ result: 'aborted', reason: 'terminated' });
    await expectRejects(t.ch.resume(), 'EPERM');
    const dst = opened.alloc(bed[peerOf(side)].memory, 1024);
    const c = await within(run(t.ch.transfer({ local: t.src.addr, remote: dst.addr, length: 1024 })), 'transfer after terminate');
    expect(c.result).toBe('ok');
    expect(firstDifference(dst.bytes, t.src.bytes.subarray(0, 1024))).toBe(-1);
  });

  it('terminateSync on an idle channel only unconfigures it', async () => {
    const ch = opened.channel(await bed[side].dma.requestChannel());
    ch.configure({ deviceAddr: bed[peerOf(side)].memory.base });
    await ch.terminateSync();
    const b = opened.alloc(bed[side].memory, 64);
    expectEpdma(() => ch.prepSlaveSingle(b.addr, 64), 'EINVAL', 'configure');
  });

  it('release during traffic terminates the channel\'s work; the channel is requested again and works', async () => {
    const t = await longTransfer(side, 6);
    t.ch.issuePending();
    await started(t);
    await within(t.ch.release(), 'release');
    expect(await t.d.done).toMatchObject({ result: 'aborted', reason: 'terminated' });
    await expectRejects(t.ch.pause(), 'EPERM', 'not requested');
    const again = opened.channel(await bed[side].dma.requestChannel({ name: t.ch.info.name }));
    const dst = opened.alloc(bed[peerOf(side)].memory, 4096);
    const c = await within(run(again.transfer({ local: t.src.addr, remote: dst.addr, length: 4096 })), 'transfer on the re-requested channel');
    expect(c.result).toBe('ok');
    expect(firstDifference(dst.bytes, t.src.bytes.subarray(0, 4096))).toBe(-1);
  });
});
