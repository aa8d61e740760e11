/**
 * Cyclic and interleaved transfers in two-process mode: the host's channel workers in this
 * process, the engines in an `epdma endpoint` process, the EP ring and image checked in the
 * endpoint's published files. Contract cyclic (periods wrapping, nothing after terminate),
 * interleaved both ways, then a second host attached with `driver.quirks: 'dw-edma'`.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { nativeAddonUnavailableReason } from '../../dist/native/native-addon.js';
import { openHost, type OpenedHost } from '../../dist/api/two-process/open-host.js';
import type { Completion } from '../../dist/api/types.js';
import { cleanup, makeShmDir, peek, poke, startEndpoint } from './two-process-support.js';
import { waitFor } from '../support/wait.js';

const reason = nativeAddonUnavailableReason();
const EP_RAM = 0x8000_0000;
const RING_ADDR = EP_RAM + 0x20_0000; // in the upper half of EP RAM, the host's share
const PERIOD = 4096;
const PERIODS = 8;

const hosts: OpenedHost[] = [];
afterEach(async () => {
  await Promise.all(hosts.splice(0).map((h) => h.close()));
  await cleanup();
});

function pattern(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 13 + seed * 29 + (i >>> 9)) & 0xff;
  return out;
}

describe.skipIf(reason !== undefined)(`cyclic and interleaved across processes${reason !== undefined ? ` (skipped: ${reason})` : ''}`, () => {
  it('contract cyclic into an EP ring, an interleaved block both ways, then dw-edma cyclic on a new host', async () => {
    const dir = makeShmDir();
    await startEndpoint(dir);
    const host = await openHost({ shm: dir });
    hosts.push(host);

    // -- contract cyclic: host/rd0 streams an 8-period host buffer into the EP ring.
    const ch = await host.dma.requestChannel({ name: 'host/rd0' });
    const src = host.memory.alloc(PERIOD * PERIODS);
    src.bytes.set(pattern(src.length, 3));
    poke(dir, RING_ADDR - 64, new Uint8Array(PERIOD * PERIODS + 128).fill(0xee));
    ch.configure({ deviceAddr: RING_ADDR });
    const periods: Completion[] = [];
    const sub = ch.completions$.subscribe((c) => periods.push(c));
    const d = ch.prepDmaCyclic(src.addr, PERIOD * PERIODS, PERIOD);
    const cookie = d.submit();
    ch.issuePending();
    await waitFor(() => periods.length >= 100, '100 periods');
    ch.terminateAsync();
    const atTerminate = periods.length;
    await ch.synchronize();
    expect(await d.done).toMatchObject({ cookie, result: 'aborted', reason: 'terminated' });
    periods.forEach((c, i) => expect(c).toMatchObject({ cookie, result: 'ok', bytes: PERIOD, period: i % PERIODS }));
    expect(Buffer.compare(peek(dir, RING_ADDR, PERIOD * PERIODS), Buffer.from(src.bytes))).toBe(0);
    expect(peek(dir, RING_ADDR - 64, 64).every((b) => b === 0xee)).toBe(true);
    expect(peek(dir, RING_ADDR + PERIOD * PERIODS, 64).every((b) => b === 0xee)).toBe(true);
    // A transfer after the terminate is the only record that follows (FIFO per channel).
    ch.configure({ deviceAddr: RING_ADDR });
    const after = ch.prepSlaveSingle(src.addr, 16);
    after.submit();
    ch.issuePending();
    expect((await after.done).result).toBe('ok');
    expect(periods.length).toBe(atTerminate + 1);
    sub.unsubscribe();
    await ch.release();

    // -- interleaved: rows 0..39 of a 256-byte-stride EP image, 48 bytes each, packed into host
    // memory by host/wr0 (dev-to-mem), then spread back to a 128-byte stride by host/rd1.
    const IMAGE = EP_RAM + 0x30_0000;
    const image = pattern(256 * 40, 9);
    poke(dir, IMAGE, image);
    const packed = host.memory.alloc(48 * 40 + 64);
    packed.bytes.fill(0x11);
    const wr = await host.dma.requestChannel({ name: 'host/wr0' });
    const down = wr.prepInterleavedDma({
      srcStart: IMAGE + 8, dstStart: packed.addr, direction: 'dev-to-mem',
      srcInc: true, dstInc: true, srcSgl: true, dstSgl: false, numFrames: 40, sgl: [{ size: 48, icg: 256 - 48 }],
    });
    down.submit();
    wr.issuePending();
    expect(await down.done).toMatchObject({ result: 'ok', bytes: 48 * 40 });
    for (let r = 0; r < 40; r++) {
      expect(Buffer.compare(Buffer.from(packed.bytes.subarray(r * 48, r * 48 + 48)), Buffer.from(image.subarray(r * 256 + 8, r * 256 + 56)))).toBe(0);
    }
    expect(packed.bytes.subarray(48 * 40).every((b) => b === 0x11)).toBe(true);
    await wr.release();

    const SPREAD = EP_RAM + 0x40_0000;
    poke(dir, SPREAD, new Uint8Array(128 * 40).fill(0x22));
    const rd = await host.dma.requestChannel({ name: 'host/rd1' });
    const up = rd.prepInterleavedDma({
      srcStart: packed.addr, dstStart: SPREAD, direction: 'mem-to-dev',
      srcInc: true, dstInc: true, srcSgl: false, dstSgl: true, numFrames: 40, sgl: [{ size: 48, dstIcg: 128 - 48 }],
    });
    up.submit();
    rd.issuePending();
    expect(await up.done).toMatchObject({ result: 'ok', bytes: 48 * 40 });
    const spread = peek(dir, SPREAD, 128 * 40);
    for (let r = 0; r < 40; r++) {
      expect(Buffer.compare(spread.subarray(r * 128, r * 128 + 48), Buffer.from(image.subarray(r * 256 + 8, r * 256 + 56)))).toBe(0);
      expect(spread.subarray(r * 128 + 48, r * 128 + 128).every((b) => b === 0x22)).toBe(true);
    }
    await rd.release();
    await host.close();
    hosts.splice(0);

    // -- dw-edma semantics on a host attached with the option: 300 bursts of 256 bytes, all at
    // RING_ADDR, from a source whose later bytes differ; one completion.
    const kernel = await openHost({ shm: dir, driver: { quirks: 'dw-edma' } });
    hosts.push(kernel);
    poke(dir, RING_ADDR, new Uint8Array(PERIOD).fill(0));
    const kch = await kernel.dma.requestChannel({ name: 'host/rd2' });
    const ksrc = kernel.memory.alloc(256 * 300);
    ksrc.bytes.set(pattern(ksrc.length, 5));
    kch.configure({ deviceAddr: RING_ADDR });
    const seen: Completion[] = [];
    const ksub = kch.completions$.subscribe((c) => seen.push(c));
    const kd = kch.prepDmaCyclic(ksrc.addr, 256, 300);
    kd.submit();
    kch.issuePending();
    const kc = await kd.done;
    expect(kc).toMatchObject({ result: 'ok', residue: 0, bytes: 256 * 300 });
    expect(kc.period).toBeUndefined();
    expect(Buffer.compare(peek(dir, RING_ADDR, 256), Buffer.from(ksrc.bytes.subarray(0, 256)))).toBe(0);
    expect(peek(dir, RING_ADDR + 256, PERIOD - 256).every((b) => b === 0)).toBe(true);
    expect(seen).toHaveLength(1);
    ksub.unsubscribe();
    await kch.release();
  });
});
