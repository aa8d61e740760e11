/**
 * The hooks two-process mode added to the device model (BarAperture.onChange and its
 * currentWindows, EndpointController's shared buffers and onBarWindows, ScratchMemory's
 * backing, MmioRegisterFile.crossProcessNotify), each checked on its own.
 */
import { describe, expect, it } from 'vitest';
import { AddressSpace } from '../../dist/device/bus/address-space.js';
import { BarAperture, type InboundWindow } from '../../dist/device/bus/bar-aperture.js';
import { arenaBytes, ramRegion } from '../../dist/device/bus/memory-region.js';
import { EndpointController } from '../../dist/device/epc/endpoint-controller.js';
import { EP_SCRATCH_BASE, LL_REGION_BYTES } from '../../dist/device/epc/ep-local-bus.js';
import { ScratchMemory } from '../../dist/device/epc/scratch-memory.js';
import { EndpointFunction } from '../../dist/pci-epf-dma/endpoint-function.js';
import { setHostRequest } from '../../dist/device/metadata/metadata-handshake.js';
import { PciEnumerator } from '../../dist/device/pci/pci-enumerator.js';
import { channelRegisters } from '../../dist/device/regs/channel-registers.js';
import { MmioRegisterFile } from '../../dist/device/regs/register-file.js';
import { waitFor } from '../support/wait.js';

describe('BarAperture.onChange', () => {
  it('reports every program and unprogram with the windows now in force', () => {
    const space = new AddressSpace('ep', [ramRegion('ram', 0x1000_0000, 0x10000)]);
    const ap = new BarAperture(2, 0x2000, space);
    const seen: [number, readonly InboundWindow[]][] = [];
    ap.onChange = (i, w) => seen.push([i, w]);
    ap.program([{ barOffset: 0x1000, size: 0x1000, localAddr: 0x1000_2000 }, { barOffset: 0, size: 0x1000, localAddr: 0x1000_0000 }]);
    ap.unprogram();
    expect(seen).toEqual([
      [2, [{ barOffset: 0, size: 0x1000, localAddr: 0x1000_0000 }, { barOffset: 0x1000, size: 0x1000, localAddr: 0x1000_2000 }]],
      [2, []],
    ]);
    // A rejected program changes nothing and reports nothing.
    expect(() => ap.program([{ barOffset: 0, size: 0x4000, localAddr: 0x1000_0000 }])).toThrow();
    expect(seen).toHaveLength(2);
  });
});

describe('ScratchMemory with a shared backing', () => {
  it('places each block at phys - base in the backing and zeroes reused memory', () => {
    const backing = new SharedArrayBuffer(0x10000);
    const space = new AddressSpace('ep');
    const scratch = new ScratchMemory(space, 0x4000_0000, 0x10000, backing);
    const a = scratch.alloc(0x1000, 0x1000);
    const b = scratch.alloc(0x2000, 0x1000);
    expect(a.region.buffer).toBe(backing);
    expect(b.region.bufferOffset).toBe(b.phys - 0x4000_0000);
    b.bytes.fill(0xee);
    expect(new Uint8Array(backing)[b.phys - 0x4000_0000]).toBe(0xee);
    scratch.free(b);
    const c = scratch.alloc(0x2000, 0x1000);
    expect(c.phys).toBe(b.phys);
    expect(c.bytes.every((x) => x === 0)).toBe(true);
    expect(() => scratch.alloc(0x10000, 0x1000)).toThrow(expect.objectContaining({ code: 'ENOMEM' }));
    expect(() => new ScratchMemory(space, 0x5000_0000, 0x20000, backing)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
  });
});

describe('EndpointController with shared buffers and onBarWindows', () => {
  it('lays the arena, registers and BAR memory into the given buffers and reports every BAR window change', async () => {
    const mem = 1 << 20;
    const host = 1 << 20;
    const llBytes = 8 * LL_REGION_BYTES;
    const arena = new SharedArrayBuffer(arenaBytes([mem, llBytes, host]));
    const registers = new SharedArrayBuffer(MmioRegisterFile.bytesFor('unroll'));
    const scratch = new SharedArrayBuffer(1 << 20);
    const windows = new Map<number, readonly InboundWindow[]>();
    const epc = new EndpointController({
      writeChannels: 4, readChannels: 4, memoryBytes: mem,
      companionRegions: [{ name: 'host-ram', base: 0x1_0000_0000, size: host }],
      shared: { arena, registers, scratch, scratchBytes: 1 << 20 },
      onBarWindows: (funcNo, bar, w) => {
        expect(funcNo).toBe(0);
        windows.set(bar, w);
      },
    });
    expect(epc.memory.buffer).toBe(arena);
    expect(epc.companion('host-ram')!.buffer).toBe(arena);
    expect(epc.registers.buffer).toBe(registers);
    const epf = new EndpointFunction({ wrChans: 4, rdChans: 4, hostRequestPollMs: 1 });
    epf.bind(epc);
    epc.start();
    new PciEnumerator().enumerate(epc);
    const metaBar = epf.metadataBar!;
    const winBar = epf.dmaWindowBar!;
    // Plain BARs published at init: one window each, onto scratch memory in the backing.
    expect(windows.get(metaBar)).toEqual([{ barOffset: 0, size: epc.functionBars(0)[metaBar]!.size, localAddr: expect.any(Number) }]);
    const metaLocal = windows.get(metaBar)![0]!.localAddr;
    expect(metaLocal).toBeGreaterThanOrEqual(EP_SCRATCH_BASE);
    expect(epf.metadataWords!.buffer).toBe(scratch);
    expect(epf.metadataWords!.byteOffset).toBe(metaLocal - EP_SCRATCH_BASE);
    // H from the host: map work programs the window BAR's submaps, then sets R.
    setHostRequest(epf.metadataWords!);
    await waitFor(() => epf.ready, 'R after H');
    expect(windows.get(winBar)).toEqual(epf.layout!.submaps.map((m) => ({ barOffset: m.barOffset, size: m.size, localAddr: m.phys })));
    expect(windows.get(winBar)!.length).toBeGreaterThan(1);
    // Link down drops the submaps (reported empty); clearing at unbind too.
    epc.linkDown();
    expect(windows.get(winBar)).toEqual([]);
    epf.unbind();
    expect(windows.get(metaBar)).toEqual([]);
    epc.stop();
  });
});

describe('MmioRegisterFile.crossProcessNotify', () => {
  it('is called with the engine-wake word on a doorbell and the channel irq word on an interrupt', () => {
    const file = MmioRegisterFile.create('unroll', { writeChannels: 2, readChannels: 2 });
    const calls: [Int32Array, number][] = [];
    file.crossProcessNotify = (view, index) => calls.push([view, index]);
    const r = channelRegisters('unroll', 'read', 1);
    file.write32(r.doorbell, 1);
    file.signalIrq('read', 1);
    expect(calls.map(([, i]) => i)).toEqual([MmioRegisterFile.ENGINE_WAKE_INDEX, MmioRegisterFile.irqIndex('read', 1)]);
    expect(calls[0]![0]).toBe(file.shadowWords);
    // Plain stores and W1C clears wake nobody.
    file.write32(r.llpLo, 0x1000);
    file.write32(r.intClear, r.doneBit);
    expect(calls).toHaveLength(2);
    // A second view of the same buffer without the hook stays silent (per instance).
    const other = new MmioRegisterFile(file.buffer, 'unroll');
    other.write32(r.doorbell, 1);
    expect(calls).toHaveLength(2);
  });
});
