/**
 * The channel state machine through the whole stack (handle -> rings -> channel worker ->
 * in-process engine -> pump), in both quirks modes: pause right after issuePending, the
 * dw-edma hang after a pause on the last chunk, terminate that frees nothing, interrupt:
 * false, and the failing side of an abort. The sequence-by-sequence table is in
 * test/workers/driver/channel-core.test.ts; this proves the worker behaves the same.
 */
import { describe, expect, it } from 'vitest';
import { CHANNEL_BUSY, STATE_RUNNING, stateStatus } from '../../dist/protocol/channel-control-block.js';
import type { ChannelHandle } from '../../dist/api/dma-channel.js';
import type { ChannelWorkerStats } from '../../dist/protocol/channel-worker-data.js';
import {
  collect, EP_RAM_BASE, fillPattern, HOST_RAM_BASE, LL_MAX_4K, nonZero, sameBytes, view, waitFor, within, useSideFixture,
} from '../support/side-fixture.js';

const open = useSideFixture();
const stats = (h: ChannelHandle): Promise<ChannelWorkerStats> => h.actor.call('stats');
const SEG = 64;

describe.each(['contract', 'dw-edma'] as const)('pause right after issuePending (quirks %s)', (quirks) => {
  it('is accepted every time, holds at the first chunk boundary, txStatus says paused, resume finishes: bytes checked', async () => {
    const f = await open({ quirks });
    const ch = await f.request('endpoint/wr0');
    const n = LL_MAX_4K + 31; // two chunks
    const total = n * SEG;
    const firstChunk = LL_MAX_4K * SEG;
    for (let round = 0; round < 25; round++) {
      fillPattern(f.epRam.bytes.subarray(0, total), round + 1);
      f.hostRam.bytes.fill(0, 0, total + 64);
      ch.configure({ deviceAddr: HOST_RAM_BASE });
      const d = ch.prepSlaveSg(Array.from({ length: n }, (_, i) => ({ addr: EP_RAM_BASE + i * SEG, length: SEG })));
      const cookie = d.submit();
      ch.issuePending();
      await ch.pause(); // never EPERM: issuePending left the channel BUSY
      expect(ch.txStatus(cookie)).toEqual({ status: 'paused', residue: total - firstChunk });
      // Exactly the first chunk moved, nothing after it.
      expect(sameBytes(view(f.hostRam, HOST_RAM_BASE, firstChunk), view(f.epRam, EP_RAM_BASE, firstChunk))).toBe(true);
      expect(nonZero(view(f.hostRam, HOST_RAM_BASE + firstChunk, total - firstChunk + 64))).toBe(0);
      await ch.resume();
      expect(await within(d.done, `round ${round}`)).toMatchObject({ cookie, result: 'ok', residue: 0, bytes: total });
      expect(sameBytes(view(f.hostRam, HOST_RAM_BASE, total), view(f.epRam, EP_RAM_BASE, total))).toBe(true);
      expect(nonZero(view(f.hostRam, HOST_RAM_BASE + total, 64))).toBe(0);
    }
    expect((await stats(ch)).chunks).toBe(50);
  });
});

describe('a pause that lands on the last chunk', () => {
  it('contract: resume completes the descriptor and the queue runs', async () => {
    const f = await open();
    const ch = await f.request('endpoint/wr0');
    fillPattern(f.epRam.bytes.subarray(0, 8192), 5);
    ch.configure({ deviceAddr: HOST_RAM_BASE });
    const one = ch.prepSlaveSingle(EP_RAM_BASE, 4096);
    ch.configure({ deviceAddr: HOST_RAM_BASE + 4096 });
    const queued = ch.prepSlaveSingle(EP_RAM_BASE + 4096, 4096);
    one.submit();
    ch.issuePending();
    await ch.pause();
    queued.submit();
    ch.issuePending(); // issued while paused: waits
    expect(ch.txStatus(1)).toEqual({ status: 'paused', residue: 0 });
    expect(ch.txStatus(2)).toEqual({ status: 'paused', residue: 4096 });
    await ch.resume();
    const done = await within(Promise.all([one.done, queued.done]), 'both after resume');
    expect(done.map((c) => [c.cookie, c.result])).toEqual([[1, 'ok'], [2, 'ok']]);
    expect(sameBytes(view(f.hostRam, HOST_RAM_BASE, 8192), view(f.epRam, EP_RAM_BASE, 8192))).toBe(true);
  });

  it('dw-edma: after resume the channel stays BUSY with nothing running; terminate and release recover it', async () => {
    const f = await open({ quirks: 'dw-edma' });
    const ch = await f.request('endpoint/wr0');
    const stream = collect(ch.completions$);
    ch.configure({ deviceAddr: HOST_RAM_BASE });
    const one = ch.prepSlaveSingle(EP_RAM_BASE, 4096);
    one.submit();
    ch.issuePending();
    await ch.pause();
    await ch.resume();
    // A control round trip: the worker's loop ran after the resume and found no chunk to start.
    await stats(ch);
    await stats(ch);
    const ctl = ch.actor.control;
    expect(stateStatus(ctl.state())).toBe(CHANNEL_BUSY); // BUSY, no RUNNING bit: nothing on the hardware
    expect(ctl.state() & STATE_RUNNING).toBe(0);
    expect(ctl.currentCookie()).toBe(1);
    expect(ch.txStatus(1)).toEqual({ status: 'in-progress', residue: 0 });
    const s = await stats(ch);
    expect([s.chunks, s.descriptors, s.engine!.chunks]).toEqual([1, 0, 1]);
    // Queued work never starts behind it.
    const queued = ch.prepSlaveSingle(EP_RAM_BASE, 64);
    queued.submit();
    ch.issuePending();
    await stats(ch);
    expect(ch.txStatus(2)).toEqual({ status: 'in-progress', residue: 64 });
    expect((await stats(ch)).engine!.chunks).toBe(1);
    // terminate_all sees the hardware stopped: IDLE and unconfigured, nothing completed.
    await ch.terminateSync();
    expect(ctl.status()).toBe(0);
    expect(() => ch.prepSlaveSingle(EP_RAM_BASE, 64)).toThrow(/EINVAL/);
    await ch.release();
    expect(await one.done).toMatchObject({ result: 'aborted', reason: 'channel released' });
    expect(await queued.done).toMatchObject({ result: 'aborted', reason: 'channel released' });
    expect(stream.items).toHaveLength(0);
  });
});

describe('terminate', () => {
  it('dw-edma: frees nothing; the submitted descriptors run after a new slave config and complete with callbacks', async () => {
    const f = await open({ quirks: 'dw-edma' });
    const ch = await f.request('endpoint/wr0');
    fillPattern(f.epRam.bytes.subarray(0, 4096), 9);
    const stream = collect(ch.completions$);
    const ds = [0, 2048].map((o) => {
      ch.configure({ deviceAddr: HOST_RAM_BASE + o });
      return ch.prepSlaveSingle(EP_RAM_BASE + o, 2048);
    });
    for (const d of ds) d.submit();
    await ch.terminateSync();
    expect(ch.txStatus(1)).toEqual({ status: 'in-progress', residue: 0 }); // submitted, not issued
    expect(() => ch.prepSlaveSingle(EP_RAM_BASE, 64)).toThrow(/EINVAL/);
    ch.issuePending(); // unconfigured: issue_pending does nothing
    ch.configure({ deviceAddr: HOST_RAM_BASE });
    ch.issuePending();
    const done = await within(Promise.all(ds.map((d) => d.done)), 'the old descriptors');
    expect(done.map((c) => [c.cookie, c.result])).toEqual([[1, 'ok'], [2, 'ok']]);
    await waitFor(() => stream.items.length === 2, 'both callbacks');
    expect(sameBytes(view(f.hostRam, HOST_RAM_BASE, 4096), view(f.epRam, EP_RAM_BASE, 4096))).toBe(true);
  });
});

describe.each(['contract', 'dw-edma'] as const)('interrupt: false (quirks %s)', (quirks) => {
  it(quirks === 'contract' ? 'completes (done, txStatus) with no emission on any completions$' : 'dw-edma ignores the flag: the callback runs', async () => {
    const f = await open({ quirks });
    const ch = await f.request('endpoint/wr0');
    const onChannel = collect(ch.completions$);
    const onSide = collect(f.side.completions$);
    ch.configure({ deviceAddr: HOST_RAM_BASE });
    const quiet = ch.prepSlaveSingle(EP_RAM_BASE, 256, { interrupt: false });
    const loud = ch.prepSlaveSingle(EP_RAM_BASE, 256);
    quiet.submit();
    loud.submit();
    ch.issuePending();
    expect(await quiet.done).toMatchObject({ cookie: 1, result: 'ok', bytes: 256 });
    expect(ch.txStatus(1)).toEqual({ status: 'complete', residue: 0 });
    // The loud one completes after the quiet one, so the streams are past cookie 1.
    await loud.done;
    await waitFor(() => onSide.items.some((c) => c.cookie === 2), 'the loud completion');
    const want = quirks === 'contract' ? [2] : [1, 2];
    expect(onChannel.items.map((c) => c.cookie)).toEqual(want);
    expect(onSide.items.map((c) => c.cookie)).toEqual(want);
  });
});

describe('transfer() in dw-edma mode', () => {
  it('is the slave config, prep, submit and issue a kernel client does: it runs on a channel never configured', async () => {
    const f = await open({ quirks: 'dw-edma' });
    const ch = await f.request('endpoint/wr0');
    fillPattern(f.epRam.bytes.subarray(0, 4096), 11);
    const c = await within(new Promise((resolve, reject) => {
      ch.transfer({ local: EP_RAM_BASE, remote: HOST_RAM_BASE + 0x1000, length: 4096 }).subscribe({ next: resolve, error: reject });
    }), 'the transfer');
    expect(c).toMatchObject({ result: 'ok', bytes: 4096 });
    expect(sameBytes(view(f.hostRam, HOST_RAM_BASE + 0x1000, 4096), view(f.epRam, EP_RAM_BASE, 4096))).toBe(true);
    // The channel is now configured to that device address.
    const d = ch.prepSlaveSingle(EP_RAM_BASE, 64);
    d.submit();
    ch.issuePending();
    expect((await d.done).result).toBe('ok');
  });
});

describe('an abort in dw-edma mode', () => {
  it('says aborted (the kernel never says which side failed), and txStatus says complete with residue 0', async () => {
    const f = await open({ quirks: 'dw-edma' });
    const ch = await f.request('endpoint/wr0');
    ch.configure({ deviceAddr: 0x5 });
    const bad = ch.prepSlaveSingle(EP_RAM_BASE, 64);
    bad.submit();
    ch.issuePending();
    expect(await bad.done).toMatchObject({ result: 'aborted', reason: 'engine abort: destination address not mapped at 0x5', residue: 0 });
    expect(ch.txStatus(1)).toEqual({ status: 'complete', residue: 0 });
  });
});
