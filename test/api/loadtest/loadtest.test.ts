/**
 * loadTest() on a real testbed through the package entry (API.md "Load test"): verification
 * catches a corrupted destination byte and a corrupted guard byte (and says where), the counts
 * add up (transfers, bytes, per-channel sums), snapshots are periodic with `final` only on the
 * last, `side` picks the side's channels, and unsubscribing gives the channels back.
 */
import { lastValueFrom, toArray } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createTestbed, EpdmaError, loadTest } from '../../../dist/api/index.js';
import type { LoadProgress, LoadTestOptions, Testbed } from '../../../dist/api/index.js';
import { expectEpdma, expectRejects, waitFor, within } from '../testbed-support.js';
import { WAIT_DEADLINE_MS } from '../../support/wait.js';

type Run = Parameters<NonNullable<Parameters<typeof loadTest>[2]>>[0];

let bed: Testbed;
beforeAll(async () => {
  bed = await createTestbed({ endpoint: { writeChannels: 2, readChannels: 2, memoryBytes: 16 << 20 }, host: { memoryBytes: 16 << 20 } });
});
afterAll(async () => {
  await bed?.close();
});

const HOST = ['host/rd0', 'host/rd1'];
const EP = ['endpoint/wr0', 'endpoint/wr1'];

/** Every emission of one run, and what the run reported through the third parameter. */
async function runLoad(options: LoadTestOptions): Promise<{ all: LoadProgress[]; final: LoadProgress; run: Run }> {
  let run: Run | undefined;
  const all = await within(lastValueFrom(loadTest(bed, options, (r) => (run = r)).pipe(toArray())), 'the load test');
  expect(run).toBeDefined();
  return { all, final: all.at(-1)!, run: run! };
}

/** Totals equal the sums over channels. */
function expectConsistent(p: LoadProgress): void {
  for (const key of ['transfers', 'bytes', 'errors', 'mismatches'] as const) {
    expect(p.channels.reduce((s, c) => s + c[key], 0)).toBe(p[key]);
  }
  expect(p.p50Us).toBeLessThanOrEqual(p.p99Us);
  expect(p.p99Us).toBeLessThanOrEqual(p.maxUs);
}

describe('verification', () => {
  it('a clean run: every transfer done once, no errors, no mismatches; counts add up', async () => {
    const { all, final, run } = await runLoad({ iterations: 24, depth: 3, size: 3000 });
    expect(final.final).toBe(true);
    expect(final.channels.map((c) => c.name)).toEqual([...HOST, ...EP]);
    expect(final).toMatchObject({ transfers: 4 * 24, bytes: 4 * 24 * 3000, errors: 0, mismatches: 0 });
    for (const c of final.channels) expect(c).toMatchObject({ transfers: 24, bytes: 24 * 3000, errors: 0, mismatches: 0 });
    expectConsistent(final);
    expect(final.throughputBytesPerSec).toBeGreaterThan(0);
    expect(final.opsPerSec).toBeGreaterThan(0);
    expect(all.filter((p) => p.final)).toHaveLength(1);
    expect(run.firstMismatches).toEqual([]);
    expect(run.errorReasons).toEqual([]);
  });

  it('catches a byte flipped in one destination window, and names the channel, transfer and offset', async () => {
    let flipped = 0;
    const { final, run } = await runLoad({
      iterations: 30, depth: 2, size: 4096,
      onCompleted: ({ channel, transfer, dst, window }) => {
        if (channel === 'host/rd1' && transfer === 7) {
          dst.bytes[window.offset + 100] ^= 0x5a;
          flipped++;
        }
      },
    });
    expect(flipped).toBe(1);
    expect(final).toMatchObject({ transfers: 4 * 30, errors: 0, mismatches: 1 });
    expect(final.channels.find((c) => c.name === 'host/rd1')!.mismatches).toBe(1);
    expect(final.channels.filter((c) => c.name !== 'host/rd1').every((c) => c.mismatches === 0)).toBe(true);
    expectConsistent(final);
    expect(run.firstMismatches).toHaveLength(1);
    expect(run.firstMismatches[0]).toMatch(/^host\/rd1 transfer 7: .*0x64.*mismatch/);
  });

  it('catches guard bytes overwritten before and after the window (a DMA that wrote too much)', async () => {
    const { final, run } = await runLoad({
      iterations: 20, depth: 4, size: [100, 2000],
      onCompleted: ({ channel, transfer, dst, window }) => {
        if (channel === 'endpoint/wr0' && transfer === 3) dst.bytes[window.offset - 1] ^= 0xff;
        if (channel === 'host/rd0' && transfer === 11) dst.bytes[window.offset + window.length] ^= 0xff;
      },
    });
    expect(final).toMatchObject({ errors: 0, mismatches: 2 });
    expect(final.channels.find((c) => c.name === 'endpoint/wr0')!.mismatches).toBe(1);
    expect(final.channels.find((c) => c.name === 'host/rd0')!.mismatches).toBe(1);
    expect(run.firstMismatches).toHaveLength(2);
    expect(run.firstMismatches.find((l) => l.startsWith('endpoint/wr0 transfer 3:'))).toMatch(/guard before window/);
    expect(run.firstMismatches.find((l) => l.startsWith('host/rd0 transfer 11:'))).toMatch(/guard after window/);
  });

  it('catches a window the DMA never wrote (it still holds this transfer\'s poison) and says "not copied"', async () => {
    const { final, run } = await runLoad({
      iterations: 12, depth: 3, size: 2048,
      onCompleted: ({ channel, transfer, dst, window, poison }) => {
        if (channel === 'endpoint/wr1' && transfer === 5) dst.bytes.fill(poison, window.offset + 256, window.offset + 512);
      },
    });
    expect(final).toMatchObject({ transfers: 4 * 12, errors: 0, mismatches: 256 });
    expect(final.channels.find((c) => c.name === 'endpoint/wr1')!.mismatches).toBe(256);
    expect(run.firstMismatches).toHaveLength(8);
    expect(run.firstMismatches[0]).toMatch(/^endpoint\/wr1 transfer 5: dstbuf\[0x100\] not copied: expected 0x[89a-f][0-9a-f], got 0x25$/);
  });

  it('catches a source modified by the transfer, and names the source offset', async () => {
    const { final, run } = await runLoad({
      iterations: 10, depth: 2, size: 1000,
      onCompleted: ({ channel, transfer, src }) => {
        if (channel === 'host/rd0' && transfer === 4) src.bytes[999] ^= 0x01;
      },
    });
    // The slot's source stays modified: its later transfers copy the wrong byte too (dmatest
    // checks the source after every transfer for the same reason).
    const rd0 = final.channels.find((c) => c.name === 'host/rd0')!;
    expect(rd0.mismatches).toBeGreaterThanOrEqual(1);
    expect(final.mismatches).toBe(rd0.mismatches);
    expect(run.firstMismatches[0]).toMatch(/^host\/rd0 transfer 4: srcbuf\[0x3e7\] modified: expected 0x[89a-f][0-9a-f], got 0x[89a-f][0-9a-f]$/);
  });

  it('with verify off the same corruption goes unnoticed (and nothing is filled or checked)', async () => {
    const { final } = await runLoad({
      iterations: 10, depth: 2, size: 512, verify: false,
      onCompleted: ({ dst, window }) => {
        dst.bytes[window.offset] ^= 0xff;
      },
    });
    expect(final).toMatchObject({ transfers: 40, bytes: 40 * 512, errors: 0, mismatches: 0 });
  });
});

describe('counts and snapshots', () => {
  it('a size range: every transfer between min and max, bytes within transfers * [min, max]', async () => {
    const { final } = await runLoad({ iterations: 40, depth: 4, size: [64, 8192] });
    expect(final.transfers).toBe(4 * 40);
    expect(final.bytes).toBeGreaterThanOrEqual(final.transfers * 64);
    expect(final.bytes).toBeLessThanOrEqual(final.transfers * 8192);
    // Random sizes: not all the same (the chance of 160 equal draws is nil).
    expect(final.bytes % final.transfers === 0 && final.bytes / final.transfers === 64).toBe(false);
    for (const c of final.channels) {
      expect(c.transfers).toBe(40);
      expect(c.bytes).toBeGreaterThanOrEqual(40 * 64);
      expect(c.bytes).toBeLessThanOrEqual(40 * 8192);
    }
    expectConsistent(final);
    expect(final.mismatches).toBe(0);
  });

  it('a timed run emits periodic snapshots, monotone, with final true only on the last one', async () => {
    const { all, final } = await runLoad({ durationMs: 300, progressMs: 20, depth: 2, size: 2048 });
    const periodic = all.slice(0, -1);
    expect(final.final).toBe(true);
    expect(periodic.every((p) => p.final === false)).toBe(true);
    expect(periodic.length).toBeGreaterThanOrEqual(3);
    for (let i = 1; i < all.length; i++) {
      expect(all[i]!.elapsedMs).toBeGreaterThanOrEqual(all[i - 1]!.elapsedMs);
      expect(all[i]!.transfers).toBeGreaterThanOrEqual(all[i - 1]!.transfers);
      expect(all[i]!.bytes).toBeGreaterThanOrEqual(all[i - 1]!.bytes);
    }
    for (const p of all) expectConsistent(p);
    expect(final.elapsedMs).toBeGreaterThanOrEqual(300);
    expect(final.transfers).toBeGreaterThan(0);
    expect(final.bytes).toBe(final.transfers * 2048);
    expect(final).toMatchObject({ errors: 0, mismatches: 0 });
  });
});

describe('side and channels', () => {
  it("side 'host' uses only the host's channels; side 'endpoint' with channels 1 uses one", async () => {
    const host = await runLoad({ side: 'host', iterations: 12, depth: 2, size: 1024 });
    expect(host.final.channels.map((c) => c.name)).toEqual(HOST);
    expect(host.final).toMatchObject({ transfers: 24, bytes: 24 * 1024, errors: 0, mismatches: 0 });
    const ep = await runLoad({ side: 'endpoint', channels: 1, iterations: 12, depth: 2, size: 1024 });
    expect(ep.final.channels.map((c) => c.name)).toEqual(['endpoint/wr0']);
    expect(ep.final).toMatchObject({ transfers: 12, errors: 0, mismatches: 0 });
  });

  it('every channel is released at the end and after an early unsubscribe', async () => {
    await runLoad({ iterations: 5, depth: 2, size: 256 });
    for (const name of [...HOST, ...EP]) {
      const side = name.startsWith('host/') ? bed.host : bed.endpoint;
      const ch = await side.dma.requestChannel({ name });
      expect(ch.info.name).toBe(name);
      await ch.release();
    }
    let seen = 0;
    const sub = loadTest(bed, { durationMs: 20_000, progressMs: 10, depth: 2, size: 1024 }).subscribe({ next: () => seen++ });
    await waitFor(() => seen > 0, 'a first snapshot');
    sub.unsubscribe();
    // Cleanup is asynchronous (terminate and release): request each channel until it is free
    // again. Only EBUSY (still held) is expected on the way; any other error fails the test.
    for (const name of [...HOST, ...EP]) {
      const side = name.startsWith('host/') ? bed.host : bed.endpoint;
      let unexpected: unknown;
      const ch = await vi.waitFor(
        async () => {
          try {
            return await side.dma.requestChannel({ name });
          } catch (err) {
            if (err instanceof EpdmaError && err.code === 'EBUSY') throw err; // still held: retry
            unexpected = err;
            return undefined;
          }
        },
        { timeout: WAIT_DEADLINE_MS, interval: 2 },
      );
      expect(unexpected).toBeUndefined();
      expect(ch!.info.name).toBe(name);
      await ch!.release();
    }
  });

  it('bad options are EINVAL naming the value; asking for more channels than a side has rejects on subscribe', async () => {
    expectEpdma(() => loadTest(bed, { depth: 0 }), 'EINVAL', 'depth 0');
    expectEpdma(() => loadTest(bed, { size: [10, 5] }), 'EINVAL', 'size', '10');
    expectEpdma(() => loadTest(bed, { side: 'left' as 'host' }), 'EINVAL', "'left'");
    expectEpdma(() => loadTest(bed, { iterations: 0 }), 'EINVAL', 'iterations 0');
    expectEpdma(() => loadTest(bed, { channels: 0 }), 'EINVAL', 'channels 0');
    expectEpdma(() => loadTest(bed, { iterations: 5, durationMs: 100 }), 'EINVAL', 'durationMs', 'iterations');
    await expectRejects(lastValueFrom(loadTest(bed, { side: 'host', channels: 3, iterations: 1 })), 'EINVAL', '3 channels', 'host');
  });
});
