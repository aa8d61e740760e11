/**
 * What loadtest.test.ts (with the native addon when it is built) and loadtest-pure-js.test.ts
 * (EPDMA_NO_NATIVE=1: the engine's copy and wakeups in JS) share: the testbed, a run helper, and the fault-injection suite every verification path must pass (a corrupted
 * destination byte, a window the DMA never wrote, another slot's data, overwritten guards on
 * both sides, a modified source, and nothing caught with verify off).
 */
import { lastValueFrom, toArray } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestbed, loadTest } from '../../../dist/api/index.js';
import type { LoadProgress, LoadTestOptions, Testbed } from '../../../dist/api/index.js';
import { within } from '../testbed-support.js';

type Run = Parameters<NonNullable<Parameters<typeof loadTest>[2]>>[0];

export const HOST = ['host/rd0', 'host/rd1'];
export const EP = ['endpoint/wr0', 'endpoint/wr1'];

/** A testbed with two channels each way for the file's tests, opened once and closed at the end. */
export function useLoadTestbed(): () => Testbed {
  let bed: Testbed | undefined;
  beforeAll(async () => {
    bed = await createTestbed({ endpoint: { writeChannels: 2, readChannels: 2, memoryBytes: 16 << 20 }, host: { memoryBytes: 16 << 20 } });
  });
  afterAll(async () => {
    await bed?.close();
  });
  return () => bed!;
}

/** Every emission of one run, and what the run reported through the third parameter. */
export async function runLoad(bed: Testbed, options: LoadTestOptions): Promise<{ all: LoadProgress[]; final: LoadProgress; run: Run }> {
  let run: Run | undefined;
  const all = await within(lastValueFrom(loadTest(bed, options, (r) => (run = r)).pipe(toArray())), 'the load test');
  expect(run).toBeDefined();
  return { all, final: all.at(-1)!, run: run! };
}

/** Totals equal the sums over channels. */
export function expectConsistent(p: LoadProgress): void {
  for (const key of ['transfers', 'bytes', 'errors', 'mismatches'] as const) {
    expect(p.channels.reduce((s, c) => s + c[key], 0)).toBe(p[key]);
  }
  expect(p.p50Us).toBeLessThanOrEqual(p.p99Us);
  expect(p.p99Us).toBeLessThanOrEqual(p.maxUs);
}

export function describeVerification(title: string, bed: () => Testbed): void {
  describe(title, () => {
    it('a clean run: every transfer done once, no errors, no mismatches; counts add up', async () => {
      const { all, final, run } = await runLoad(bed(), { iterations: 24, depth: 3, size: 3000 });
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
      const { final, run } = await runLoad(bed(), {
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
      const { final, run } = await runLoad(bed(), {
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

    it('catches a window the DMA never wrote (it still holds the previous use\'s bytes, or poison on a first use) and says "not copied"', async () => {
      // Slot 1 of a lane of depth 3 carries transfers 2, 5, 8...: 2 is its first use, 5 its second.
      for (const [transfer, from, to] of [[5, 256, 512], [2, 0, 100]] as const) {
        let stale: Buffer | undefined;
        const { final, run } = await runLoad(bed(), {
          iterations: 12, depth: 3, size: 2048,
          onCompleted: (info) => {
            if (info.channel !== 'endpoint/wr1' || info.transfer !== transfer) return;
            stale = info.stale;
            info.dst.bytes.set(info.stale!.subarray(from, to), info.window.offset + from);
          },
        });
        expect(final).toMatchObject({ transfers: 4 * 12, errors: 0, mismatches: to - from });
        expect(final.channels.find((c) => c.name === 'endpoint/wr1')!.mismatches).toBe(to - from);
        // A first use held this transfer's poison (0x20 | 2); a second one the first use's bytes (bit 7 set).
        expect(stale![from]).toSatisfy((v: number) => (transfer === 2 ? v === 0x22 : v >= 0x80));
        expect(run.firstMismatches).toHaveLength(8);
        expect(run.firstMismatches.every((l) => l.startsWith(`endpoint/wr1 transfer ${transfer}: `) && l.includes(' not copied: '))).toBe(true);
        expect(run.firstMismatches[0]).toMatch(new RegExp(`^endpoint/wr1 transfer ${transfer}: dstbuf\\[0x${from.toString(16)}\\] not copied: expected 0x[89a-f][0-9a-f], got 0x${stale![from]!.toString(16)}$`));
      }
    });

    it('catches a source modified by the transfer, and names the source offset', async () => {
      const { final, run } = await runLoad(bed(), {
        iterations: 10, depth: 2, size: 1000,
        onCompleted: ({ channel, transfer, src, source }) => {
          if (channel === 'host/rd0' && transfer === 4) src.bytes[source.offset + 999] ^= 0x01;
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
      const { final } = await runLoad(bed(), {
        iterations: 10, depth: 2, size: 512, verify: false,
        onCompleted: ({ dst, window }) => {
          dst.bytes[window.offset] ^= 0xff;
        },
      });
      expect(final).toMatchObject({ transfers: 40, bytes: 40 * 512, errors: 0, mismatches: 0 });
    });

    it('catches a window holding another slot\'s data (a transfer that landed in the wrong slot)', async () => {
      let other: Uint8Array | undefined;
      let planted = 0;
      const { final, run } = await runLoad(bed(), {
        iterations: 8, depth: 2, size: 1500,
        onCompleted: ({ channel, transfer, src, dst, window }) => {
          if (channel !== 'host/rd0') return;
          // Transfers 1 and 2 use slots 0 and 1: slot 1's window gets slot 0's (correct) data.
          if (transfer === 1) other = Uint8Array.from(src.bytes.subarray(0, window.length));
          if (transfer === 2) {
            dst.bytes.set(other!, window.offset);
            planted++;
          }
        },
      });
      expect(planted).toBe(1);
      expect(final).toMatchObject({ transfers: 4 * 8, errors: 0, mismatches: 1500 });
      expect(final.channels.find((c) => c.name === 'host/rd0')!.mismatches).toBe(1500);
      expect(run.firstMismatches).toHaveLength(8);
      expect(run.firstMismatches[0]).toMatch(/^host\/rd0 transfer 2: dstbuf\[0x0\] mismatch: expected 0x[89a-f][0-9a-f], got 0x[89a-f][0-9a-f]$/);
    });
  });
}
