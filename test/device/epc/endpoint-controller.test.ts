import { describe, expect, it } from 'vitest';
import { EndpointController } from '../../../dist/device/epc/endpoint-controller.js';
import { EP_DMA_REGS_BASE, EP_LL_BASE, EP_RAM_BASE } from '../../../dist/device/epc/ep-local-bus.js';
import { NO_BAR } from '../../../dist/device/epc/epc-features.js';
import { EDMA_V0 } from '../../../dist/device/regs/edma-v0-regs.js';
import { HDMA_V0_BITS } from '../../../dist/device/regs/hdma-v0-regs.js';
import { channelRegisters } from '../../../dist/device/regs/channel-registers.js';

const noop = { epcInit() {}, epcDeinit() {}, linkUp() {}, linkDown() {} };

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return (e as { code?: string }).code;
  }
  return undefined;
}

describe('EndpointController: EP-local bus', () => {
  it('puts EP RAM and LL memory in one arena and the register block at 0x6000_0000', () => {
    const epc = new EndpointController({ memoryBytes: 1 << 20 });
    expect(epc.memory.base).toBe(EP_RAM_BASE);
    expect(epc.llMemory.base).toBe(EP_LL_BASE);
    expect(epc.llMemory.buffer).toBe(epc.memory.buffer);
    expect(epc.llMemory.size).toBe(16 * 4096);
    const t = epc.localSpace.translate(EP_DMA_REGS_BASE, 4);
    expect(t.ok && t.region.registers).toBe(epc.registers);
    // eDMA v0 ctrl reports the channel counts.
    expect(epc.registers.read32(EDMA_V0.ctrl)).toBe(8 | (8 << 16));
  });

  it('packs LL regions write channels first, then read channels', () => {
    const epc = new EndpointController({ writeChannels: 2, readChannels: 3, memoryBytes: 1 << 20 });
    expect(epc.llAddress('write', 1)).toBe(EP_LL_BASE + 0x1000);
    expect(epc.llAddress('read', 0)).toBe(EP_LL_BASE + 0x2000);
    expect(epc.llAddress('read', 2)).toBe(EP_LL_BASE + 0x4000);
    expect(code(() => epc.llAddress('write', 2))).toBe('EINVAL');
    const r = epc.llRegion('read', 1);
    expect(r.paddr).toBe(EP_LL_BASE + 0x3000);
    expect(r.bufferOffset).toBe(epc.llMemory.bufferOffset + 0x3000);
  });
});

describe('EndpointController: auxiliary resources', () => {
  it('reports CTRL, then CHAN+DESC_MEM per write channel, per read channel, then the doorbell', () => {
    const epc = new EndpointController({ writeChannels: 2, readChannels: 2, memoryBytes: 1 << 20 });
    const f = epc.attach(noop);
    const res = epc.getAuxResources(f);
    expect(res.map((r) => r.type)).toEqual([
      'dma-ctrl-mmio', 'dma-chan', 'dma-desc-mem', 'dma-chan', 'dma-desc-mem',
      'dma-chan', 'dma-desc-mem', 'dma-chan', 'dma-desc-mem', 'doorbell-mmio',
    ]);
    const ctrl = res[0]!;
    expect(ctrl).toMatchObject({ physAddr: EP_DMA_REGS_BASE, size: 0x2000, bar: NO_BAR, mapFormat: 'unroll', epToRcChannels: 2, rcToEpChannels: 2 });
    expect(res[5]).toMatchObject({ type: 'dma-chan', dir: 'rc-to-ep', hwChannel: 0, descMemId: 2 });
    expect(res[6]).toMatchObject({ type: 'dma-desc-mem', id: 2, physAddr: EP_LL_BASE + 0x2000, size: 4096, bar: NO_BAR });
  });

  it('reports the register block in place when it is fixed in a reserved BAR', () => {
    const epc = new EndpointController({ registerBar: { bar: 4, offset: 0x1000, size: 0x10000 }, memoryBytes: 1 << 20 });
    expect(epc.features.bars[4]).toEqual({ type: 'reserved', fixedSize: 0x10000 });
    const f = epc.attach(noop);
    expect(epc.getAuxResources(f)[0]).toMatchObject({ bar: 4, barOffset: 0x1000 });
    // The platform maps the reserved BAR itself: a read through it reaches the registers.
    const ap = epc.functionBars(f)[4]!;
    expect(ap.read32(0x1000 + EDMA_V0.ctrl)).toBe(epc.registers.read32(EDMA_V0.ctrl));
  });

  it('has no DMA resources without a provider, EOPNOTSUPP without LL memory or for a VF', () => {
    const noProvider = new EndpointController({ dmaProvider: false, memoryBytes: 1 << 20 });
    expect(noProvider.getAuxResources(noProvider.attach(noop)).map((r) => r.type)).toEqual(['doorbell-mmio']);
    const noLl = new EndpointController({ llMemory: false, memoryBytes: 1 << 20 });
    expect(code(() => noLl.getAuxResources(noLl.attach(noop)))).toBe('EOPNOTSUPP');
    const epc = new EndpointController({ memoryBytes: 1 << 20 });
    expect(code(() => epc.getAuxResources(epc.attach(noop), 1))).toBe('EOPNOTSUPP');
    expect(code(() => epc.getAuxResources(3))).toBe('EINVAL');
  });
});

describe('EndpointController: delegation', () => {
  it('validates function, direction, ops, channel and provider in that order', () => {
    const epc = new EndpointController({ writeChannels: 2, readChannels: 2, memoryBytes: 1 << 20 });
    const f = epc.attach(noop);
    expect(code(() => epc.delegateDmaChan(5, 'sideways' as never, 9))).toBe('EINVAL');
    expect(code(() => epc.delegateDmaChan(f, 'sideways' as never, 0))).toBe('EINVAL');
    expect(code(() => epc.delegateDmaChan(f, 'ep-to-rc', 2))).toBe('EINVAL');
    const noOps = new EndpointController({ delegationOps: false, memoryBytes: 1 << 20 });
    expect(code(() => noOps.delegateDmaChan(noOps.attach(noop), 'ep-to-rc', 0))).toBe('EOPNOTSUPP');
    const noProvider = new EndpointController({ dmaProvider: false, memoryBytes: 1 << 20 });
    expect(code(() => noProvider.delegateDmaChan(noProvider.attach(noop), 'ep-to-rc', 0))).toBe('ENODEV');
  });

  it('makes a delegated channel unavailable locally (EBUSY) until it is reclaimed', () => {
    const epc = new EndpointController({ memoryBytes: 1 << 20 });
    const f = epc.attach(noop);
    const h = epc.delegateDmaChan(f, 'rc-to-ep', 3);
    expect(epc.channelOwner('read', 3)).toBe('delegated');
    expect(code(() => epc.requestLocalChannel('read', 3))).toBe('EBUSY');
    expect(code(() => epc.delegateDmaChan(f, 'rc-to-ep', 3))).toBe('EBUSY');
    expect(epc.localChip().read.map((c) => c.hwChannel)).toEqual([0, 1, 2, 4, 5, 6, 7]);
    expect(epc.localChip()).toMatchObject({ local: true, partial: false, mapFormat: 'unroll' });
    epc.reclaimDmaChan(h, false);
    epc.reclaimDmaChan(h, true); // a second reclaim of the same handle is a no-op
    expect(epc.reclaimLog).toEqual([{ kind: 'read', hwChannel: 3, funcNo: f, quiesce: false }]);
    expect(epc.quiesceLog).toEqual([]);
    epc.requestLocalChannel('read', 3);
    expect(epc.channelOwner('read', 3)).toBe('local');
  });

  it('refuses to delegate a channel an EP client holds or that is running', () => {
    const epc = new EndpointController({ memoryBytes: 1 << 20 });
    const f = epc.attach(noop);
    epc.requestLocalChannel('write', 0);
    expect(code(() => epc.delegateDmaChan(f, 'ep-to-rc', 0))).toBe('EBUSY');
    // CS = running (1) in ch_control1 of write channel 1
    epc.registers.hwStore(channelRegisters('unroll', 'write', 1).control1, 1 << 5);
    expect(code(() => epc.delegateDmaChan(f, 'ep-to-rc', 1))).toBe('EBUSY');
  });

  it('quiesces a whole eDMA v0 direction on reclaim with quiesce', () => {
    const epc = new EndpointController({ memoryBytes: 1 << 20 });
    const f = epc.attach(noop);
    epc.registers.write32(EDMA_V0.wrEngineEn, 1);
    epc.registers.hwStore(EDMA_V0.wrIntStatus, 0x0003_0005);
    const h = epc.delegateDmaChan(f, 'ep-to-rc', 2);
    epc.reclaimDmaChan(h, true);
    expect(epc.quiesceLog).toEqual([{
      kind: 'write', hwChannel: 2, scope: 'direction',
      writes: [
        { offset: EDMA_V0.wrIntMask, value: 0x00ff00ff },
        { offset: EDMA_V0.wrIntClear, value: 0x00ff00ff },
        { offset: EDMA_V0.wrEngineEn, value: 0 },
      ],
    }]);
    expect(epc.registers.read32(EDMA_V0.wrIntMask)).toBe(0x00ff00ff);
    expect(epc.registers.read32(EDMA_V0.wrIntStatus)).toBe(0);
    expect(epc.registers.read32(EDMA_V0.wrEngineEn)).toBe(0);
    expect(epc.channelOwner('write', 2)).toBe('free');
  });

  it('quiesces one HDMA native channel on reclaim with quiesce', () => {
    const epc = new EndpointController({ mapFormat: 'hdma-native', memoryBytes: 1 << 20 });
    const f = epc.attach(noop);
    const r = channelRegisters('hdma-native', 'read', 1);
    epc.registers.write32(r.enable, 1);
    epc.registers.hwStore(r.intStatus, HDMA_V0_BITS.STOP);
    const h = epc.delegateDmaChan(f, 'rc-to-ep', 1);
    epc.reclaimDmaChan(h, true);
    const q = epc.quiesceLog[0]!;
    expect(q.scope).toBe('channel');
    expect(q.writes.map((w) => w.offset)).toEqual([r.intSetup, r.intClear, r.enable]);
    expect(epc.registers.read32(r.intSetup) & (HDMA_V0_BITS.STOP_INT_MASK | HDMA_V0_BITS.ABORT_INT_MASK)).toBe(HDMA_V0_BITS.STOP_INT_MASK | HDMA_V0_BITS.ABORT_INT_MASK);
    expect(epc.registers.read32(r.intStatus)).toBe(0);
    expect(epc.registers.read32(r.enable)).toBe(0);
  });
});

describe('EndpointController: BARs and memory', () => {
  it('allocates BAR space like pci_epf_alloc_space: min 128, power of two, fixed size, aligned', () => {
    const epc = new EndpointController({ bars: [undefined, { type: 'usable', fixedSize: 0x1000 }], align: 0x10000, memoryBytes: 1 << 20 });
    const a = epc.allocSpace(0, 0x2dc);
    expect(a.barSize).toBe(0x400);
    expect(a.block.size).toBe(0x10000);
    expect(a.block.phys % 0x10000).toBe(0);
    expect(epc.allocSpace(0, 10).barSize).toBe(128);
    expect(epc.allocSpace(1, 0x100).barSize).toBe(0x1000);
    expect(code(() => epc.allocSpace(1, 0x1001))).toBe('ENOMEM');
    expect(new Set(epc.scratchBlocks.map((b) => b.phys)).size).toBe(3);
    epc.freeSpace(a);
    expect(epc.scratchBlocks.length).toBe(2);
  });

  it('finds the next free BAR skipping reserved and disabled ones', () => {
    const epc = new EndpointController({ bars: [{ type: 'reserved' }, { type: 'disabled' }], memoryBytes: 1 << 20 });
    expect(epc.getNextFreeBar()).toBe(2);
    expect(epc.getNextFreeBar(3)).toBe(3);
    const none = new EndpointController({ bars: Array(6).fill({ type: 'disabled' }), memoryBytes: 1 << 20 });
    expect(none.getNextFreeBar()).toBe(NO_BAR);
  });

  it('needs a host-assigned BAR address before subrange (dynamic inbound) mapping', () => {
    const epc = new EndpointController({ memoryBytes: 1 << 20 });
    const f = epc.attach(noop);
    const s = epc.allocSpace(1, 0x4000);
    const ap = epc.setBar(f, 1, { phys: s.block.phys, size: s.barSize });
    const windows = [{ barOffset: 0, size: 0x2000, localAddr: EP_DMA_REGS_BASE }, { barOffset: 0x2000, size: 0x2000, localAddr: EP_LL_BASE }];
    expect(code(() => epc.setBarSubmaps(f, 1, windows))).toBe('EINVAL');
    ap.busAddr = 0xf000_0000;
    epc.setBarSubmaps(f, 1, windows);
    expect(epc.functionBars(f)[1]).toBe(ap);
    expect(ap.windows).toEqual(windows);
    epc.dropInboundWindows(f, 1);
    expect(ap.programmed).toBe(false);
    const noSub = new EndpointController({ subrangeMapping: false, memoryBytes: 1 << 20 });
    expect(code(() => noSub.setBarSubmaps(noSub.attach(noop), 1, windows))).toBe('EOPNOTSUPP');
  });

  it('refuses set_bar on reserved BARs and sizes that differ from a fixed size', () => {
    const epc = new EndpointController({ registerBar: { bar: 0 }, bars: [undefined, { type: 'usable', fixedSize: 0x2000 }], memoryBytes: 1 << 20 });
    const f = epc.attach(noop);
    const s = epc.allocSpace(2, 0x1000);
    expect(code(() => epc.setBar(f, 0, { phys: s.block.phys, size: 0x1000 }))).toBe('EINVAL');
    expect(code(() => epc.setBar(f, 1, { phys: s.block.phys, size: 0x1000 }))).toBe('EINVAL');
  });

  it('configures MSI and MSI-X per function and notifies bound functions of init and link', () => {
    const seen: string[] = [];
    const epc = new EndpointController({ msixCapable: false, memoryBytes: 1 << 20 });
    const f = epc.attach({ epcInit: () => seen.push('init'), epcDeinit: () => seen.push('deinit'), linkUp: () => seen.push('up'), linkDown: () => seen.push('down') });
    epc.setMsi(f, 4);
    expect(epc.msiCount(f)).toBe(4);
    expect(code(() => epc.setMsi(f, 33))).toBe('EINVAL');
    expect(code(() => epc.setMsix(f, { count: 1, bir: 0, tableOffset: 0 }))).toBe('EOPNOTSUPP');
    epc.start();
    epc.linkDown();
    epc.linkUp();
    epc.stop();
    expect(seen).toEqual(['init', 'up', 'down', 'up', 'down', 'deinit']);
    expect(epc.initComplete).toBe(false);
  });

  it('stores linkBytesPerSec for the engines and limits function slots', () => {
    const epc = new EndpointController({ linkBytesPerSec: 3.5e9, memoryBytes: 1 << 20 });
    expect(epc.linkBytesPerSec).toBe(3.5e9);
    epc.attach(noop);
    expect(code(() => epc.attach(noop))).toBe('EBUSY');
  });
});
