/**
 * The side assembly both topologies share (testbed.ts, open-host.ts, endpoint-process.ts): which
 * channels start, in which order, under which names and directions, with which gate. The
 * DmaDevice's addChannel is recorded instead of starting workers: the testbed and two-process
 * suites run the same assembly with real workers.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ramRegion } from '../../dist/device/bus/memory-region.js';
import { EndpointController } from '../../dist/device/epc/endpoint-controller.js';
import { CTRL_READY, PCI_EP_DMA_METADATA_CTRL } from '../../dist/device/metadata/metadata-format.js';
import { PciEnumerator } from '../../dist/device/pci/pci-enumerator.js';
import { EndpointFunction } from '../../dist/pci-epf-dma/endpoint-function.js';
import { DmaDevice, type ChannelSpec } from '../../dist/api/dma-device.js';
import { RegionMemory } from '../../dist/api/dma-memory.js';
import { bindHost, linkUpGate, startChipChannels, type ChannelRuntime } from '../../dist/api/side-assembly.js';
import type { ChannelInfo } from '../../dist/api/types.js';
import type { LinkGate } from '../../dist/protocol/channel-worker-data.js';
import { waitFor } from '../support/wait.js';

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups.length = 0;
});

/** 4 write + 2 read engine channels; wr0..1 and rd0 delegated to the host. */
function endpoint(): { epc: EndpointController; epf: EndpointFunction } {
  // HDMA native: per-channel registers, so the function may delegate part of a direction.
  const epc = new EndpointController({ mapFormat: 'hdma-native', memoryBytes: 1 << 20, writeChannels: 4, readChannels: 2 });
  const epf = new EndpointFunction({ wrChans: 2, rdChans: 1, msiInterrupts: 16, hostRequestPollMs: 2 });
  epf.bind(epc);
  cleanups.push(() => epf.unbind());
  epc.start();
  return { epc, epf };
}

function gateOpen(g: LinkGate): boolean {
  return (Atomics.load(new Int32Array(g.buffer, g.byteOffset), g.index) & g.mask) !== 0;
}

/** addChannel recorded, not run: what the assembly asks the device for (also logged to `log`). */
function recordChannels(dma: DmaDevice, log: string[] = []): { info: ChannelInfo; spec: ChannelSpec }[] {
  const calls: { info: ChannelInfo; spec: ChannelSpec }[] = [];
  vi.spyOn(dma, 'addChannel').mockImplementation((info, spec) => {
    log.push(`start ${info.name}`);
    calls.push({ info, spec });
    return Promise.resolve(undefined as never);
  });
  return calls;
}

const RUNTIME: ChannelRuntime = { quirks: 'dw-edma', engine: null, idle: { policy: 'sleep' }, linkDownTimeoutMs: 1234 };

describe('bindHost', () => {
  it('binds dw-edma-pcie by driver_override, then starts the delegated channels write first, named and directed as the host sees them, gated on READY', async () => {
    const { epc } = endpoint();
    const fn = new PciEnumerator().enumerateFunction(epc, 0);
    expect(fn.driverOverride).toBeUndefined();
    const hostMemory = new RegionMemory(ramRegion('host-ram', 0x1_0000_0000, 1 << 16));
    cleanups.push(() => hostMemory.close());
    const driverEvents: string[] = [];
    const host = await bindHost(fn, {
      probe: { readyPollMs: 1, readyTimeoutMs: 5000 },
      device: { memory: hostMemory, onEvent: () => {} },
      onDriverEvent: (e) => driverEvents.push(e.type),
    });
    cleanups.push(() => host.driver.remove(), () => host.dma.close());
    expect(fn.driverOverride).toBe('dw-edma-pcie');
    expect(host.dma.side).toBe('host');
    expect(host.device).toEqual({
      vendorId: fn.config.vendorId,
      deviceId: fn.config.deviceId,
      classCode: fn.config.classCode,
      bars: fn.bars.flatMap((b) => (b === undefined ? [] : [{ index: b.index, size: b.size, busAddr: b.busAddr }])),
      metadata: host.driver.metadata,
    });

    const calls = recordChannels(host.dma);
    const seen: string[] = [];
    await host.startChannels((info, region) => {
      seen.push(`${info.name}@${region.hwChannel}`);
      return RUNTIME;
    });
    expect(seen).toEqual(['host/wr0@0', 'host/wr1@1', 'host/rd0@0']);
    expect(calls.map((c) => c.info)).toEqual([
      { side: 'host', kind: 'write', hwChannel: 0, direction: 'dev-to-mem', name: 'host/wr0' },
      { side: 'host', kind: 'write', hwChannel: 1, direction: 'dev-to-mem', name: 'host/wr1' },
      { side: 'host', kind: 'read', hwChannel: 0, direction: 'mem-to-dev', name: 'host/rd0' },
    ]);
    const chip = host.driver.chip;
    const regions = [...chip.write, ...chip.read];
    calls.forEach(({ info, spec }, i) => {
      expect(spec).toMatchObject({ ...RUNTIME, name: info.name, kind: info.kind, hwChannel: info.hwChannel, direction: info.direction, remote: true, mapFormat: chip.mapFormat, funcNo: chip.funcNo });
      expect(spec.registers).toBe(chip.registers.buffer);
      expect(spec.ll).toBe(regions[i]!.ll);
    });

    // One gate for all: the metadata CTRL dword as the host maps it, READY its bit.
    const gate = calls[0]!.spec.gate!;
    for (const c of calls) expect(c.spec.gate).toBe(gate);
    const bar = fn.bars[host.driver.metadataBar]!.aperture;
    expect(new Int32Array(gate.buffer, gate.byteOffset)[gate.index]! >>> 0).toBe(bar.read32(PCI_EP_DMA_METADATA_CTRL));
    expect(gate.mask >>> 0).toBe(CTRL_READY);
    expect(gateOpen(gate)).toBe(true);
    epc.linkDown(); // pci-epf-dma revokes READY
    await waitFor(() => !gateOpen(gate), 'READY clear after link down');
    await waitFor(() => driverEvents.includes('link-down'), "the bound driver's link-down");
    epc.linkUp();
    await waitFor(() => gateOpen(gate), 'READY set again after link up');
  });
});

describe('startChipChannels', () => {
  it("the EP's own channels: each claimed before it starts, write first, named and directed as the EP sees them, gated on the link word", async () => {
    const { epc } = endpoint();
    const memory = new RegionMemory(epc.memory);
    cleanups.push(() => memory.close());
    const dma = new DmaDevice({ side: 'endpoint', memory, onEvent: () => {} });
    cleanups.push(() => dma.close());
    const order: string[] = [];
    const calls = recordChannels(dma, order);
    const link = new Int32Array(new SharedArrayBuffer(4));
    const chip = epc.localChip();
    await startChipChannels(dma, chip, linkUpGate(link), () => RUNTIME, (kind, hw) => {
      order.push(`claim ${kind} ${hw}`);
      epc.requestLocalChannel(kind, hw);
    });
    expect(order).toEqual([
      'claim write 2', 'start endpoint/wr2', 'claim write 3', 'start endpoint/wr3', 'claim read 1', 'start endpoint/rd1',
    ]);
    expect(calls.map((c) => [c.info.name, c.info.direction, c.spec.remote])).toEqual([
      ['endpoint/wr2', 'mem-to-dev', false],
      ['endpoint/wr3', 'mem-to-dev', false],
      ['endpoint/rd1', 'dev-to-mem', false],
    ]);
    const gate = calls[0]!.spec.gate!;
    expect(gateOpen(gate)).toBe(false);
    Atomics.store(link, 0, 1);
    expect(gateOpen(gate)).toBe(true);
  });
});
