/**
 * loadTest() on a real testbed through the package entry (API.md "Load test"): verification
 * catches a corrupted destination byte and a corrupted guard byte (and says where), the counts
 * add up (transfers, bytes, per-channel sums), snapshots are periodic with `final` only on the
 * last, `side` picks the side's channels, and unsubscribing gives the channels back.
 */
import { lastValueFrom } from 'rxjs';
import { describe, expect, it, vi } from 'vitest';
import { EpdmaError, loadTest } from '../../../dist/api/index.js';
import type { LoadTestOptions } from '../../../dist/api/index.js';
import { loadNativeAddon, nativeAddonUnavailableReason } from '../../../dist/native/native-addon.js';
import { expectEpdma, expectRejects, waitFor } from '../testbed-support.js';
import { WAIT_DEADLINE_MS } from '../../support/wait.js';
import { describeVerification, EP, expectConsistent, HOST, runLoad as runOn, useLoadTestbed } from './loadtest-support.js';

const testbed = useLoadTestbed();
const runLoad = (options: LoadTestOptions) => runOn(testbed(), options);

// With the addon where it is built; loadtest-pure-js.test.ts runs the same suite without it.
describeVerification(loadNativeAddon() ? 'verification (with the addon)' : `verification (without the addon: ${nativeAddonUnavailableReason()})`, testbed);

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
    // How many 20 ms ticks land in 300 ms depends on the scheduler; that one does, does not:
    // the run spans many event-loop turns after the first tick is due.
    expect(periodic.length).toBeGreaterThanOrEqual(1);
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

describe('warm-up', () => {
  it('by default it lasts until the rate is steady, at least a tenth of the duration, and says whether it settled', async () => {
    const { run, final } = await runLoad({ durationMs: 300, depth: 2, size: 2048 });
    expect(typeof run.warmupSettled).toBe('boolean');
    // Four 250 ms windows, or the longest warm-up (twice 300 ms, at least 1 s): both end at ~1 s.
    expect(run.warmupMs).toBeGreaterThanOrEqual(30);
    expect(final.elapsedMs).toBeGreaterThanOrEqual(300);
    expect(final.transfers).toBeGreaterThan(0);
  });

  it('a fixed warm-up is reported as asked; none with warmupMs 0 or with iterations', async () => {
    const fixed = await runLoad({ durationMs: 100, warmupMs: 100, depth: 2, size: 1024 });
    expect(fixed.run).toMatchObject({ warmupMs: 100, warmupSettled: undefined });
    const none = await runLoad({ durationMs: 100, warmupMs: 0, depth: 2, size: 1024 });
    expect(none.run).toMatchObject({ warmupMs: 0, warmupSettled: undefined });
    const counted = await runLoad({ iterations: 3, depth: 2, size: 1024 });
    expect(counted.run).toMatchObject({ warmupMs: 0, warmupSettled: undefined });
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
      const side = name.startsWith('host/') ? testbed().host : testbed().endpoint;
      const ch = await side.dma.requestChannel({ name });
      expect(ch.info.name).toBe(name);
      await ch.release();
    }
    let seen = 0;
    const sub = loadTest(testbed(), { durationMs: 20_000, warmupMs: 0, progressMs: 10, depth: 2, size: 1024 }).subscribe({ next: () => seen++ });
    await waitFor(() => seen > 0, 'a first snapshot');
    sub.unsubscribe();
    // Cleanup is asynchronous (terminate and release): request each channel until it is free
    // again. Only EBUSY (still held) is expected on the way; any other error fails the test.
    for (const name of [...HOST, ...EP]) {
      const side = name.startsWith('host/') ? testbed().host : testbed().endpoint;
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
    expectEpdma(() => loadTest(testbed(), { depth: 0 }), 'EINVAL', 'depth 0');
    expectEpdma(() => loadTest(testbed(), { size: [10, 5] }), 'EINVAL', 'size', '10');
    expectEpdma(() => loadTest(testbed(), { side: 'left' as 'host' }), 'EINVAL', "'left'");
    expectEpdma(() => loadTest(testbed(), { iterations: 0 }), 'EINVAL', 'iterations 0');
    expectEpdma(() => loadTest(testbed(), { channels: 0 }), 'EINVAL', 'channels 0');
    expectEpdma(() => loadTest(testbed(), { iterations: 5, durationMs: 100 }), 'EINVAL', 'durationMs', 'iterations');
    expectEpdma(() => loadTest(testbed(), { iterations: 5, warmupMs: 100 }), 'EINVAL', 'warmupMs 100', 'iterations');
    await expectRejects(lastValueFrom(loadTest(testbed(), { side: 'host', channels: 3, iterations: 1 })), 'EINVAL', '3 channels', 'host');
  });
});
