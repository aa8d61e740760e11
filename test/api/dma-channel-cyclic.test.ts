/**
 * prepDmaCyclic through the public API on a real testbed, both sides (a host channel with the
 * EP ring as its device address, and an EP channel whose own memory is the ring), in both
 * semantics: the DMAengine contract (a Completion per period with `period`, wrapping, until
 * terminated, nothing after) and `driver.quirks: 'dw-edma'` (the kernel's count bursts of len
 * at one address, chunked by ll_max, one completion, channel IDLE).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestbed } from '../../dist/api/index.js';
import type { Completion, DmaChannel, Testbed } from '../../dist/api/index.js';
import type { ChannelHandle } from '../../dist/api/dma-channel.js';
import type { ChannelWorkerStats } from '../../dist/protocol/channel-worker-data.js';
import { expectEpdma, fill, firstDifference, Opened, run, same, waitFor, within } from './testbed-support.js';

const PERIOD = 4096;
const PERIODS = 8;
const RING = PERIOD * PERIODS;
const GUARD = 512;
const GUARD_BYTE = 0xa5;
const OBSERVED = 100;

/**
 * hdma-native delegates part of a direction: the host gets rd0-1 (mem-to-dev), the endpoint
 * keeps rd2-3 (dev-to-mem) and its one write channel wr0 (mem-to-dev).
 * A 16 MB/s link makes a 4 KiB period last ~0.25 ms, so 100 periods are observed in a moment
 * without flooding the main thread.
 */
function options(quirks: 'contract' | 'dw-edma') {
  return {
    endpoint: { mapFormat: 'hdma-native' as const, writeChannels: 1, readChannels: 4, memoryBytes: 8 << 20, linkBytesPerSec: 16_000_000 },
    function: { wrChans: 0, rdChans: 2 },
    host: { memoryBytes: 16 << 20 },
    driver: { quirks },
  };
}

/** The EP ring is the destination: a host read channel (mem-to-dev) or an EP read channel (dev-to-mem). */
const INTO_EP_RING = [
  ['host', 'host/rd0'],
  ['endpoint', 'endpoint/rd2'],
] as const;

interface Setup {
  ch: DmaChannel;
  /** The period source in host memory and the ring with a guard on each side in EP memory. */
  source: Uint8Array;
  ring: Uint8Array;
  guarded: Uint8Array;
  /** prepDmaCyclic's addr (this side's buffer) and the slave config's address (the other side). */
  addr: number;
  deviceAddr: number;
}

async function setup(bed: Testbed, opened: Opened, side: 'host' | 'endpoint', name: string, sourceBytes = RING): Promise<Setup> {
  const ch = opened.channel(await bed[side].dma.requestChannel({ name }));
  const src = opened.alloc(bed.host.memory, sourceBytes);
  const dst = opened.alloc(bed.endpoint.memory, RING + 2 * GUARD);
  fill(src.bytes, 41);
  dst.bytes.fill(GUARD_BYTE);
  const ringAddr = dst.addr + GUARD;
  const ring = dst.bytes.subarray(GUARD, GUARD + RING);
  ring.fill(0);
  // The host reads its own memory into the EP ring; the EP pulls host memory into its own ring.
  return side === 'host'
    ? { ch, source: src.bytes, ring, guarded: dst.bytes, addr: src.addr, deviceAddr: ringAddr }
    : { ch, source: src.bytes, ring, guarded: dst.bytes, addr: ringAddr, deviceAddr: src.addr };
}

function guardsIntact(guarded: Uint8Array, ringBytes: number): boolean {
  const before = guarded.subarray(0, GUARD);
  const after = guarded.subarray(GUARD + ringBytes);
  return before.every((b) => b === GUARD_BYTE) && after.every((b) => b === GUARD_BYTE);
}

describe('contract mode: a ring of periods, a Completion per period, until terminated', () => {
  let bed: Testbed;
  const opened = new Opened();
  beforeAll(async () => {
    bed = await createTestbed(options('contract'));
  });
  // Channels and buffers per test; the testbed per describe.
  afterEach(() => opened.closeAll());
  afterAll(() => bed?.close());

  it.each(INTO_EP_RING)('%s (%s): 8 periods observed for 100+, numbers wrap, bytes land per period, terminate stops it', async (_side, name) => {
    const s = await setup(bed, opened, _side, name);
    s.ch.configure({ deviceAddr: s.deviceAddr });
    const d = s.ch.prepDmaCyclic(s.addr, RING, PERIOD);
    const periods: Completion[] = [];
    const landed: boolean[] = [];
    const sub = s.ch.completions$.subscribe((c) => {
      periods.push(c);
      // On the first lap, a period's bytes are in its slot when its completion arrives.
      if (periods.length <= PERIODS && c.period !== undefined) {
        const at = c.period * PERIOD;
        landed.push(same(s.ring.subarray(at, at + PERIOD), s.source.subarray(at, at + PERIOD)));
      }
    });
    try {
      const cookie = d.submit();
      s.ch.issuePending();
      await waitFor(() => periods.length >= OBSERVED, `${OBSERVED} periods`);
      expect(s.ch.txStatus(cookie).status).toBe('in-progress');
      s.ch.terminateAsync();
      const atTerminate = periods.length;
      await within(s.ch.synchronize(), 'terminate');
      const end = await within(d.done, 'the cyclic descriptor settles');
      expect(end).toMatchObject({ cookie, result: 'aborted', reason: 'terminated' });

      expect(landed).toEqual(Array(PERIODS).fill(true));
      periods.forEach((c, i) => {
        expect(c).toMatchObject({ cookie, result: 'ok', bytes: PERIOD, period: i % PERIODS, residue: (PERIODS - 1 - (i % PERIODS)) * PERIOD });
        expect(c.channel).toEqual(s.ch.info);
      });
      // Every slot holds its period's bytes, nothing outside the ring was touched.
      expect(firstDifference(s.ring, s.source)).toBe(-1);
      expect(guardsIntact(s.guarded, RING)).toBe(true);

      // No callback after terminate: the ring's records are FIFO, so a late period record would
      // reach the stream before the completion of a transfer run on the same channel now.
      s.ch.configure({ deviceAddr: s.deviceAddr });
      const next = s.ch.prepSlaveSingle(s.addr, 64);
      next.submit();
      s.ch.issuePending();
      expect(await within(next.done, 'a transfer after the terminate')).toMatchObject({ result: 'ok', bytes: 64 });
      expect(periods.length).toBe(atTerminate + 1);
      expect(periods.at(-1)!.period).toBeUndefined();
      expect(s.ch.stats()).toMatchObject({ submitted: 2, completed: 1, errors: 0, bytes: atTerminate * PERIOD + 64 });
    } finally {
      sub.unsubscribe();
    }
  });

  it('terminateAsync inside a period callback: periods the worker already published get no callback', async () => {
    const s = await setup(bed, opened, 'endpoint', 'endpoint/rd3');
    const ring = (s.ch as ChannelHandle).actor.completions;
    s.ch.configure({ deviceAddr: s.deviceAddr });
    const d = s.ch.prepDmaCyclic(s.addr, RING, PERIOD);
    const seen: Completion[] = [];
    let queuedAtTerminate = 0;
    const sub = s.ch.completions$.subscribe((c) => {
      seen.push(c);
      if (seen.length !== 3) return;
      // Hold the main thread until the worker has published more periods behind this one
      // (a condition on the ring's counters, with a deadline), then terminate: those records
      // are drained after the call and must not reach the stream.
      const end = Date.now() + 10_000;
      while (ring.available() < 3 && Date.now() < end) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
      queuedAtTerminate = ring.available();
      s.ch.terminateAsync();
    });
    try {
      d.submit();
      s.ch.issuePending();
      await within(d.done, 'the terminated cyclic descriptor');
      await s.ch.synchronize();
      expect(queuedAtTerminate).toBeGreaterThanOrEqual(3);
      expect(seen.map((c) => c.period)).toEqual([0, 1, 2]);
      // The bytes of dropped periods are not counted either.
      expect(s.ch.stats().bytes).toBe(3 * PERIOD);
    } finally {
      sub.unsubscribe();
    }
  });

  it('an engine abort ends a cyclic transfer: one error completion naming the address, no period after it', async () => {
    const s = await setup(bed, opened, 'host', 'host/rd1');
    s.ch.configure({ deviceAddr: 0x7_0000_0000 }); // nothing maps it
    const seen: Completion[] = [];
    const sub = s.ch.completions$.subscribe((c) => seen.push(c));
    try {
      const d = s.ch.prepDmaCyclic(s.addr, RING, PERIOD);
      const cookie = d.submit();
      s.ch.issuePending();
      const c = await within(d.done, 'the aborted cyclic descriptor');
      // host/rd1 moves host memory to the EP: the unmapped EP address is the destination.
      expect(c).toMatchObject({ cookie, result: 'write-failed', bytes: 0 });
      expect(c.reason).toContain('0x700000000');
      expect(seen).toEqual([c]);
      expect(s.ch.stats()).toMatchObject({ submitted: 1, completed: 0, errors: 1, bytes: 0 });
    } finally {
      sub.unsubscribe();
    }
  });

  it('pause holds the ring at a period boundary and resume continues with the next period', async () => {
    const s = await setup(bed, opened, 'host', 'host/rd1');
    s.ch.configure({ deviceAddr: s.deviceAddr });
    const d = s.ch.prepDmaCyclic(s.addr, RING, PERIOD);
    const periods: number[] = [];
    const sub = s.ch.completions$.subscribe((c) => periods.push(c.period!));
    try {
      const cookie = d.submit();
      s.ch.issuePending();
      await waitFor(() => periods.length >= 5, '5 periods');
      await within(s.ch.pause(), 'pause');
      expect(s.ch.txStatus(cookie).status).toBe('paused');
      const atPause = periods.length;
      await s.ch.resume();
      await waitFor(() => periods.length >= atPause + 10, '10 periods after resume');
      // Numbering carries on where the pause left it: no period skipped or repeated.
      periods.forEach((p, i) => expect(p).toBe(i % PERIODS));
      await s.ch.terminateSync();
    } finally {
      sub.unsubscribe();
    }
  });

  it('refuses period 0, a buffer not a multiple of the period, a buffer outside this side, a wrong direction, no slave config', async () => {
    const s = await setup(bed, opened, 'host', 'host/rd0');
    expectEpdma(() => s.ch.prepDmaCyclic(s.addr, RING, PERIOD), 'EINVAL', 'host/rd0', 'before configure');
    s.ch.configure({ deviceAddr: s.deviceAddr });
    expectEpdma(() => s.ch.prepDmaCyclic(s.addr, RING, 0), 'EINVAL', 'periodBytes 0');
    expectEpdma(() => s.ch.prepDmaCyclic(s.addr, RING + 1, PERIOD), 'EINVAL', `bufferBytes ${RING + 1} is not a multiple of periodBytes ${PERIOD}`);
    expectEpdma(() => s.ch.prepDmaCyclic(bed.host.memory.base + bed.host.memory.size - PERIOD, RING, PERIOD), 'EINVAL', 'outside host memory');
    expectEpdma(() => s.ch.prepDmaCyclic(s.addr, RING, PERIOD, { direction: 'dev-to-mem' }), 'EINVAL', "direction 'dev-to-mem'");
    expect(s.ch.stats().submitted).toBe(0);
    expect(s.ring.every((b) => b === 0)).toBe(true);
  });
});

describe("quirks 'dw-edma': what the kernel driver does with a cyclic prep (and an unconfigured interleaved one)", () => {
  let bed: Testbed;
  const opened = new Opened();
  beforeAll(async () => {
    bed = await createTestbed(options('dw-edma'));
  });
  afterEach(() => opened.closeAll());
  afterAll(() => bed?.close());

  const LEN = 256;
  const COUNT = 400; // 169 + 169 + 62 bursts: three chunks of a 4 KiB LL region

  it.each(INTO_EP_RING)('%s (%s): count bursts of len at one address, three chunks, one completion, then IDLE', async (side, name) => {
    // The source is LEN * COUNT distinct bytes: had the source advanced, the last burst's
    // bytes would be at the destination instead of the first LEN.
    const s = await setup(bed, opened, side, name, LEN * COUNT);
    const stats = (): Promise<ChannelWorkerStats> => (s.ch as ChannelHandle).actor.call('stats');
    const before = await stats();
    s.ch.configure({ deviceAddr: s.deviceAddr });
    const seen: Completion[] = [];
    const sub = s.ch.completions$.subscribe((c) => seen.push(c));
    try {
      // (paddr, len, count) = (buf_addr, buf_len, period_len).
      const d = s.ch.prepDmaCyclic(s.addr, LEN, COUNT);
      const cookie = d.submit();
      s.ch.issuePending();
      const c = await within(d.done, 'the one completion');
      expect(c).toMatchObject({ cookie, result: 'ok', residue: 0, bytes: LEN * COUNT });
      expect(c.period).toBeUndefined();
      expect(firstDifference(s.ring.subarray(0, LEN), s.source.subarray(0, LEN))).toBe(-1);
      expect(s.ring.subarray(LEN).every((b) => b === 0)).toBe(true);
      expect(guardsIntact(s.guarded, RING)).toBe(true);
      const after = await stats();
      expect(after.chunks - before.chunks).toBe(3);
      expect(after.engine!.elements - before.engine!.elements).toBe(COUNT);
      expect(after.engine!.chunks - before.engine!.chunks).toBe(3);
      expect(after.periods - before.periods).toBe(0);

      // IDLE, not restarted: the next transfer runs, and it is the only other completion.
      const next = await run(s.ch.transfer(side === 'host'
        ? { local: s.addr, remote: s.deviceAddr + LEN, length: 64 }
        : { local: s.addr + LEN, remote: s.deviceAddr, length: 64 }));
      expect(next.result).toBe('ok');
      expect(seen.map((x) => x.cookie)).toEqual([cookie, cookie + 1]);
    } finally {
      sub.unsubscribe();
    }
  });

  it("len 0, count 0 and a direction the channel does not have are the kernel's NULL: EINVAL naming the field", async () => {
    const s = await setup(bed, opened, 'endpoint', 'endpoint/rd3');
    s.ch.configure({ deviceAddr: s.deviceAddr });
    expectEpdma(() => s.ch.prepDmaCyclic(s.addr, 0, 4), 'EINVAL', 'endpoint/rd3: prepDmaCyclic: bufferBytes (len) 0');
    expectEpdma(() => s.ch.prepDmaCyclic(s.addr, 64, 0), 'EINVAL', 'periodBytes (count) 0');
    expectEpdma(() => s.ch.prepDmaCyclic(s.addr, 64, 4, { direction: 'mem-to-dev' }), 'EINVAL', "direction 'mem-to-dev'", "'dev-to-mem'");
    expect(s.ch.stats().submitted).toBe(0);
    expect(s.ring.every((b) => b === 0)).toBe(true);
  });

  it('an interleaved prep on an unconfigured channel is NULL (dw-edma checks configured first); configured, it runs', async () => {
    const s = await setup(bed, opened, 'host', 'host/rd1');
    const t = {
      srcStart: s.addr, dstStart: s.deviceAddr, direction: 'mem-to-dev' as const,
      srcInc: true, dstInc: true, srcSgl: false, dstSgl: false, numFrames: 4, sgl: [{ size: 64 }],
    };
    expectEpdma(() => s.ch.prepInterleavedDma(t), 'EINVAL', 'host/rd1: prepInterleavedDma before configure');
    // The slave config only unlocks the prep: the template's addresses are used.
    s.ch.configure({ deviceAddr: s.deviceAddr + PERIOD });
    const d = s.ch.prepInterleavedDma(t);
    d.submit();
    s.ch.issuePending();
    expect(await within(d.done, 'interleaved')).toMatchObject({ result: 'ok', bytes: 256 });
    expect(firstDifference(s.ring.subarray(0, 256), s.source.subarray(0, 256))).toBe(-1);
    expect(s.ring.subarray(256).every((b) => b === 0)).toBe(true);
  });
});
