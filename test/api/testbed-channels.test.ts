/**
 * The channel half of the public contract (API.md "Topology", "Channels") on a real default
 * testbed, through the package entry only: which channels each side gets, requestChannel's
 * filters, the DMAengine descriptor calls, transfer() and the completion streams, and every
 * misuse error. One testbed is shared by the file (creating one starts eight workers); each
 * test releases the channels and frees the buffers it took.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestbed, EpdmaError } from '../../dist/api/index.js';
import type { ChannelInfo, Completion, DmaChannel, Testbed } from '../../dist/api/index.js';
import {
  expectEpdma, expectRejects, expectWorkerIdle, fill, firstDifference, isZero, Opened, run, same, viewAt, waitFor, wholeMemory, within,
} from './testbed-support.js';

let bed: Testbed;
const opened = new Opened();

beforeAll(async () => {
  // Small memories so whole-memory snapshots stay cheap; everything else is the default.
  bed = await createTestbed({ endpoint: { memoryBytes: 8 << 20 }, host: { memoryBytes: 16 << 20 } });
});
afterAll(async () => {
  await bed?.close();
});
afterEach(async () => {
  // Releases the channels and frees the buffers the test took; the testbed stays.
  await opened.closeAll();
});

const request = async (side: 'host' | 'endpoint', filter?: Parameters<Testbed['host']['dma']['requestChannel']>[0]): Promise<DmaChannel> =>
  opened.channel(await bed[side].dma.requestChannel(filter));

const info = (side: 'host' | 'endpoint', kind: 'read' | 'write', hwChannel: number, direction: 'mem-to-dev' | 'dev-to-mem'): ChannelInfo =>
  ({ side, kind, hwChannel, direction, name: `${side}/${kind === 'write' ? 'wr' : 'rd'}${hwChannel}` });

// Cookies are per channel for the channel's lifetime: this test must be the first to use
// host/rd0 and endpoint/wr0.
describe('descriptors: configure, prep, submit, issuePending, txStatus', () => {
  it.each([
    ['host', 'host/rd0'],
    ['endpoint', 'endpoint/wr0'],
  ] as const)('%s: cookies from 1, nothing runs before issuePending, then all complete in order with the bytes', async (side, name) => {
    const ch = await request(side, { name });
    const own = bed[side].memory;
    const other = bed[side === 'host' ? 'endpoint' : 'host'].memory;
    const src = opened.alloc(own, 3 * 8192);
    const dst = opened.alloc(other, 3 * 8192);
    fill(src.bytes, 11);
    dst.bytes.fill(0);
    const descs = [0, 1, 2].map((i) => {
      ch.configure({ deviceAddr: dst.addr + i * 8192 });
      return ch.prepSlaveSingle(src.addr + i * 8192, 8192 - i * 1000);
    });
    expect(descs.map((d) => d.submit())).toEqual([1, 2, 3]);
    // Submitted, not issued: queued with every byte left, nothing moved.
    for (let i = 0; i < 3; i++) expect(ch.txStatus(i + 1)).toEqual({ status: 'in-progress', residue: 8192 - i * 1000 });
    await expectWorkerIdle(ch);
    expect(isZero(dst.bytes)).toBe(true);
    ch.issuePending();
    const done: Completion[] = await within(Promise.all(descs.map((d) => d.done)), 'three descriptors');
    expect(done.map((c) => [c.cookie, c.result, c.residue, c.bytes])).toEqual([[1, 'ok', 0, 8192], [2, 'ok', 0, 7192], [3, 'ok', 0, 6192]]);
    for (const c of done) {
      expect(c.channel).toEqual(ch.info);
      expect(c.completedNs).toBeGreaterThanOrEqual(c.submittedNs);
      expect(c.reason).toBeUndefined();
    }
    for (let i = 0; i < 3; i++) {
      const n = 8192 - i * 1000;
      expect(firstDifference(dst.bytes.subarray(i * 8192, i * 8192 + n), src.bytes.subarray(i * 8192, i * 8192 + n))).toBe(-1);
      // Nothing past each descriptor's end.
      expect(isZero(dst.bytes.subarray(i * 8192 + n, (i + 1) * 8192))).toBe(true);
    }
    for (let cookie = 1; cookie <= 3; cookie++) expect(ch.txStatus(cookie)).toEqual({ status: 'complete', residue: 0 });
    expectEpdma(() => ch.txStatus(4), 'EINVAL', 'cookie 4');
    expectEpdma(() => ch.txStatus(0), 'EINVAL', 'cookie 0');
    // A descriptor is submitted once.
    expectEpdma(() => descs[0]!.submit(), 'EINVAL', 'cookie 1');
  });
});

describe('topology', () => {
  it('the host gets the delegated read channels (mem-to-dev); the endpoint keeps its write channels (mem-to-dev)', () => {
    expect(bed.host.dma.channels).toEqual([0, 1, 2, 3].map((n) => info('host', 'read', n, 'mem-to-dev')));
    expect(bed.endpoint.dma.channels).toEqual([0, 1, 2, 3].map((n) => info('endpoint', 'write', n, 'mem-to-dev')));
    expect(bed.endpoint.delegated).toEqual(bed.host.dma.channels);
  });

  it('the host sees the function pci-epf-dma published: IDs, class, BARs, the same metadata', () => {
    const dev = bed.host.device;
    expect(dev.vendorId).toBe(0x1234);
    expect(dev.deviceId).toBe(0x5678);
    expect(dev.classCode).toBe(0x080100);
    const ep = bed.endpoint.metadata;
    expect(dev.metadata.mapFormat).toBe('unroll');
    expect(ep.mapFormat).toBe('unroll');
    expect(dev.metadata.read.length).toBe(4);
    expect(dev.metadata.write.length).toBe(0);
    expect([dev.metadata.read.length, dev.metadata.write.length]).toEqual([ep.read.length, ep.write.length]);
    expect(dev.metadata.read.map((e) => e.hwChannel)).toEqual([0, 1, 2, 3]);
    expect(dev.metadata.ready).toBe(true);
    expect(dev.metadata.hostRequest).toBe(true);
    // The registers live in one of the function's BARs, inside it.
    const regBar = dev.bars.find((b) => b.index === dev.metadata.regBar);
    expect(regBar).toBeDefined();
    expect(dev.metadata.regOffset + BigInt(dev.metadata.regSize)).toBeLessThanOrEqual(BigInt(regBar!.size));
    expect(new Set(dev.bars.map((b) => b.index)).size).toBe(dev.bars.length);
  });
});

describe('requestChannel', () => {
  it('filters by direction, kind, hwChannel and name; a filter nothing matches is ENODEV naming it', async () => {
    const byHw = await request('host', { hwChannel: 2 });
    expect(byHw.info).toEqual(info('host', 'read', 2, 'mem-to-dev'));
    const byName = await request('endpoint', { name: 'endpoint/wr3' });
    expect(byName.info.name).toBe('endpoint/wr3');
    const byKind = await request('host', { kind: 'read' });
    expect(byKind.info.kind).toBe('read');
    expect(byKind.info.name).not.toBe('host/rd2');
    const byDir = await request('endpoint', { direction: 'mem-to-dev', kind: 'write', hwChannel: 1 });
    expect(byDir.info.name).toBe('endpoint/wr1');

    // The host has no write channels (wrChans 0) and nothing dev-to-mem: the hint names the attribute.
    await expectRejects(bed.host.dma.requestChannel({ kind: 'write' }), 'ENODEV', '"kind":"write"', 'function.wrChans');
    await expectRejects(bed.host.dma.requestChannel({ direction: 'dev-to-mem' }), 'ENODEV', 'dev-to-mem', 'function.wrChans');
    await expectRejects(bed.endpoint.dma.requestChannel({ direction: 'dev-to-mem' }), 'ENODEV', 'dev-to-mem', 'function.rdChans');
    await expectRejects(bed.endpoint.dma.requestChannel({ hwChannel: 7 }), 'ENODEV', '"hwChannel":7');
    await expectRejects(bed.endpoint.dma.requestChannel({ name: 'host/rd0' }), 'ENODEV', 'host/rd0');
    // A channel already held is not handed out twice.
    await expectRejects(bed.host.dma.requestChannel({ name: 'host/rd2' }), 'EBUSY', 'host/rd2');
  });

  it('EBUSY once every channel is held; a released channel is reusable', async () => {
    const held = [];
    for (let i = 0; i < 4; i++) held.push(await request('host'));
    expect(held.map((c) => c.info.name).sort()).toEqual(['host/rd0', 'host/rd1', 'host/rd2', 'host/rd3']);
    await expectRejects(bed.host.dma.requestChannel(), 'EBUSY', 'host');
    await expectRejects(bed.host.dma.requestChannel({ direction: 'mem-to-dev' }), 'EBUSY', 'mem-to-dev');

    const victim = held[1]!;
    await victim.release();
    await victim.release(); // twice is harmless
    // A released handle is dead to its old owner.
    expectEpdma(() => victim.configure({ deviceAddr: bed.endpoint.memory.base }), 'EPERM', victim.info.name);
    const again = await request('host');
    expect(again.info).toEqual(victim.info);
    const src = opened.alloc(bed.host.memory, 4096);
    const dst = opened.alloc(bed.endpoint.memory, 4096);
    fill(src.bytes, 5);
    const c = await within(run(again.transfer({ local: src, remote: dst.addr, length: 4096 })), 'transfer on the reused channel');
    expect(c.result).toBe('ok');
    expect(same(dst.bytes, src.bytes)).toBe(true);
  });
});

describe('prepSlaveSg', () => {
  it('gathers scattered host segments into one device range (host/rd, mem-to-dev)', async () => {
    const ch = await request('host');
    const lens = [1, 63, 4096, 777, 65536, 4];
    const bufs = lens.map((l) => opened.alloc(bed.host.memory, l + 128));
    bufs.forEach((b, i) => fill(b.bytes, 100 + i));
    const total = lens.reduce((a, b) => a + b, 0);
    const dst = opened.alloc(bed.endpoint.memory, total + 64);
    dst.bytes.fill(0);
    ch.configure({ deviceAddr: dst.addr });
    // Odd offsets too: segments need no alignment.
    const d = ch.prepSlaveSg(bufs.map((b, i) => ({ addr: b.addr + (i % 3), length: lens[i]! })));
    d.submit();
    ch.issuePending();
    const c = await within(d.done, 'sg descriptor');
    expect(c).toMatchObject({ result: 'ok', residue: 0, bytes: total });
    const expected = Buffer.concat(bufs.map((b, i) => b.bytes.subarray(i % 3, (i % 3) + lens[i]!)));
    expect(firstDifference(dst.bytes.subarray(0, total), expected)).toBe(-1);
    expect(isZero(dst.bytes.subarray(total))).toBe(true);
  });

  it('the longest segment list a transfer carries works across many LL chunks; one more is EINVAL naming the count', async () => {
    const ch = await request('endpoint');
    ch.configure({ deviceAddr: bed.host.memory.base });
    const src = opened.alloc(bed.endpoint.memory, 64 * 4096);
    const segs = (n: number): { addr: number; length: number }[] => Array.from({ length: n }, (_, i) => ({ addr: src.addr + (i % 4096) * 64, length: 64 }));
    const tooLong = expectEpdma(() => ch.prepSlaveSg(segs(100_000)), 'EINVAL', '100000');
    const max = Number(/(\d+) one transfer can carry/.exec(tooLong.message)?.[1]);
    expect(max).toBeGreaterThan(169); // more than one chunk of a 4 KiB LL region
    expectEpdma(() => ch.prepSlaveSg(segs(max + 1)), 'EINVAL', String(max + 1));
    fill(src.bytes, 9);
    const dst = opened.alloc(bed.host.memory, max * 64);
    dst.bytes.fill(0);
    ch.configure({ deviceAddr: dst.addr });
    // Segment i is block i of src: the device range is src repeated.
    const d = ch.prepSlaveSg(segs(max));
    d.submit();
    ch.issuePending();
    expect(await within(d.done, 'max-length sg')).toMatchObject({ result: 'ok', residue: 0, bytes: max * 64 });
    for (let off = 0; off < max * 64; off += src.length) {
      const n = Math.min(src.length, max * 64 - off);
      expect(firstDifference(dst.bytes.subarray(off, off + n), src.bytes.subarray(0, n))).toBe(-1);
    }
  });
});

describe('transfer()', () => {
  it('is cold: nothing is prepared or submitted before subscribe; each subscription is one transfer', async () => {
    const ch = await request('host');
    const src = opened.alloc(bed.host.memory, 8192);
    const dst = opened.alloc(bed.endpoint.memory, 8192);
    fill(src.bytes, 21);
    dst.bytes.fill(0);
    ch.configure({ deviceAddr: dst.addr + 4096 });
    const first = ch.prepSlaveSingle(src.addr, 16);
    const c0 = first.submit();
    const cold = ch.transfer({ local: src, remote: dst.addr, length: 4096 });
    // An eager transfer() would have issued: the worker would be running it or have moved it.
    await expectWorkerIdle(ch);
    expect(isZero(dst.bytes.subarray(0, 4096))).toBe(true);
    // No cookie was taken by the unsubscribed observable.
    const second = ch.prepSlaveSingle(src.addr, 16);
    expect(second.submit()).toBe(c0 + 1);
    ch.issuePending();
    await within(Promise.all([first.done, second.done]), 'the prepared descriptors');
    expect(isZero(dst.bytes.subarray(0, 4096))).toBe(true);

    const emitted: Completion[] = [];
    let completed = false;
    await within(new Promise<void>((resolve, reject) => cold.subscribe({ next: (c) => emitted.push(c), error: reject, complete: () => { completed = true; resolve(); } })), 'cold transfer');
    expect(completed).toBe(true);
    expect(emitted).toHaveLength(1);
    expect(emitted[0]).toMatchObject({ cookie: c0 + 2, result: 'ok', residue: 0, bytes: 4096 });
    expect(same(dst.bytes.subarray(0, 4096), src.bytes.subarray(0, 4096))).toBe(true);
    // The same observable again: a second, independent transfer (local as a bus address).
    dst.bytes.fill(0, 0, 4096);
    const again = await within(run(ch.transfer({ local: src.addr + 4096, remote: dst.addr, length: 4096 })), 'second subscription');
    expect(again.cookie).toBe(c0 + 3);
    expect(same(dst.bytes.subarray(0, 4096), src.bytes.subarray(4096))).toBe(true);
    const third = await within(run(cold), 'resubscribed cold transfer');
    expect(third.cookie).toBe(c0 + 4);
  });

  it('segments form: gathers like prepSlaveSg', async () => {
    const ch = await request('endpoint');
    const a = opened.alloc(bed.endpoint.memory, 300);
    const b = opened.alloc(bed.endpoint.memory, 500);
    fill(a.bytes, 1);
    fill(b.bytes, 2);
    const dst = opened.alloc(bed.host.memory, 800);
    const c = await within(run(ch.transfer({ segments: [{ addr: b.addr, length: 500 }, { addr: a.addr, length: 300 }], deviceAddr: dst.addr })), 'sg transfer');
    expect(c).toMatchObject({ result: 'ok', bytes: 800 });
    expect(same(dst.bytes, Buffer.concat([b.bytes, a.bytes]))).toBe(true);
  });

  it('an aborted transfer errors EIO with the completion attached, and emits nothing', async () => {
    const ch = await request('host');
    const src = opened.alloc(bed.host.memory, 4096);
    const outside = bed.endpoint.memory.base + bed.endpoint.memory.size + 0x10_0000;
    const emitted: Completion[] = [];
    const err = await within(new Promise<unknown>((resolve) => {
      ch.transfer({ local: src, remote: outside, length: 4096 }).subscribe({ next: (c) => emitted.push(c), error: resolve, complete: () => resolve(new Error('completed')) });
    }), 'aborted transfer');
    expect(err).toBeInstanceOf(EpdmaError);
    const e = err as EpdmaError;
    expect(e.code).toBe('EIO');
    // The engine could not write the device side: write-failed, not a bare abort.
    expect(e.message).toContain('write-failed');
    expect(e.message).toContain(ch.info.name);
    const c: Completion = e.completion!; // typed; `detail` still holds the same object
    expect(e.detail).toBe(c);
    expect(c).toMatchObject({ result: 'write-failed', channel: ch.info, bytes: 0 });
    expect(c.reason).toMatch(/not mapped/);
    expect(emitted).toHaveLength(0);
    expect(ch.txStatus(c.cookie).status).toBe('error');
    // The channel is IDLE after an abort, not broken: the next transfer runs.
    const dst = opened.alloc(bed.endpoint.memory, 4096);
    expect((await within(run(ch.transfer({ local: src, remote: dst.addr, length: 4096 })), 'after abort')).result).toBe('ok');
  });

  it('misuse errors through the observable: EINVAL naming the value', async () => {
    const ch = await request('host');
    const src = opened.alloc(bed.host.memory, 64);
    const dst = opened.alloc(bed.endpoint.memory, 64);
    await expectRejects(run(ch.transfer({ local: src, remote: dst.addr, length: 0 })), 'EINVAL', 'length 0');
    await expectRejects(run(ch.transfer({ local: 0x1234, remote: dst.addr, length: 64 })), 'EINVAL', '0x1234', 'outside host memory');
    await expectRejects(run(ch.transfer({ segments: [], deviceAddr: dst.addr })), 'EINVAL', 'empty segment list');
  });

  it('unsubscribing before completion terminates nothing: the transfer and the rest of the queue finish', async () => {
    const ch = await request('endpoint');
    const src = opened.alloc(bed.endpoint.memory, 256 * 1024);
    const dst = opened.alloc(bed.host.memory, 2 * 256 * 1024);
    fill(src.bytes, 33);
    dst.bytes.fill(0);
    const seen: Completion[] = [];
    const sub = ch.completions$.subscribe((c) => seen.push(c));
    try {
      const s = ch.transfer({ local: src, remote: dst.addr, length: src.length }).subscribe({ error: () => undefined });
      ch.configure({ deviceAddr: dst.addr + src.length });
      const d = ch.prepSlaveSingle(src.addr, src.length);
      const cookie = d.submit();
      s.unsubscribe();
      ch.issuePending();
      expect(await within(d.done, 'the queued descriptor')).toMatchObject({ cookie, result: 'ok' });
      await waitFor(() => seen.length === 2, 'both completions on completions$');
      expect(seen.map((c) => [c.cookie, c.result])).toEqual([[cookie - 1, 'ok'], [cookie, 'ok']]);
      expect(same(dst.bytes.subarray(0, src.length), src.bytes)).toBe(true);
      expect(same(dst.bytes.subarray(src.length), src.bytes)).toBe(true);
    } finally {
      sub.unsubscribe();
    }
  });
});

describe('completion streams', () => {
  it('channel and engine completions$ are hot: a subscriber sees only what completes after it subscribed', async () => {
    const ch = await request('host');
    const src = opened.alloc(bed.host.memory, 1024);
    const dst = opened.alloc(bed.endpoint.memory, 1024);
    const before = await within(run(ch.transfer({ local: src, remote: dst.addr, length: 1024 })), 'first');
    const onChannel: Completion[] = [];
    const onEngine: Completion[] = [];
    const subs = [ch.completions$.subscribe((c) => onChannel.push(c)), bed.host.dma.completions$.subscribe((c) => onEngine.push(c))];
    try {
      // A replaying stream would have emitted the first completion synchronously on subscribe.
      expect(onChannel).toHaveLength(0);
      expect(onEngine).toHaveLength(0);
      const after = await within(run(ch.transfer({ local: src, remote: dst.addr, length: 512 })), 'second');
      await waitFor(() => onEngine.length === 1 && onChannel.length === 1, 'the second completion on both streams');
      expect(onChannel[0]).toEqual(after);
      expect(onEngine[0]).toEqual(after);
      expect(after.cookie).toBe(before.cookie + 1);
    } finally {
      for (const s of subs) s.unsubscribe();
    }
  });

  it('Testbed.completions$ merges both sides; each engine stream carries only its own side', async () => {
    const host = await request('host');
    const ep = await request('endpoint');
    const merged: Completion[] = [];
    const hostOnly: Completion[] = [];
    const epOnly: Completion[] = [];
    const subs = [
      bed.completions$.subscribe((c) => merged.push(c)),
      bed.host.dma.completions$.subscribe((c) => hostOnly.push(c)),
      bed.endpoint.dma.completions$.subscribe((c) => epOnly.push(c)),
    ];
    try {
      const hbuf = opened.alloc(bed.host.memory, 4096);
      const ebuf = opened.alloc(bed.endpoint.memory, 4096);
      const n = 5;
      await within(Promise.all(Array.from({ length: n }, (_, i) => Promise.all([
        run(host.transfer({ local: hbuf.addr + i * 64, remote: ebuf.addr + i * 64, length: 64 })),
        run(ep.transfer({ local: ebuf.addr + 2048 + i * 64, remote: hbuf.addr + 2048 + i * 64, length: 64 })),
      ]))), 'both sides');
      await waitFor(() => merged.length === 2 * n, 'all completions merged');
      expect(merged.filter((c) => c.channel.side === 'host').map((c) => c.channel.name)).toEqual(Array(n).fill(host.info.name));
      expect(merged.filter((c) => c.channel.side === 'endpoint').map((c) => c.channel.name)).toEqual(Array(n).fill(ep.info.name));
      expect(hostOnly).toHaveLength(n);
      expect(epOnly).toHaveLength(n);
      expect(hostOnly.every((c) => c.channel.side === 'host')).toBe(true);
      expect(epOnly.every((c) => c.channel.side === 'endpoint')).toBe(true);
      // Per channel, completions arrive in cookie order.
      for (const side of [hostOnly, epOnly]) {
        const cookies = side.map((c) => c.cookie);
        expect(cookies).toEqual([...cookies].sort((a, b) => a - b));
      }
    } finally {
      for (const s of subs) s.unsubscribe();
    }
  });
});

describe('misuse: EpdmaError with the code and the offending value', () => {
  it('prep before configure, wrong direction, zero length, empty list, foreign memory, bad device address', async () => {
    const host = await request('host');
    const ep = await request('endpoint');
    const h = opened.alloc(bed.host.memory, 256);
    const e = opened.alloc(bed.endpoint.memory, 256);
    expectEpdma(() => host.prepSlaveSingle(h.addr, 64), 'EINVAL', host.info.name, 'configure');
    expectEpdma(() => host.prepSlaveSg([{ addr: h.addr, length: 64 }]), 'EINVAL', 'configure');
    expectEpdma(() => host.configure({ deviceAddr: -4 }), 'EINVAL', '-4');
    expectEpdma(() => host.configure({ deviceAddr: 1.5 }), 'EINVAL', '1.5');
    // The host's read channel only moves host memory to the device.
    expectEpdma(() => host.configure({ deviceAddr: e.addr, direction: 'dev-to-mem' }), 'EINVAL', "'dev-to-mem'", "'mem-to-dev'");
    host.configure({ deviceAddr: e.addr });
    expectEpdma(() => host.prepSlaveSingle(h.addr, 64, { direction: 'dev-to-mem' }), 'EINVAL', "'dev-to-mem'", host.info.name);
    expectEpdma(() => host.prepSlaveSingle(h.addr, 0), 'EINVAL', 'length 0');
    expectEpdma(() => host.prepSlaveSg([{ addr: h.addr, length: 64 }, { addr: h.addr, length: -8 }]), 'EINVAL', 'segment 1', 'length -8');
    expectEpdma(() => host.prepSlaveSg([]), 'EINVAL', 'empty segment list');
    // Segments are this side's memory: EP memory is not the host's.
    expectEpdma(() => host.prepSlaveSingle(e.addr, 64), 'EINVAL', `0x${e.addr.toString(16)}`, 'outside host memory');
    expectEpdma(() => ep.prepSlaveSingle(h.addr, 64), 'EINVAL', 'configure'); // ep not configured yet
    ep.configure({ deviceAddr: h.addr });
    expectEpdma(() => ep.prepSlaveSingle(h.addr, 64), 'EINVAL', `0x${h.addr.toString(16)}`, 'outside endpoint memory');
    const end = bed.endpoint.memory.base + bed.endpoint.memory.size;
    expectEpdma(() => ep.prepSlaveSingle(end - 32, 64), 'EINVAL', `0x${(end - 32).toString(16)}`, 'outside endpoint memory');
    // Nothing above left a descriptor behind: the next cookie is still the first one.
    const d = ep.prepSlaveSingle(e.addr, 64);
    const first = d.submit();
    expectEpdma(() => ep.txStatus(first + 1), 'EINVAL', String(first + 1));
    ep.issuePending();
    expect((await within(d.done, 'a valid descriptor after the errors')).result).toBe('ok');
  });

  it('memory: alloc/free, ENOMEM naming the size, EINVAL for bad sizes, alignments and foreign buffers', () => {
    const mem = bed.endpoint.memory;
    const a = mem.alloc(1000, { align: 4096 });
    expect(a.addr % 4096).toBe(0);
    expect(a.length).toBe(1000);
    expect(a.bytes.length).toBe(1000);
    expect(a.addr).toBeGreaterThanOrEqual(mem.base);
    expect(a.addr + a.length).toBeLessThanOrEqual(mem.base + mem.size);
    const b = mem.alloc(64);
    expect(b.addr >= a.addr + a.length || b.addr + b.length <= a.addr).toBe(true);
    // bytes is the memory itself: what one buffer writes, a whole-memory view reads.
    a.bytes[7] = 0x5a;
    expect(viewAt(mem, a.addr + 7, 1)[0]).toBe(0x5a);
    mem.free(a);
    mem.free(b);
    expectEpdma(() => mem.free(a), 'EINVAL', `0x${a.addr.toString(16)}`);
    expectEpdma(() => mem.alloc(mem.size + 4096), 'ENOMEM', `0x${(mem.size + 4096).toString(16)}`);
    expectEpdma(() => mem.alloc(0), 'EINVAL', 'size 0');
    expectEpdma(() => mem.alloc(64, { align: 48 }), 'EINVAL', 'align 48');
    // Every test frees what it took, so the whole memory is one free block again.
    const all = mem.alloc(mem.size);
    expect(all.addr).toBe(mem.base);
    mem.free(all);
    const foreign = bed.host.memory.alloc(64);
    expectEpdma(() => mem.free(foreign), 'EINVAL');
    bed.host.memory.free(foreign);
  });
});

describe('an engine abort writes nothing', () => {
  it.each([
    ['host', 'beyond EP memory', (s: number, e: number) => e + 0x20_0000, 4096],
    ['host', 'across the end of EP memory', (s: number, e: number) => e - 64, 128],
    ['host', 'below EP memory', (s: number) => s - 0x1000, 256],
    ['endpoint', 'beyond host memory', (s: number, e: number) => e + 0x1000, 4096],
  ] as const)('%s channel, device address %s: completes write-failed naming the address; EP and host memory unchanged', async (side, _what, where, length) => {
    const ch = await request(side);
    const own = bed[side].memory;
    const peer = bed[side === 'host' ? 'endpoint' : 'host'].memory;
    const src = opened.alloc(own, length);
    fill(src.bytes, 77);
    const deviceAddr = where(peer.base, peer.base + peer.size);
    const epBefore = Buffer.from(wholeMemory(bed.endpoint.memory));
    const hostBefore = Buffer.from(wholeMemory(bed.host.memory));
    const onStream: Completion[] = [];
    const sub = ch.completions$.subscribe((c) => onStream.push(c));
    try {
      ch.configure({ deviceAddr });
      const d = ch.prepSlaveSingle(src.addr, length);
      const cookie = d.submit();
      ch.issuePending();
      const c = await within(d.done, 'the abort');
      expect(c).toMatchObject({ cookie, result: 'write-failed', bytes: 0, channel: ch.info });
      expect(c.reason).toMatch(/^engine abort: destination address not mapped at 0x[0-9a-f]+$/);
      expect(ch.txStatus(cookie).status).toBe('error');
      await waitFor(() => onStream.length === 1, 'the abort on completions$');
      expect(onStream[0]).toEqual(c);
    } finally {
      sub.unsubscribe();
    }
    expect(firstDifference(wholeMemory(bed.endpoint.memory), epBefore)).toBe(-1);
    expect(firstDifference(wholeMemory(bed.host.memory), hostBefore)).toBe(-1);
  });
});
