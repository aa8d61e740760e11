/**
 * DMA reaches only memory that was granted (issue 14 item 5), each rule with memory snapshots
 * before and after:
 * - a DmaBuffer handed to transfer() is checked against its own length (EINVAL) and liveness
 *   (EPERM), and nothing moves;
 * - a host-driven channel reaches only the EP RAM pci-epf-dma grants for data: aimed at the
 *   LL memory, the metadata BAR backing or the register block it fails with the address in the
 *   reason, writes nothing there, and the host's channels keep working;
 * - with host.iommu the EP's engine reaches host memory only through live mappings of the
 *   right direction, and every refusal is counted in iommu.faults.
 */
import { firstValueFrom, type Observable } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { EpdmaError, type Completion, type DmaChannel, type Testbed } from '../../dist/api/index.js';
import { fill, firstDifference, isZero, Opened, viewAt, wholeMemory } from './testbed-support.js';

const opened = new Opened();
afterEach(async () => {
  await opened.closeAll();
});

const small = { endpoint: { writeChannels: 1, readChannels: 1, memoryBytes: 1 << 20 }, host: { memoryBytes: 1 << 20 } } as const;
const EP_SCRATCH_BASE = 0x4000_0000;
const EP_DMA_REGS_BASE = 0x6000_0000;
const EP_LL_BASE = 0x7000_0000;

/** The completion of a transfer, whether it succeeded or errored EIO (the completion attached). */
async function outcome(o: Observable<Completion>): Promise<Completion> {
  try {
    return await firstValueFrom(o);
  } catch (err) {
    if (err instanceof EpdmaError && err.code === 'EIO') return err.detail as Completion;
    throw err;
  }
}

const copy = (b: Uint8Array): Uint8Array => Uint8Array.from(b);
const failed = (c: Completion): boolean => c.result === 'write-failed' || c.result === 'read-failed' || c.result === 'aborted';

interface EpInternals { epc: { llMemory: { bytes: Uint8Array }; localSpace: { translate(a: number, l: number): { ok: boolean; region?: { bytes: Uint8Array } } } } }

describe('a DmaBuffer is checked against its own length and liveness', () => {
  it('length past the buffer: EINVAL, the neighbour and the destination are untouched', async () => {
    const bed = await opened.testbed(small);
    const ch = opened.channel(await bed.endpoint.dma.requestChannel({ kind: 'write' }));
    const src = opened.alloc(bed.endpoint.memory, 64);
    const neighbour = opened.alloc(bed.endpoint.memory, 4096);
    fill(src.bytes, 1);
    fill(neighbour.bytes, 2);
    const dst = opened.alloc(bed.host.memory, 4096);
    const hostBefore = copy(wholeMemory(bed.host.memory));
    const neighbourBefore = copy(neighbour.bytes);
    await expect(firstValueFrom(ch.transfer({ local: src, remote: dst.addr, length: 1024 }))).rejects.toMatchObject({ code: 'EINVAL', message: expect.stringContaining('0x400') });
    expect(firstDifference(wholeMemory(bed.host.memory), hostBefore)).toBe(-1);
    expect(firstDifference(neighbour.bytes, neighbourBefore)).toBe(-1);
    // Within its length it moves exactly its bytes.
    const c = await outcome(ch.transfer({ local: src, remote: dst.addr, length: 64 }));
    expect(c.result).toBe('ok');
    expect(firstDifference(dst.bytes.subarray(0, 64), src.bytes)).toBe(-1);
    expect(firstDifference(dst.bytes.subarray(64), hostBefore.subarray(dst.addr - bed.host.memory.base + 64, dst.addr - bed.host.memory.base + 4096))).toBe(-1);
  });

  it('a freed buffer: EPERM, its memory\'s new owner and the destination are untouched', async () => {
    const bed = await opened.testbed(small);
    const ch = opened.channel(await bed.endpoint.dma.requestChannel({ kind: 'write' }));
    const freed = bed.endpoint.memory.alloc(256);
    bed.endpoint.memory.free(freed);
    const owner = opened.alloc(bed.endpoint.memory, 256);
    expect(owner.addr).toBe(freed.addr);
    fill(owner.bytes, 3);
    const dst = opened.alloc(bed.host.memory, 256);
    const ownerBefore = copy(owner.bytes);
    const hostBefore = copy(wholeMemory(bed.host.memory));
    await expect(firstValueFrom(ch.transfer({ local: freed, remote: dst.addr, length: 256 }))).rejects.toMatchObject({ code: 'EPERM', message: expect.stringContaining(`0x${freed.addr.toString(16)}`) });
    expect(firstDifference(owner.bytes, ownerBefore)).toBe(-1);
    expect(firstDifference(wholeMemory(bed.host.memory), hostBefore)).toBe(-1);
  });
});

describe('host-driven channels reach only the EP RAM granted for data', () => {
  it('LL memory, metadata backing and registers: the transfer fails naming the address, nothing is written there, the channel keeps working', async () => {
    const bed = await opened.testbed(small);
    const epc = (bed as unknown as EpInternals).epc;
    const ch: DmaChannel = opened.channel(await bed.host.dma.requestChannel({ kind: 'read' }));
    const src = opened.alloc(bed.host.memory, 256);
    fill(src.bytes, 4);
    const scratch = epc.localSpace.translate(EP_SCRATCH_BASE, 256);
    expect(scratch.ok).toBe(true);
    // endpoint/wr0's LL region (idle here) and the metadata BAR backing.
    const llBefore = copy(epc.llMemory.bytes.subarray(0, 4096));
    const metaBefore = copy(scratch.region!.bytes.subarray(0, 256));
    for (const target of [EP_LL_BASE, EP_SCRATCH_BASE, EP_DMA_REGS_BASE]) {
      const c = await outcome(ch.transfer({ local: src, remote: target, length: 256 }));
      expect(failed(c), `${target.toString(16)}: ${c.result}`).toBe(true);
      expect(c.reason).toContain(`0x${target.toString(16)}`);
      expect(c.bytes).toBe(0);
    }
    expect(firstDifference(epc.llMemory.bytes.subarray(0, 4096), llBefore)).toBe(-1);
    expect(scratch.region!.bytes.subarray(0, 256)).toEqual(metaBefore);
    // The granted window still works, on the same channel, with exactly the bytes sent.
    const dst = opened.alloc(bed.endpoint.memory, 256);
    const c = await outcome(ch.transfer({ local: src, remote: dst.addr, length: 256 }));
    expect(c.result).toBe('ok');
    expect(firstDifference(dst.bytes, src.bytes)).toBe(-1);
    expect(firstDifference(viewAt(bed.endpoint.memory, dst.addr, 256), src.bytes)).toBe(-1);
  });
});

describe('host IOMMU', () => {
  async function iommuBed(): Promise<Testbed> {
    return opened.testbed({ ...small, host: { memoryBytes: 1 << 20, iommu: true } });
  }

  it('engine reads of host memory need a live to-device or bidirectional mapping; refusals are counted and write nothing', async () => {
    const bed = await iommuBed();
    const iommu = bed.host.iommu!;
    expect(iommu.faults).toBe(0);
    const ch = opened.channel(await bed.host.dma.requestChannel({ kind: 'read' }));
    const src = opened.alloc(bed.host.memory, 512);
    fill(src.bytes, 5);
    const dst = opened.alloc(bed.endpoint.memory, 512);
    const epBefore = copy(wholeMemory(bed.endpoint.memory));
    const attempt = (): Promise<Completion> => outcome(ch.transfer({ local: src, remote: dst.addr, length: 512 }));

    let c = await attempt(); // nothing mapped
    expect(failed(c)).toBe(true);
    expect(c.reason).toContain(`0x${src.addr.toString(16)}`);
    expect(iommu.faults).toBe(1);
    const wrongWay = iommu.map(src, 'from-device');
    c = await attempt();
    expect(failed(c)).toBe(true);
    expect(iommu.faults).toBe(2);
    wrongWay.unmap();
    const partial = iommu.map({ addr: src.addr, length: 256 }, 'to-device');
    c = await attempt(); // the element runs past the mapping
    expect(failed(c)).toBe(true);
    expect(iommu.faults).toBe(3);
    partial.unmap();
    expect(firstDifference(wholeMemory(bed.endpoint.memory), epBefore)).toBe(-1);

    const m = iommu.map(src, 'to-device');
    expect(m).toMatchObject({ addr: src.addr, length: 512 });
    c = await attempt();
    expect(c.result).toBe('ok');
    expect(firstDifference(dst.bytes, src.bytes)).toBe(-1);
    m.unmap();
    expect(() => m.unmap()).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    dst.bytes.fill(0);
    c = await attempt(); // unmapped again
    expect(failed(c)).toBe(true);
    expect(iommu.faults).toBe(4);
    expect(isZero(dst.bytes)).toBe(true);
  });

  it('engine writes of host memory need a from-device or bidirectional mapping', async () => {
    const bed = await iommuBed();
    const iommu = bed.host.iommu!;
    const ch = opened.channel(await bed.endpoint.dma.requestChannel({ kind: 'write' }));
    const src = opened.alloc(bed.endpoint.memory, 300);
    fill(src.bytes, 6);
    const dst = opened.alloc(bed.host.memory, 300);
    const hostBefore = copy(wholeMemory(bed.host.memory));
    const attempt = (): Promise<Completion> => outcome(ch.transfer({ local: src, remote: dst.addr, length: 300 }));

    const readOnly = iommu.map(dst, 'to-device');
    let c = await attempt();
    expect(failed(c)).toBe(true);
    expect(c.reason).toContain(`0x${dst.addr.toString(16)}`);
    expect(iommu.faults).toBe(1);
    expect(firstDifference(wholeMemory(bed.host.memory), hostBefore)).toBe(-1);
    readOnly.unmap();

    for (const direction of ['from-device', 'bidirectional'] as const) {
      dst.bytes.fill(0);
      const m = iommu.map(dst, direction);
      c = await attempt();
      expect(c.result, direction).toBe('ok');
      expect(firstDifference(dst.bytes, src.bytes)).toBe(-1);
      m.unmap();
    }
    expect(iommu.faults).toBe(1);
  });

  it('is absent without host.iommu', async () => {
    const bed = await opened.testbed(small);
    expect(bed.host.iommu).toBeUndefined();
  });
});
