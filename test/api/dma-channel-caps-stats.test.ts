/**
 * caps() (dma_get_slave_caps with the series' hw_id) on every channel of both sides in every
 * map format, and stats() (DPDK dmadev-style counters) under load: the counts match what the
 * test submitted, burstCapacity follows the submission ring, errors count failed descriptors,
 * terminated ones count nowhere, a new request starts from zero.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestbed } from '../../dist/api/index.js';
import type { ChannelStats, Completion, DmaChannel, Testbed, TestbedOptions } from '../../dist/api/index.js';
import { fill, firstDifference, isZero, Opened, waitFor, within } from './testbed-support.js';

const DWC_LL_MAX = 169; // a 4 KiB LL region: 4096 / 24 - 1

describe.each([
  // Two channels per direction (four workers per testbed). unroll and hdma-compat delegate
  // whole directions: two testbeds give each side both kinds; hdma-native splits them.
  ['unroll', { rdChans: 2, wrChans: 0 }],
  ['unroll', { rdChans: 0, wrChans: 2 }],
  ['hdma-compat', { rdChans: 2, wrChans: 0 }],
  ['hdma-compat', { rdChans: 0, wrChans: 2 }],
  ['hdma-native', { rdChans: 1, wrChans: 1 }],
] as const)('caps() with %s, %o', (mapFormat, fn) => {
  let bed: Testbed;
  beforeAll(async () => {
    bed = await createTestbed({
      endpoint: { mapFormat, writeChannels: 2, readChannels: 2, memoryBytes: 1 << 20 }, function: fn, host: { memoryBytes: 1 << 20 },
    });
  });
  afterAll(() => bed?.close());

  it('every channel: its one direction, descriptor residue, pause/resume/terminate, ll_max, hwId, cyclic and interleaved', async () => {
    const md = bed.host.device.metadata;
    let seen = 0;
    for (const side of ['host', 'endpoint'] as const) {
      for (const info of bed[side].dma.channels) {
        const ch = await bed[side].dma.requestChannel({ name: info.name });
        try {
          // The host's LL regions are the ones the metadata publishes; the EP's are DWC 4 KiB.
          const entry = (info.kind === 'write' ? md.write : md.read).find((e) => e.hwChannel === info.hwChannel);
          const llMax = side === 'host' ? Math.floor(entry!.desc.size / 24) - 1 : DWC_LL_MAX;
          expect(ch.caps()).toEqual({
            directions: [info.direction], maxSgBurst: llMax, residueGranularity: 'descriptor',
            cmdPause: true, cmdResume: true, cmdTerminate: true, hwId: info.hwChannel, cyclic: true, interleaved: true,
          });
          seen++;
        } finally {
          await ch.release();
        }
        // hw_id picks the same channel back (what a client filters on).
        const again = await bed[side].dma.requestChannel({ hwChannel: info.hwChannel, kind: info.kind });
        expect(again.info.name).toBe(info.name);
        await again.release();
      }
    }
    // Both sides, both directions of this testbed: 4 channels in all.
    expect(seen).toBe(4);
    const directions = new Set([...bed.host.dma.channels, ...bed.endpoint.dma.channels].map((c) => `${c.side} ${c.direction}`));
    expect(directions.size).toBe(fn.rdChans > 0 && fn.wrChans > 0 ? 4 : 2);
  });
});

describe('stats()', () => {
  let bed: Testbed;
  const opened = new Opened();
  // host/rd0-1 and endpoint/wr0-1.
  const options: TestbedOptions = { endpoint: { writeChannels: 2, readChannels: 2, memoryBytes: 8 << 20 }, host: { memoryBytes: 16 << 20 } };
  beforeAll(async () => {
    bed = await createTestbed(options);
  });
  afterEach(() => opened.closeAll());
  afterAll(() => bed?.close());

  const N = 3000; // more than the 2048 one-segment descriptors the ring holds: some wait in overflow

  it.each([['host', 'host/rd0'], ['endpoint', 'endpoint/wr0']] as const)('%s: under load the counters match what was submitted, read per completion', async (side, name) => {
    const ch = opened.channel(await bed[side].dma.requestChannel({ name }));
    const other = side === 'host' ? 'endpoint' : 'host';
    const src = opened.alloc(bed[side].memory, N * 8);
    const dst = opened.alloc(bed[other].memory, N * 8);
    dst.bytes.fill(0);
    fill(src.bytes, 5);
    expect(ch.stats()).toEqual({ submitted: 0, completed: 0, errors: 0, bytes: 0, burstCapacity: 2048 });

    // Not issued yet: each one-segment descriptor takes two ring entries from the capacity.
    const descs = [];
    let expectedBytes = 0;
    const lengthOf = (i: number): number => 1 + (i % 8); // each within its own 8-byte slot
    for (let i = 0; i < N; i++) {
      ch.configure({ deviceAddr: dst.addr + i * 8 });
      const d = ch.prepSlaveSingle(src.addr + i * 8, lengthOf(i));
      d.submit();
      expectedBytes += lengthOf(i);
      descs.push(d);
      if (i === 99) expect(ch.stats()).toMatchObject({ submitted: 100, completed: 0, burstCapacity: 2048 - 100 });
    }
    expect(ch.stats()).toMatchObject({ submitted: N, completed: 0, errors: 0, bytes: 0, burstCapacity: 0 });

    // Read on every completion: monotonic, never ahead of what was submitted.
    const samples: ChannelStats[] = [];
    const sub = ch.completions$.subscribe(() => samples.push(ch.stats()));
    try {
      ch.issuePending();
      await within(Promise.all(descs.map((d) => d.done)), `${N} descriptors`);
    } finally {
      sub.unsubscribe();
    }
    expect(samples).toHaveLength(N);
    samples.forEach((s, i) => {
      expect(s.completed).toBe(i + 1);
      expect(s.submitted).toBe(N);
      expect(s.errors).toBe(0);
      expect(s.burstCapacity).toBeGreaterThanOrEqual(0);
      expect(s.burstCapacity).toBeLessThanOrEqual(2048);
    });
    await waitFor(() => ch.stats().burstCapacity === 2048, 'the ring to drain');
    expect(ch.stats()).toEqual({ submitted: N, completed: N, errors: 0, bytes: expectedBytes, burstCapacity: 2048 });
    for (let i = 0; i < N; i++) {
      const at = i * 8;
      expect(firstDifference(dst.bytes.subarray(at, at + lengthOf(i)), src.bytes.subarray(at, at + lengthOf(i)))).toBe(-1);
      expect(isZero(dst.bytes.subarray(at + lengthOf(i), at + 8))).toBe(true);
    }
  });

  it('a scatter-gather list takes 1 + nseg entries; errors count failed descriptors; terminated ones count nowhere; a new request starts at zero', async () => {
    const ch = opened.channel(await bed.host.dma.requestChannel({ name: 'host/rd1' }));
    const src = opened.alloc(bed.host.memory, 4096);
    const dst = opened.alloc(bed.endpoint.memory, 4096);
    ch.configure({ deviceAddr: dst.addr });
    const sg = ch.prepSlaveSg(Array.from({ length: 9 }, (_, k) => ({ addr: src.addr + k * 64, length: 64 })));
    sg.submit();
    // 10 entries: five one-segment descriptors' worth.
    expect(ch.stats().burstCapacity).toBe(2048 - 5);
    ch.issuePending();
    expect(await within(sg.done, 'sg')).toMatchObject({ result: 'ok', bytes: 576 });

    // A device address nothing maps: the engine aborts, an error with a callback.
    ch.configure({ deviceAddr: 0x7_0000_0000 });
    const bad = ch.prepSlaveSingle(src.addr, 64);
    bad.submit();
    ch.issuePending();
    expect((await within(bad.done, 'abort')).result).not.toBe('ok');

    // Terminated before it ran: no callback, neither completed nor an error.
    ch.configure({ deviceAddr: dst.addr });
    const dropped = ch.prepSlaveSingle(src.addr, 64);
    dropped.submit();
    await ch.terminateSync();
    expect(await dropped.done).toMatchObject({ reason: 'terminated', reasonCode: 'terminated' });
    expect(ch.stats()).toEqual({ submitted: 3, completed: 1, errors: 1, bytes: 576, burstCapacity: 2048 });

    await ch.release();
    const again = await bed.host.dma.requestChannel({ name: 'host/rd1' });
    opened.channel(again);
    expect(again.stats()).toEqual({ submitted: 0, completed: 0, errors: 0, bytes: 0, burstCapacity: 2048 });
  });

  it('a cyclic transfer counts every period it reports in bytes and itself once in submitted', async () => {
    const ch = opened.channel(await bed.endpoint.dma.requestChannel({ name: 'endpoint/wr1' }));
    const src = opened.alloc(bed.endpoint.memory, 4 * 256);
    const dst = opened.alloc(bed.host.memory, 4 * 256);
    ch.configure({ deviceAddr: dst.addr });
    const periods: Completion[] = [];
    const sub = ch.completions$.subscribe((c) => {
      periods.push(c);
      if (periods.length === 20) ch.terminateAsync();
    });
    try {
      ch.prepDmaCyclic(src.addr, 4 * 256, 256).submit();
      ch.issuePending();
      await waitFor(() => periods.length >= 20, '20 periods');
      await ch.synchronize();
    } finally {
      sub.unsubscribe();
    }
    expect(periods).toHaveLength(20);
    expect(ch.stats()).toEqual({ submitted: 1, completed: 0, errors: 0, bytes: 20 * 256, burstCapacity: 2048 });
  });
});
