import { afterEach, describe, expect, it } from 'vitest';
import { filter, firstValueFrom, toArray } from 'rxjs';
import { EndpointController, type EndpointControllerOptions } from '../../dist/device/epc/endpoint-controller.js';
import { EndpointFunction, type EndpointFunctionOptions } from '../../dist/pci-epf-dma/endpoint-function.js';
import { HostDriver, type HostDriverOptions } from '../../dist/dw-edma-pcie/host-driver.js';
import { PciEnumerator } from '../../dist/device/pci/pci-enumerator.js';
import type { PciFunction } from '../../dist/device/pci/pci-function.js';
import { readHostRequest, readReady } from '../../dist/device/metadata/metadata-handshake.js';
import { channelRegisters } from '../../dist/device/regs/channel-registers.js';
import { waitFor } from '../support/wait.js';

const epfs: EndpointFunction[] = [];
const hosts: HostDriver[] = [];
afterEach(() => {
  for (const h of hosts) h.remove();
  for (const f of epfs) f.unbind();
  hosts.length = 0;
  epfs.length = 0;
});

interface Bed {
  epc: EndpointController;
  epf: EndpointFunction;
  fn: PciFunction;
}

/** EP bound and started, the function enumerated and (by default) given the driver override. */
function bed(epcOptions: EndpointControllerOptions = {}, epfOptions: EndpointFunctionOptions = {}, override: string | null = 'dw-edma-pcie'): Bed {
  const epc = new EndpointController({ memoryBytes: 1 << 20, ...epcOptions });
  const epf = new EndpointFunction({ wrChans: 8, rdChans: 8, msiInterrupts: 16, hostRequestPollMs: 2, ...epfOptions });
  epfs.push(epf);
  epf.bind(epc);
  epc.start();
  const fn = new PciEnumerator().enumerateFunction(epc, epf.funcNo);
  fn.driverOverride = override ?? undefined;
  return { epc, epf, fn };
}

async function probe(fn: PciFunction, o: HostDriverOptions = {}): Promise<HostDriver> {
  const h = await HostDriver.probe(fn, { readyPollMs: 1, readyTimeoutMs: 2000, ...o });
  hosts.push(h);
  return h;
}

/** Until the EP's first map work has run (without H) and re-armed itself. */
async function firstPollDone(epf: EndpointFunction): Promise<void> {
  await waitFor(() => epf.mapWorkRuns > 0, "the EP's first map-work poll");
}

async function probeError(fn: PciFunction, o: HostDriverOptions = {}): Promise<{ code?: string; message?: string }> {
  try {
    await probe(fn, o);
  } catch (e) {
    return e as { code?: string; message?: string };
  }
  throw new Error('probe succeeded');
}

describe('HostDriver: matching and discovery', () => {
  it('ENODEV without driver_override, or with another driver named in it', async () => {
    expect((await probeError(bed({}, {}, null).fn)).code).toBe('ENODEV');
    const b = bed({}, {}, 'vfio-pci');
    expect((await probeError(b.fn)).message).toContain('driver_override');
    expect(readHostRequest(b.epf.metadataWords!)).toBe(false);
  });

  it('ENODEV when no BAR carries the magic', async () => {
    const b = bed();
    b.epf.metadataWords![0] = 0;
    expect((await probeError(b.fn)).code).toBe('ENODEV');
    expect(readHostRequest(b.epf.metadataWords!)).toBe(false);
  });

  it('a bad revision in the first magic BAR aborts the probe with EINVAL before H', async () => {
    const b = bed();
    const w = b.epf.metadataWords!;
    w[1] = ((w[1]! & ~0xff) | 2) >>> 0;
    const e = await probeError(b.fn);
    expect(e.code).toBe('EINVAL');
    expect(e.message).toContain('revision');
    expect(readHostRequest(w)).toBe(false);
  });

  it('skips BARs without the magic and takes the first one that has it', async () => {
    const b = bed({}, { metadataBar: 3, dmaWindowBar: 0 });
    const h = await probe(b.fn);
    expect(h.metadataBar).toBe(3);
    expect(h.metadata.regBar).toBe(0);
  });
});

describe('HostDriver: handshake', () => {
  it('sets H, waits for R, parses, and builds the remote partial instance', async () => {
    const { epc, epf, fn } = bed();
    const h = await probe(fn);
    expect(readHostRequest(epf.metadataWords!)).toBe(true);
    expect(h.isReady()).toBe(true);
    expect(h.metadata.write.length + h.metadata.read.length).toBe(16);
    expect(h.chip).toMatchObject({ local: false, partial: true, funcNo: 0, mapFormat: 'unroll' });
    expect(h.chip.registers).toBe(epc.registers);
    expect(h.nrIrqs).toBe(16);
    expect(h.channels.slice(0, 2)).toEqual([
      { name: 'host/wr0', kind: 'write', hwChannel: 0, direction: 'dev-to-mem' },
      { name: 'host/wr1', kind: 'write', hwChannel: 1, direction: 'dev-to-mem' },
    ]);
    expect(h.channels[9]).toEqual({ name: 'host/rd1', kind: 'read', hwChannel: 1, direction: 'mem-to-dev' });
    expect(h.chip.read.map((c) => c.ll.paddr)).toEqual([0, 1, 2, 3, 4, 5, 6, 7].map((i) => epc.llAddress('read', i)));
  });

  it("the host's LL views alias the EP's LL memory and its registers are the EP's block", async () => {
    const { epc, fn } = bed();
    const h = await probe(fn);
    const ll = h.chip.read[2]!.ll;
    new DataView(ll.buffer, ll.bufferOffset, ll.size).setUint32(0x10, 0xcafe_f00d, true);
    const hit = epc.localSpace.translate(epc.llAddress('read', 2) + 0x10, 4);
    expect(hit.ok).toBe(true);
    if (hit.ok) expect(new DataView(hit.region.buffer, hit.region.bufferOffset + hit.offset, 4).getUint32(0, true)).toBe(0xcafe_f00d);
    // A register write through the BAR lands in the EP's register block.
    const llp = channelRegisters('unroll', 'read', 2).llpLo;
    fn.bars[h.metadata.regBar]!.aperture.write32(Number(h.metadata.regOffset) + llp, ll.paddr);
    expect(epc.registers.read32(llp)).toBe(ll.paddr);
  });

  it('works with the register block fixed in a reserved BAR and with HDMA native', async () => {
    const { epc, fn } = bed({ registerBar: { bar: 4, offset: 0x2000, size: 0x10000 }, mapFormat: 'hdma-native' }, { wrChans: 1, rdChans: 2 });
    const h = await probe(fn);
    expect([h.metadata.regBar, h.metadata.regOffset]).toEqual([4, 0x2000n]);
    expect(h.chip.registers).toBe(epc.registers);
    expect(h.chip.mapFormat).toBe('hdma-native');
    expect(h.channels.map((c) => c.name)).toEqual(['host/wr0', 'host/rd0', 'host/rd1']);
    expect(h.nrIrqs).toBe(3);
  });

  it('works with the host-ctrl header layout (H in its own dword)', async () => {
    const { epf, fn } = bed({}, { headerLayout: 'host-ctrl' });
    const h = await probe(fn, { headerLayout: 'host-ctrl' });
    expect(readHostRequest(epf.metadataWords!, 'host-ctrl')).toBe(true);
    expect((epf.metadataWords![2]! & (1 << 30)) >>> 0).toBe(0);
    expect(h.metadata.headerLayout).toBe('host-ctrl');
  });

  it('ETIMEDOUT with H cleared when the EP never answers', async () => {
    const { epf, fn } = bed({}, { hostRequestPollMs: 60_000 });
    await firstPollDone(epf); // it ran without H and re-armed for a minute
    expect(epf.mapWorkPending).toBe(true);
    const e = await probeError(fn, { readyTimeoutMs: 20 });
    expect(e.code).toBe('ETIMEDOUT');
    expect(readHostRequest(epf.metadataWords!)).toBe(false);
    expect(readReady(epf.metadataWords!)).toBe(false);
  });

  it('ETIMEDOUT when the EP failed to program its windows (a failure it never retries)', async () => {
    const { epf, fn } = bed({ align: 0x10000 });
    const failed = firstValueFrom(epf.events$.pipe(filter((ev) => ev.type === 'map-failed')));
    const e = await probeError(fn, { readyTimeoutMs: 50 });
    expect(e.code).toBe('ETIMEDOUT');
    await failed;
    expect(epf.failuresLog.length).toBe(1);
  });

  it('a parse failure after R clears H', async () => {
    const { epf, fn } = bed();
    const w = epf.metadataWords!;
    // read entry 1: hw channel 5 instead of 1 (the header rules do not look at entries)
    const entry = (0x1c + 9 * 0x2c) / 4;
    w[entry] = ((w[entry]! & ~0xff) | 5) >>> 0;
    const e = await probeError(fn);
    expect(e.code).toBe('EOPNOTSUPP');
    expect(readReady(w)).toBe(true);
    expect(readHostRequest(w)).toBe(false);
  });

  it.each([
    // [dword of the field's hi half, hi value, message fragment]
    [0x1c + 0x14, 0x0020_0000, 'write entry 0 desc addr 0x20000'],
    [0x1c + 15 * 0x2c + 0x14, 0xffff_ffff, 'read entry 7 desc addr 0xffffffff'],
  ] as const)('a descriptor address the model cannot hold (hi dword %#x = %#x): parsed, then EINVAL naming it', async (at, hi, fragment) => {
    const { epf, fn } = bed();
    epf.metadataWords![at / 4] = hi;
    const e = await probeError(fn);
    expect(e.code).toBe('EINVAL');
    expect(e.message).toContain(`dw-edma-pcie: ${fragment}`);
    expect(e.message).toContain('cannot be modelled: not below 2^53');
  });

  it('an offset of 2^53 or more lies outside every BAR: the parser refuses it as the kernel does', async () => {
    const { epf, fn } = bed();
    epf.metadataWords![0x10 / 4] = 0x8000_0000; // register offset hi
    const e = await probeError(fn);
    expect(e.code).toBe('EINVAL');
    expect(e.message).toMatch(/register window 0x80000000[0-9a-f]{8}\+0x[0-9a-f]+ outside BAR/);
  });

  it('EOPNOTSUPP when the register window does not start at the register block', async () => {
    const shifted = {
      auxResourceFilter: (r: ReturnType<EndpointController['getAuxResources']>) =>
        r.map((x) => (x.type === 'dma-ctrl-mmio' ? { ...x, physAddr: x.physAddr + 0x1000, size: 0x1000 } : x)),
    };
    const e = await probeError(bed(shifted).fn);
    expect(e.code).toBe('EOPNOTSUPP');
    expect(e.message).toContain('register block');
  });

  it('EPERM when the function has no MSI/MSI-X vectors enabled', async () => {
    const { epc, epf, fn } = bed();
    epc.clearInterrupts(epf.funcNo);
    const again = new PciEnumerator().enumerateFunction(epc, fn.funcNo);
    again.driverOverride = 'dw-edma-pcie';
    expect((await probeError(again)).code).toBe('EPERM');
  });

  it('an aborted probe fails ESHUTDOWN, clears H and leaves no timer', async () => {
    const { epf, fn } = bed({}, { hostRequestPollMs: 60_000 });
    await firstPollDone(epf);
    const ac = new AbortController();
    const p = probe(fn, { signal: ac.signal, readyTimeoutMs: 60_000 });
    await waitFor(() => readHostRequest(epf.metadataWords!), 'the probe to set H');
    ac.abort();
    await expect(p).rejects.toMatchObject({ code: 'ESHUTDOWN' });
    expect(readHostRequest(epf.metadataWords!)).toBe(false);
    await expect(probe(fn, { signal: ac.signal })).rejects.toMatchObject({ code: 'ESHUTDOWN' });
  });
});

describe('HostDriver: after probe', () => {
  it('reports link-down when R clears and link-up when the EP sets it again', async () => {
    const { epc, fn } = bed();
    const h = await probe(fn);
    const events = firstValueFrom(h.events$.pipe(toArray()));
    const down = firstValueFrom(h.events$.pipe(filter((e) => e.type === 'link-down')));
    epc.linkDown();
    await down;
    expect(h.isReady()).toBe(false);
    const waiting = h.whenReady();
    epc.linkUp();
    await waiting;
    expect(h.isReady()).toBe(true);
    // The host's LL window works again after the EP reprogrammed it: the BAR reads what the
    // host's LL view of write channel 0 (BAR 1 offset 0x2000) holds.
    const ll = h.chip.write[0]!.ll;
    new DataView(ll.buffer, ll.bufferOffset, ll.size).setUint32(0, 0x5eed_f00d, true);
    expect(fn.bars[1]!.aperture.read32(0x2000)).toBe(0x5eed_f00d);
    h.remove();
    expect((await events).map((e) => e.type)).toEqual(['link-down', 'link-up']);
  });

  it('remove() stops the watch and fails pending waiters with ESHUTDOWN; H stays', async () => {
    const { epc, epf, fn } = bed();
    const h = await probe(fn);
    epc.linkDown();
    const waiting = h.whenReady();
    h.remove();
    await expect(waiting).rejects.toMatchObject({ code: 'ESHUTDOWN' });
    await expect(h.whenReady()).rejects.toMatchObject({ code: 'ESHUTDOWN' });
    expect(h.isReady()).toBe(false);
    expect(h.removed).toBe(true);
    expect(readHostRequest(epf.metadataWords!)).toBe(true);
  });
});
