/**
 * createTestbed's options (API.md "Topology"): every bad value is an EINVAL naming the option
 * and the value, before anything starts; delegation (wrChans/rdChans) decides which channels
 * the host drives and which stay EP-local; each map format moves verified data both ways;
 * the function's IDs reach the host's enumeration.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createTestbed } from '../../dist/api/index.js';
import type { DmaChannel, Testbed, TestbedOptions } from '../../dist/api/index.js';
import { expectRejects, fill, firstDifference, isZero, Opened, run, within } from './testbed-support.js';

const opened = new Opened();
afterEach(async () => {
  await opened.closeAll();
});

describe('bad options are EINVAL naming the option and the value', () => {
  it.each<[TestbedOptions, string[]]>([
    [{ endpoint: { mapFormat: 'legacy' as 'unroll' } }, ['endpoint.mapFormat', 'legacy']],
    [{ endpoint: { writeChannels: 9 } }, ['endpoint.writeChannels', '9']],
    [{ endpoint: { readChannels: 0 } }, ['endpoint.readChannels', '0']],
    [{ endpoint: { readChannels: 2.5 } }, ['endpoint.readChannels', '2.5']],
    [{ endpoint: { memoryBytes: 1000 } }, ['endpoint.memoryBytes', '1000']],
    [{ endpoint: { linkBytesPerSec: 0 } }, ['endpoint.linkBytesPerSec', '0']],
    [{ host: { memoryBytes: -4096 } }, ['host.memoryBytes', '-4096']],
    [{ function: { vendorId: 0x10000 } }, ['function.vendorId', '65536']],
    [{ function: { deviceId: -1 } }, ['function.deviceId', '-1']],
    [{ function: { wrChans: 5 } }, ['function.wrChans', '5']],
    [{ endpoint: { readChannels: 2 }, function: { rdChans: 3 } }, ['function.rdChans', '3']],
    [{ function: { msiInterrupts: 33 } }, ['function.msiInterrupts', '33']],
    [{ function: { metadataBar: 6 } }, ['metadataBar', '6']],
    [{ function: { dmaWindowBar: 'x' as unknown as number } }, ['dmaWindowBar', 'x']],
    [{ timing: { preset: 'slow' as 'fast' } }, ['timing.preset', 'slow']],
    [{ timing: { readyPollMs: 0 } }, ['timing.readyPollMs', '0']],
    [{ timing: { readyTimeoutMs: Number.NaN } }, ['timing.readyTimeoutMs', 'NaN']],
    [{ timing: { hostRequestPollMs: -5 } }, ['timing.hostRequestPollMs', '-5']],
    [{ driver: { quirks: 'linux' as 'contract' } }, ['driver.quirks', 'linux', 'contract or dw-edma']],
    [{ driver: 'dw-edma' as unknown as TestbedOptions['driver'] }, ['driver', 'dw-edma']],
  ])('%j', async (options, parts) => {
    await expectRejects(createTestbed(options), 'EINVAL', ...parts);
  });

  it('options that are not an object are EINVAL too', async () => {
    await expectRejects(createTestbed(null as unknown as TestbedOptions), 'EINVAL', 'null');
    await expectRejects(createTestbed(42 as unknown as TestbedOptions), 'EINVAL', '42');
    await expectRejects(createTestbed({ endpoint: 'big' as unknown as TestbedOptions['endpoint'] }), 'EINVAL', 'endpoint', 'big');
  });

  it('driver.quirks is contract or dw-edma', async () => {
    await expectRejects(createTestbed({ driver: { quirks: 'linux' as 'contract' } }), 'EINVAL', 'driver.quirks', 'linux');
    await expectRejects(createTestbed({ driver: 'kernel' as unknown as TestbedOptions['driver'] }), 'EINVAL', 'driver', 'kernel');
  });

  it('conflicting function attributes are EINVAL naming them', async () => {
    await expectRejects(createTestbed({ function: { metadataBar: 1, dmaWindowBar: 1 } }), 'EINVAL', 'dma_window_bar', '1');
    await expectRejects(createTestbed({ function: { wrChans: 0, rdChans: 0 } }), 'EINVAL', 'wr_chans', 'rd_chans');
  });
});

describe('driver.quirks', () => {
  it("'dw-edma' reaches the channel cores of both sides; the default follows the contract", async () => {
    const kernel = await opened.testbed({ driver: { quirks: 'dw-edma' } });
    const contract = await opened.testbed();
    for (const [bed, residue] of [[kernel, 0], [contract, 4096]] as const) {
      for (const side of ['host', 'endpoint'] as const) {
        const ch = opened.channel(await bed[side].dma.requestChannel({ direction: 'mem-to-dev' }));
        const peer = bed[side === 'host' ? 'endpoint' : 'host'].memory;
        ch.configure({ deviceAddr: peer.base });
        const src = opened.alloc(bed[side].memory, 4096);
        const cookie = ch.prepSlaveSingle(src.addr, 4096).submit();
        // Submitted, not issued: dw-edma's tx_status searches only the issued list.
        expect(ch.txStatus(cookie)).toEqual({ status: 'in-progress', residue });
      }
    }
  });
});

/** One verified transfer on `ch`: mem-to-dev moves local -> peer, dev-to-mem peer -> local. */
async function verified(bed: Testbed, ch: DmaChannel, seed: number, length = 96 * 1024): Promise<void> {
  const side = ch.info.side;
  const local = opened.alloc(bed[side].memory, length);
  const remote = opened.alloc(bed[side === 'host' ? 'endpoint' : 'host'].memory, length);
  const [src, dst] = ch.info.direction === 'mem-to-dev' ? [local, remote] : [remote, local];
  fill(src.bytes, seed);
  dst.bytes.fill(0);
  const c = await within(run(ch.transfer({ local, remote: remote.addr, length })), `${ch.info.name} transfer`);
  expect(c).toMatchObject({ result: 'ok', residue: 0, bytes: length, channel: ch.info });
  expect(firstDifference(dst.bytes, src.bytes)).toBe(-1);
  expect(isZero(src.bytes)).toBe(false);
}

/** A gather of `n` 1 KiB segments (every other KiB of a local buffer) into one device range. */
async function verifiedSg(bed: Testbed, ch: DmaChannel, seed: number, n: number): Promise<void> {
  const side = ch.info.side;
  expect(ch.info.direction).toBe('mem-to-dev');
  const src = opened.alloc(bed[side].memory, 2 * n * 1024);
  const dst = opened.alloc(bed[side === 'host' ? 'endpoint' : 'host'].memory, n * 1024);
  fill(src.bytes, seed);
  dst.bytes.fill(0);
  const c = await within(run(ch.transfer({ segments: Array.from({ length: n }, (_, i) => ({ addr: src.addr + 2 * i * 1024, length: 1024 })), deviceAddr: dst.addr })), `${ch.info.name} sg`);
  expect(c).toMatchObject({ result: 'ok', residue: 0, bytes: n * 1024 });
  for (let i = 0; i < n; i++) {
    expect(firstDifference(dst.bytes.subarray(i * 1024, (i + 1) * 1024), src.bytes.subarray(2 * i * 1024, (2 * i + 1) * 1024))).toBe(-1);
  }
}

describe('delegation', () => {
  it('hdma-native wrChans 2: the host drives wr0..1 (dev-to-mem) and every read channel; the EP keeps wr2..3', async () => {
    const bed = await opened.testbed({ endpoint: { mapFormat: 'hdma-native' }, function: { wrChans: 2, vendorId: 0x1b36, deviceId: 0xabcd } });
    expect(bed.host.dma.channels.map((c) => `${c.name} ${c.kind} ${c.hwChannel} ${c.direction}`)).toEqual([
      'host/wr0 write 0 dev-to-mem', 'host/wr1 write 1 dev-to-mem',
      'host/rd0 read 0 mem-to-dev', 'host/rd1 read 1 mem-to-dev', 'host/rd2 read 2 mem-to-dev', 'host/rd3 read 3 mem-to-dev',
    ]);
    expect(bed.endpoint.dma.channels.map((c) => `${c.name} ${c.direction}`)).toEqual(['endpoint/wr2 mem-to-dev', 'endpoint/wr3 mem-to-dev']);
    expect(bed.endpoint.delegated.map((c) => c.name)).toEqual(['host/wr0', 'host/wr1', 'host/rd0', 'host/rd1', 'host/rd2', 'host/rd3']);
    // Delegated channels are gone from the EP; EP-local ones never show on the host.
    await expectRejects(bed.endpoint.dma.requestChannel({ name: 'endpoint/wr0' }), 'ENODEV', 'endpoint/wr0');
    await expectRejects(bed.host.dma.requestChannel({ name: 'host/wr2' }), 'ENODEV', 'host/wr2');

    const md = bed.host.device.metadata;
    expect(md.mapFormat).toBe('hdma-native');
    expect([md.write.length, md.read.length]).toEqual([2, 4]);
    expect([bed.endpoint.metadata.write.length, bed.endpoint.metadata.read.length]).toEqual([2, 4]);
    expect(bed.endpoint.metadata.mapFormat).toBe('hdma-native');
    expect(bed.host.device).toMatchObject({ vendorId: 0x1b36, deviceId: 0xabcd, classCode: 0x080100 });

    const hostWr = opened.channel(await bed.host.dma.requestChannel({ direction: 'dev-to-mem', hwChannel: 1 }));
    expect(hostWr.info.name).toBe('host/wr1');
    await verified(bed, hostWr, 1);
    await verified(bed, opened.channel(await bed.endpoint.dma.requestChannel({ name: 'endpoint/wr2' })), 2);
    await verified(bed, opened.channel(await bed.host.dma.requestChannel({ kind: 'read' })), 3);
  });

  it('unroll shares registers per direction: a partial wrChans is EOPNOTSUPP naming it', async () => {
    await expectRejects(createTestbed({ function: { wrChans: 2 } }), 'EOPNOTSUPP', 'wr_chans', '2');
    await expectRejects(createTestbed({ endpoint: { mapFormat: 'hdma-compat' }, function: { rdChans: 1 } }), 'EOPNOTSUPP', 'rd_chans', '1');
  });
});

describe('map formats: a verified transfer each way', () => {
  it.each(['unroll', 'hdma-compat', 'hdma-native'] as const)('%s: host -> EP on host/rd0, EP -> host on endpoint/wr0', async (mapFormat) => {
    const bed = await opened.testbed({ endpoint: { mapFormat, writeChannels: 1, readChannels: 1, memoryBytes: 4 << 20 }, host: { memoryBytes: 4 << 20 } });
    expect(bed.host.device.metadata.mapFormat).toBe(mapFormat);
    expect(bed.endpoint.metadata.mapFormat).toBe(mapFormat);
    expect([bed.host.device.metadata.write.length, bed.host.device.metadata.read.length]).toEqual([0, 1]);
    const up = opened.channel(await bed.host.dma.requestChannel({ name: 'host/rd0' }));
    const down = opened.channel(await bed.endpoint.dma.requestChannel({ name: 'endpoint/wr0' }));
    await verified(bed, up, 10);
    await verified(bed, down, 11);
    // And a scatter list longer than one LL chunk (169 elements) each way.
    await verifiedSg(bed, up, 12, 300);
    await verifiedSg(bed, down, 13, 300);
  });

  it('hdma-native per-channel delegation: all four paths (host wr/rd, EP wr/rd) in one testbed', async () => {
    const bed = await opened.testbed({
      endpoint: { mapFormat: 'hdma-native', writeChannels: 2, readChannels: 2, memoryBytes: 4 << 20 },
      host: { memoryBytes: 4 << 20 },
      function: { wrChans: 1, rdChans: 1 },
    });
    expect(bed.host.dma.channels.map((c) => `${c.name} ${c.direction}`)).toEqual(['host/wr0 dev-to-mem', 'host/rd0 mem-to-dev']);
    expect(bed.endpoint.dma.channels.map((c) => `${c.name} ${c.direction}`)).toEqual(['endpoint/wr1 mem-to-dev', 'endpoint/rd1 dev-to-mem']);
    let seed = 20;
    for (const side of ['host', 'endpoint'] as const) {
      for (const info of bed[side].dma.channels) await verified(bed, opened.channel(await bed[side].dma.requestChannel({ name: info.name })), seed++);
    }
  });
});
