/**
 * The testbed's lifecycle through the public API (API.md "Topology"): events$ (ready for late
 * subscribers, link flaps, channel crash and restart), linkDown()/linkUp() holding host work
 * until the windows are programmed again, faults.crashChannel, and close(): during traffic,
 * twice, and through Symbol.asyncDispose.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Completion, DmaChannel, RuntimeEvent, TxDescriptor } from '../../dist/api/index.js';
import { expectEpdma, expectRejects, expectWorkerIdle, fill, firstDifference, isZero, Opened, run, waitFor, within, expectWorkerStartedNothing } from './testbed-support.js';

const opened = new Opened();
afterEach(async () => {
  await opened.closeAll();
});

/** Small testbed: one channel of each kind is enough for lifecycle work. */
const small = { endpoint: { writeChannels: 1, readChannels: 1, memoryBytes: 4 << 20 }, host: { memoryBytes: 8 << 20 } } as const;

function record(events: RuntimeEvent[]): (e: RuntimeEvent) => void {
  return (e) => events.push(e);
}

describe('events$', () => {
  it('a subscriber that arrives after createTestbed resolved still sees ready first; so does a second one', async () => {
    const bed = await opened.testbed(small);
    const a: RuntimeEvent[] = [];
    const b: RuntimeEvent[] = [];
    const subs = [bed.events$.subscribe(record(a))];
    subs.push(bed.events$.subscribe(record(b)));
    try {
      expect(a.map((e) => e.type)).toEqual(['ready']);
      expect(b.map((e) => e.type)).toEqual(['ready']);
      expect(typeof a[0]!.atNs).toBe('bigint');
      expect(a[0]!.atNs).toBeLessThanOrEqual(process.hrtime.bigint());
    } finally {
      for (const s of subs) s.unsubscribe();
    }
  });
});

describe('link down and up', () => {
  it('emit link-down and link-up; a host transfer submitted while down waits and completes ok after link up', async () => {
    const bed = await opened.testbed(small);
    const events: RuntimeEvent[] = [];
    const sub = bed.events$.subscribe(record(events));
    try {
      const ch = opened.channel(await bed.host.dma.requestChannel({ direction: 'mem-to-dev' }));
      const src = opened.alloc(bed.host.memory, 64 * 1024);
      const dst = opened.alloc(bed.endpoint.memory, 64 * 1024);
      fill(src.bytes, 3);
      dst.bytes.fill(0);
      // A transfer before the flap, so the mapping the host used before is known good.
      expect((await within(run(ch.transfer({ local: src, remote: dst.addr, length: 4096 })), 'before the flap')).result).toBe('ok');
      dst.bytes.fill(0);

      await within(bed.linkDown(), 'linkDown');
      expect(events.map((e) => e.type)).toEqual(['ready', 'link-down']);
      ch.configure({ deviceAddr: dst.addr });
      const d = ch.prepSlaveSingle(src.addr, src.length);
      const cookie = d.submit();
      ch.issuePending();
      let settled = false;
      void d.done.then(() => (settled = true));
      // The worker polled its ring between round trips and held the descriptor back: nothing
      // ran on windows that are not programmed: not settled, not started, no byte. (The
      // channel is BUSY: issuePending started it, as the kernel's does; READY holds the chunk.)
      await expectWorkerStartedNothing(ch);
      expect(settled).toBe(false);
      expect(ch.txStatus(cookie)).toEqual({ status: 'in-progress', residue: src.length });
      expect(isZero(dst.bytes)).toBe(true);

      await within(bed.linkUp(), 'linkUp');
      expect(events.map((e) => e.type)).toEqual(['ready', 'link-down', 'link-up']);
      const c = await within(d.done, 'the held transfer after link up');
      expect(c).toMatchObject({ cookie, result: 'ok', residue: 0, bytes: src.length });
      expect(firstDifference(dst.bytes, src.bytes)).toBe(-1);
      // Event times follow each other.
      for (let i = 1; i < events.length; i++) expect(events[i]!.atNs).toBeGreaterThanOrEqual(events[i - 1]!.atNs);
      // Both sides keep working after the flap.
      const ep = opened.channel(await bed.endpoint.dma.requestChannel({ direction: 'mem-to-dev' }));
      const back = opened.alloc(bed.host.memory, src.length);
      expect((await within(run(ep.transfer({ local: dst, remote: back.addr, length: src.length })), 'EP after the flap')).result).toBe('ok');
      expect(firstDifference(back.bytes, src.bytes)).toBe(-1);
    } finally {
      sub.unsubscribe();
    }
  });

  it('linkDown twice and linkUp twice resolve (already in that state)', async () => {
    const bed = await opened.testbed(small);
    await within(bed.linkUp(), 'linkUp while up');
    await within(bed.linkDown(), 'linkDown');
    await within(bed.linkDown(), 'linkDown while down');
    await within(bed.linkUp(), 'linkUp');
    await within(bed.linkUp(), 'linkUp while up');
    const ch = opened.channel(await bed.host.dma.requestChannel());
    const src = opened.alloc(bed.host.memory, 4096);
    const dst = opened.alloc(bed.endpoint.memory, 4096);
    expect((await within(run(ch.transfer({ local: src, remote: dst.addr, length: 4096 })), 'after the flaps')).result).toBe('ok');
  });
});

describe('faults.crashChannel', () => {
  it.each(['host/rd0', 'endpoint/wr0'])('%s: channel-crashed then channel-restarted, and the requested handle keeps working', async (name) => {
    const bed = await opened.testbed(small);
    const events: RuntimeEvent[] = [];
    const sub = bed.events$.subscribe(record(events));
    try {
      const side = name.startsWith('host/') ? 'host' : 'endpoint';
      const ch = opened.channel(await bed[side].dma.requestChannel({ name }));
      const src = opened.alloc(bed[side].memory, 8192);
      const dst = opened.alloc(bed[side === 'host' ? 'endpoint' : 'host'].memory, 8192);
      fill(src.bytes, 8);
      const before = await within(run(ch.transfer({ local: src, remote: dst.addr, length: 4096 })), 'before the crash');
      await within(bed.faults.crashChannel(name), 'crashChannel');
      await waitFor(() => events.some((e) => e.type === 'channel-restarted'), 'the restart');
      const mine = events.filter((e) => e.type.startsWith('channel-'));
      expect(mine.map((e) => [e.type, e.name])).toEqual([['channel-crashed', name], ['channel-restarted', name]]);
      expect(mine[0]!.reason).toBeTruthy();
      const after = await within(run(ch.transfer({ local: src.addr + 4096, remote: dst.addr + 4096, length: 4096 })), 'after the restart');
      expect(after.cookie).toBe(before.cookie + 1);
      expect(firstDifference(dst.bytes, src.bytes)).toBe(-1);
    } finally {
      sub.unsubscribe();
    }
  });

  it('a name that is no channel is EINVAL naming it', async () => {
    const bed = await opened.testbed(small);
    await expectRejects(bed.faults.crashChannel('host/wr9'), 'EINVAL', 'host/wr9');
    await expectRejects(bed.faults.crashChannel('nowhere'), 'EINVAL', 'nowhere');
  });
});

describe('close', () => {
  it('during traffic on every channel: resolves, every done settles, the streams complete; twice is fine', async () => {
    const bed = await opened.testbed({ endpoint: { linkBytesPerSec: 400e6, memoryBytes: 32 << 20 }, host: { memoryBytes: 32 << 20 } });
    const pending: Promise<Completion>[] = [];
    let streamDone = 0;
    let eventsDone = 0;
    bed.completions$.subscribe({ complete: () => streamDone++ });
    bed.events$.subscribe({ complete: () => eventsDone++ });
    const channels: DmaChannel[] = [];
    for (const side of ['host', 'endpoint'] as const) {
      for (const info of bed[side].dma.channels) {
        const ch = opened.channel(await bed[side].dma.requestChannel({ name: info.name }));
        channels.push(ch);
        ch.completions$.subscribe({ complete: () => streamDone++ });
        const src = opened.alloc(bed[side].memory, 1 << 20);
        const dst = opened.alloc(bed[side === 'host' ? 'endpoint' : 'host'].memory, 1 << 20);
        ch.configure({ deviceAddr: dst.addr });
        const descs: TxDescriptor[] = [];
        for (let i = 0; i < 16; i++) descs.push(ch.prepSlaveSg(Array.from({ length: 16 }, (_, k) => ({ addr: src.addr + k * 65536, length: 65536 }))));
        for (const d of descs) d.submit();
        ch.issuePending();
        for (const d of descs) pending.push(d.done);
      }
    }
    expect(channels).toHaveLength(8);
    // 8 channels x 16 MiB on a 400 MB/s link each: still running when close comes.
    await waitFor(() => channels.some((c) => c.txStatus(1).residue < 1 << 20), 'traffic to start');
    await within(bed.close(), 'close during traffic');
    const results = await within(Promise.all(pending), 'every descriptor to settle');
    expect(results).toHaveLength(8 * 16);
    for (const c of results) expect(['ok', 'aborted']).toContain(c.result);
    expect(results.some((c) => c.result === 'aborted')).toBe(true);
    for (const c of results.filter((r) => r.result === 'aborted')) expect(c.reason).toBeTruthy();
    expect(streamDone).toBe(1 + 8);
    expect(eventsDone).toBe(1);
    await within(bed.close(), 'second close');

    // Everything after close says so.
    await expectRejects(bed.host.dma.requestChannel(), 'ESHUTDOWN');
    await expectRejects(bed.endpoint.dma.requestChannel(), 'ESHUTDOWN');
    await expectRejects(bed.linkDown(), 'ESHUTDOWN', 'linkDown');
    await expectRejects(bed.linkUp(), 'ESHUTDOWN', 'linkUp');
    const ch = channels[0]!;
    expectEpdma(() => ch.configure({ deviceAddr: bed.endpoint.memory.base }), 'ESHUTDOWN', ch.info.name);
    await expectRejects(run(ch.transfer({ local: bed.host.memory.base, remote: bed.endpoint.memory.base, length: 64 })), 'ESHUTDOWN');
    // A late events$ subscriber on a closed testbed gets no ready, just the end.
    const late: RuntimeEvent[] = [];
    let lateDone = false;
    bed.events$.subscribe({ next: (e) => late.push(e), complete: () => (lateDone = true) });
    expect(late).toHaveLength(0);
    expect(lateDone).toBe(true);
  });

  it('close on an idle testbed, then again; releasing a channel after close is ESHUTDOWN', async () => {
    const bed = await opened.testbed(small);
    const ch = await bed.host.dma.requestChannel();
    let streamEnded = false;
    ch.completions$.subscribe({ complete: () => (streamEnded = true) });
    await within(bed.close(), 'close');
    expect(streamEnded).toBe(true);
    await expectRejects(bed.host.dma.requestChannel(), 'ESHUTDOWN');
    await expect(within(Promise.all([bed.close(), bed.close()]), 'close twice more')).resolves.toEqual([undefined, undefined]);
    await expectRejects(ch.release(), 'ESHUTDOWN', 'release', ch.info.name);
    expectEpdma(() => ch.configure({ deviceAddr: bed.endpoint.memory.base }), 'ESHUTDOWN', ch.info.name);
  });

  it('Symbol.asyncDispose closes it (await using)', async () => {
    let escaped: import('../../dist/api/index.js').Testbed | undefined;
    {
      await using bed = await opened.testbed(small);
      escaped = bed;
      const ch = await bed.endpoint.dma.requestChannel();
      const src = bed.endpoint.memory.alloc(64);
      expect((await within(run(ch.transfer({ local: src, remote: bed.host.memory.base, length: 64 })), 'inside the block')).result).toBe('ok');
    }
    await expectRejects(escaped.host.dma.requestChannel(), 'ESHUTDOWN');
    // Disposing directly is the same close, idempotent.
    await within(Promise.resolve(escaped[Symbol.asyncDispose]()), 'dispose again');
  });
});
