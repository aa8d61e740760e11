import { afterEach, describe, expect, it, vi } from 'vitest';
import { filter, firstValueFrom } from 'rxjs';
import { EndpointController, type EndpointControllerOptions } from '../../dist/device/epc/endpoint-controller.js';
import { EP_DMA_REGS_BASE, EP_LL_BASE } from '../../dist/device/epc/ep-local-bus.js';
import { NO_BAR } from '../../dist/device/epc/epc-features.js';
import type { AuxResource } from '../../dist/device/epc/aux-resource.js';
import { EndpointFunction, type EndpointFunctionOptions, type EpfEventType } from '../../dist/pci-epf-dma/endpoint-function.js';
import { planWindow } from '../../dist/pci-epf-dma/epf-layout.js';
import { PciEnumerator } from '../../dist/device/pci/pci-enumerator.js';
import { parseMetadata } from '../../dist/device/metadata/metadata-parser.js';
import { readHostRequest, readReady } from '../../dist/device/metadata/metadata-handshake.js';
import { EDMA_V0 } from '../../dist/device/regs/edma-v0-regs.js';
import { waitFor } from '../support/wait.js';

const created: EndpointFunction[] = [];
afterEach(() => {
  for (const f of created) f.unbind();
  created.length = 0;
  vi.restoreAllMocks();
});

function makeEpc(o: EndpointControllerOptions = {}): EndpointController {
  return new EndpointController({ memoryBytes: 1 << 20, ...o });
}
function makeEpf(o: EndpointFunctionOptions = {}): EndpointFunction {
  const f = new EndpointFunction({ wrChans: 8, rdChans: 8, hostRequestPollMs: 2, ...o });
  created.push(f);
  return f;
}
function bindError(epc: EndpointController, epf: EndpointFunction): { code?: string; message?: string } | undefined {
  try {
    epf.bind(epc);
  } catch (e) {
    return e as { code?: string; message?: string };
  }
  return undefined;
}
function nextEvent(epf: EndpointFunction, type: EpfEventType): Promise<unknown> {
  return firstValueFrom(epf.events$.pipe(filter((e) => e.type === type)));
}
const H = 1 << 30;

/** Sets H the way the host does: read-modify-write of CTRL through the metadata BAR. */
function hostSetsH(epc: EndpointController, epf: EndpointFunction) {
  const fn = new PciEnumerator().enumerateFunction(epc, epf.funcNo);
  const bar = fn.bars[epf.metadataBar!]!.aperture;
  bar.write32(8, bar.read32(8) | H);
  return fn;
}
function allFree(epc: EndpointController): boolean {
  for (const [k, n] of [['write', epc.writeChannels], ['read', epc.readChannels]] as const) {
    for (let i = 0; i < n; i++) if (epc.channelOwner(k, i) !== 'free') return false;
  }
  return true;
}
const rewrite = (f: (r: AuxResource[]) => AuxResource[]) => ({ auxResourceFilter: f });

describe('EndpointFunction: attributes', () => {
  it('validates like configfs and names the attribute and value', () => {
    expect(() => makeEpf({ wrChans: 9 })).toThrow(/wrChans \(wr_chans\) 9 out of range 0\.\.8/);
    const f = makeEpf();
    expect(() => f.set('metadataBar', 6)).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringContaining('metadata_bar') }));
    expect(() => f.set('vendorId', 0x10000)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => f.set('msiInterrupts', 33)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => f.set('msixInterrupts', 2049)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => f.set('headerLayout', 'v5' as never)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    f.set('dmaWindowBar', NO_BAR);
    expect(f.attributes.dmaWindowBar).toBe('auto');
    expect(f.attributes.vendorId).toBe(0xffff);
  });

  it('freezes every attribute while bound (EOPNOTSUPP) and thaws on unbind', () => {
    const epc = makeEpc();
    const f = makeEpf();
    f.bind(epc);
    expect(() => f.set('rdChans', 4)).toThrow(expect.objectContaining({ code: 'EOPNOTSUPP' }));
    expect(() => f.configure({ vendorId: 1 })).toThrow(expect.objectContaining({ code: 'EOPNOTSUPP' }));
    f.unbind();
    f.set('rdChans', 0);
    expect(f.attributes.rdChans).toBe(0);
  });
});

describe('EndpointFunction: bind rules (reference 3.3)', () => {
  it('needs an MSI or MSI-X capable EPC (EOPNOTSUPP) and configured vectors (EINVAL)', () => {
    expect(bindError(makeEpc({ msiCapable: false, msixCapable: false }), makeEpf())?.code).toBe('EOPNOTSUPP');
    expect(bindError(makeEpc(), makeEpf({ msiInterrupts: 0 }))?.code).toBe('EINVAL');
    expect(bindError(makeEpc({ msixCapable: false }), makeEpf({ msiInterrupts: 0, msixInterrupts: 4 }))?.code).toBe('EINVAL');
    expect(bindError(makeEpc({ msiCapable: false }), makeEpf({ msiInterrupts: 0, msixInterrupts: 4 }))).toBeUndefined();
  });

  it('ENODEV without resources or without a CTRL resource; EOPNOTSUPP without LL memory', () => {
    expect(bindError(makeEpc({ dmaProvider: false, doorbell: false }), makeEpf())?.code).toBe('ENODEV');
    expect(bindError(makeEpc({ dmaProvider: false }), makeEpf())?.code).toBe('ENODEV');
    expect(bindError(makeEpc({ llMemory: false }), makeEpf())?.code).toBe('EOPNOTSUPP');
  });

  it('EINVAL for duplicate CTRL, out-of-range or duplicate hw_ch, duplicate descriptor IDs', () => {
    const dupCtrl = rewrite((r) => [r[0]!, ...r]);
    const hw8 = rewrite((r) => r.map((x) => (x.type === 'dma-chan' && x.hwChannel === 7 ? { ...x, hwChannel: 8 } : x)));
    const dupChan = rewrite((r) => r.map((x) => (x.type === 'dma-chan' && x.dir === 'rc-to-ep' && x.hwChannel === 1 ? { ...x, hwChannel: 0 } : x)));
    const dupDesc = rewrite((r) => r.map((x) => (x.type === 'dma-desc-mem' && x.id === 3 ? { ...x, id: 2 } : x)));
    for (const o of [dupCtrl, hw8, dupChan, dupDesc]) {
      const epc = makeEpc(o);
      expect(bindError(epc, makeEpf())?.code).toBe('EINVAL');
      expect(allFree(epc)).toBe(true);
    }
  });

  it('EINVAL for 0/0 channels and for more channels than the EPC has', () => {
    expect(bindError(makeEpc(), makeEpf({ wrChans: 0, rdChans: 0 }))).toMatchObject({ code: 'EINVAL', message: expect.stringContaining('no DMA channels requested') });
    expect(bindError(makeEpc({ writeChannels: 4 }), makeEpf({ wrChans: 5 }))).toMatchObject({ code: 'EINVAL', message: expect.stringContaining('wr_chans 5') });
  });

  it('EOPNOTSUPP for a non-DW layout and for the legacy map format', () => {
    const unknown = rewrite((r) => r.map((x) => (x.type === 'dma-ctrl-mmio' ? { ...x, regLayout: 'unknown' as const } : x)));
    const legacy = rewrite((r) => r.map((x) => (x.type === 'dma-ctrl-mmio' ? { ...x, mapFormat: 'legacy' as const } : x)));
    expect(bindError(makeEpc(unknown), makeEpf())?.code).toBe('EOPNOTSUPP');
    expect(bindError(makeEpc(legacy), makeEpf())).toMatchObject({ code: 'EOPNOTSUPP', message: expect.stringContaining('legacy') });
  });

  it('unroll and HDMA-compat take a direction wholly or not at all', () => {
    for (const mapFormat of ['unroll', 'hdma-compat'] as const) {
      const epc = makeEpc({ mapFormat });
      expect(bindError(epc, makeEpf({ wrChans: 2, rdChans: 8 }))?.code).toBe('EOPNOTSUPP');
      expect(bindError(epc, makeEpf({ wrChans: 0, rdChans: 7 }))?.code).toBe('EOPNOTSUPP');
      expect(allFree(epc)).toBe(true);
      const ok = makeEpf({ wrChans: 0, rdChans: 8 });
      expect(bindError(epc, ok)).toBeUndefined();
      expect(ok.delegated.length).toBe(8);
      ok.unbind();
    }
  });

  it('HDMA native delegates any dense prefix, and only that prefix', () => {
    const epc = makeEpc({ mapFormat: 'hdma-native' });
    const f = makeEpf({ wrChans: 2, rdChans: 3 });
    f.bind(epc);
    expect(f.delegated).toEqual([
      { kind: 'write', hwChannel: 0 }, { kind: 'write', hwChannel: 1 },
      { kind: 'read', hwChannel: 0 }, { kind: 'read', hwChannel: 1 }, { kind: 'read', hwChannel: 2 },
    ]);
    expect(epc.channelOwner('write', 2)).toBe('free');
    expect(epc.channelOwner('read', 3)).toBe('free');
    expect(epc.localChip().write.map((c) => c.hwChannel)).toEqual([2, 3, 4, 5, 6, 7]);
  });

  it('EINVAL for a missing dense channel or a missing descriptor memory', () => {
    const noRd1 = rewrite((r) => r.filter((x) => !(x.type === 'dma-chan' && x.dir === 'rc-to-ep' && x.hwChannel === 1)));
    expect(bindError(makeEpc({ mapFormat: 'hdma-native', ...noRd1 }), makeEpf({ wrChans: 0, rdChans: 3 }))).toMatchObject({ code: 'EINVAL', message: expect.stringContaining('missing dense rc-to-ep channel 1') });
    const noDesc = rewrite((r) => r.filter((x) => !(x.type === 'dma-desc-mem' && x.id === 0)));
    expect(bindError(makeEpc(noDesc), makeEpf())?.code).toBe('EINVAL');
  });

  it('delegates write channels then read channels and releases all without quiesce on failure', () => {
    const epc = makeEpc();
    epc.requestLocalChannel('read', 5);
    const f = makeEpf();
    expect(bindError(epc, f)?.code).toBe('EBUSY');
    expect(epc.reclaimLog.map((r) => `${r.kind}${r.hwChannel}:${r.quiesce}`)).toEqual([
      ...[0, 1, 2, 3, 4, 5, 6, 7].map((i) => `write${i}:false`),
      ...[0, 1, 2, 3, 4].map((i) => `read${i}:false`),
    ]);
    expect(epc.quiesceLog).toEqual([]);
    expect(epc.channelOwner('read', 5)).toBe('local');
    expect(epc.attachedFunctions()).toEqual([]);
    expect(f.bound).toBe(false);
  });

  it('a delegated channel is unavailable to EP-local clients until unbind', () => {
    const epc = makeEpc();
    const f = makeEpf({ wrChans: 0 });
    f.bind(epc);
    expect(() => epc.requestLocalChannel('read', 0)).toThrow(expect.objectContaining({ code: 'EBUSY' }));
    epc.requestLocalChannel('write', 0);
    f.unbind();
    epc.requestLocalChannel('read', 0);
    expect(epc.channelOwner('read', 0)).toBe('local');
  });
});

describe('EndpointFunction: BAR choice', () => {
  it('auto: metadata in the first free BAR, window in the next one', () => {
    const f = makeEpf();
    f.bind(makeEpc());
    expect([f.metadataBar, f.dmaWindowBar]).toEqual([0, 1]);
    const g = makeEpf();
    g.bind(makeEpc({ registerBar: { bar: 0 }, bars: [undefined, { type: 'disabled' }] }));
    expect([g.metadataBar, g.dmaWindowBar]).toEqual([2, 3]);
  });

  it('EINVAL for reserved, disabled, conflicting or fixed-resource BARs', () => {
    const epc = () => makeEpc({ registerBar: { bar: 4 }, bars: [undefined, undefined, undefined, { type: 'disabled' }] });
    expect(bindError(epc(), makeEpf({ metadataBar: 4 }))).toMatchObject({ code: 'EINVAL', message: expect.stringContaining('metadata_bar 4 is reserved') });
    expect(bindError(epc(), makeEpf({ metadataBar: 3 }))).toMatchObject({ code: 'EINVAL', message: expect.stringContaining('disabled') });
    expect(bindError(epc(), makeEpf({ dmaWindowBar: 4 }))?.code).toBe('EINVAL');
    // A fixed resource in an ordinary BAR: neither the metadata nor the window may go there.
    const fixedIn2 = rewrite((r) => r.map((x) => (x.type === 'dma-ctrl-mmio' ? { ...x, bar: 2, barOffset: 0 } : x)));
    expect(bindError(makeEpc(fixedIn2), makeEpf({ metadataBar: 2 }))).toMatchObject({ code: 'EINVAL', message: expect.stringContaining('fixed resource') });
    expect(bindError(makeEpc(fixedIn2), makeEpf({ dmaWindowBar: 2 }))?.code).toBe('EINVAL');
    const auto = makeEpf({ metadataBar: 'auto', dmaWindowBar: 'auto' });
    auto.bind(makeEpc(fixedIn2));
    expect([auto.metadataBar, auto.dmaWindowBar]).toEqual([0, 1]);
  });

  it('EOPNOTSUPP when a window is needed but the EPC cannot remap or has no BAR left', () => {
    expect(bindError(makeEpc({ subrangeMapping: false }), makeEpf())?.code).toBe('EOPNOTSUPP');
    expect(bindError(makeEpc({ dynamicInboundMapping: false }), makeEpf())?.code).toBe('EOPNOTSUPP');
    const oneBar = makeEpc({ bars: [undefined, ...Array(5).fill({ type: 'disabled' })] });
    expect(bindError(oneBar, makeEpf())?.code).toBe('EOPNOTSUPP');
    expect(allFree(oneBar)).toBe(true);
  });
});

describe('EndpointFunction: configfs BAR attributes (reference 13.4)', () => {
  // [first store, second store, error fragment of the second]
  const refused: [['metadataBar' | 'dmaWindowBar', number], ['metadataBar' | 'dmaWindowBar', number]][] = [
    [['metadataBar', 2], ['dmaWindowBar', 2]],
    [['dmaWindowBar', 0], ['metadataBar', 0]],
    [['dmaWindowBar', 5], ['metadataBar', 5]],
  ];
  it.each(refused)('storing %j then %j: the second store fails EINVAL and keeps its old value', (first, second) => {
    const f = makeEpf();
    f.set(first[0], first[1]);
    const before = f.attributes;
    expect(() => f.set(second[0], second[1])).toThrow(
      expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(new RegExp(`${second[0]} \\(\\w+\\) ${second[1]} is already (metadata_bar|dma_window_bar)`)) }),
    );
    expect(f.attributes).toEqual(before);
    expect(f.attributes[second[0]]).toBe('auto');
  });

  it('auto/auto, different BARs, re-storing the same value, and moving one BAR are all accepted', () => {
    const f = makeEpf();
    f.set('metadataBar', 'auto');
    f.set('dmaWindowBar', NO_BAR);
    f.set('metadataBar', 1);
    f.set('dmaWindowBar', 2);
    f.set('metadataBar', 1);
    f.set('metadataBar', 3);
    f.set('dmaWindowBar', 1); // 1 is free again
    expect([f.attributes.metadataBar, f.attributes.dmaWindowBar]).toEqual([3, 1]);
  });

  it('options at creation are stored in order, like successive writes', () => {
    expect(() => makeEpf({ metadataBar: 4, dmaWindowBar: 4 })).toThrow(
      expect.objectContaining({ code: 'EINVAL', message: expect.stringContaining('dmaWindowBar (dma_window_bar) 4 is already metadata_bar') }),
    );
    const f = makeEpf({ metadataBar: 4 });
    expect(() => f.configure({ dmaWindowBar: 4 })).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(f.attributes.dmaWindowBar).toBe('auto');
  });
});

describe('EndpointFunction: bind against the kernel (reference 13.4), table-driven', () => {
  type Attrs = Pick<EndpointFunctionOptions, 'metadataBar' | 'dmaWindowBar' | 'wrChans' | 'rdChans'>;
  interface Case {
    name: string;
    epc?: EndpointControllerOptions;
    epf: Attrs;
    /** Either the BARs chosen [metadata, window] or the error. */
    bars?: [number, number | undefined];
    error?: { code: string; fragment: string };
    /** Ordered side effects on the EPC. */
    log: string[];
  }

  /** One write + one read channel (unroll needs whole directions, so the EPC has just these). */
  const small: EndpointControllerOptions = { writeChannels: 1, readChannels: 1 };
  const inBar = (type: AuxResource['type'], bar: number, pick: (x: AuxResource) => boolean = () => true) =>
    rewrite((r) => r.map((x) => (x.type === type && pick(x) ? { ...x, bar, barOffset: 0 } : x)));
  const emptyDesc = (id: number) => rewrite((r) => r.map((x) => (x.type === 'dma-desc-mem' && x.id === id ? { ...x, size: 0 } : x)));
  /** Everything fixed: registers in BAR4, each descriptor memory in BAR5: no window needed. */
  const allFixed: EndpointControllerOptions = {
    ...small,
    auxResourceFilter: (r) =>
      r.map((x) =>
        x.type === 'dma-ctrl-mmio' ? { ...x, bar: 4, barOffset: 0 } : x.type === 'dma-desc-mem' ? { ...x, bar: 5, barOffset: x.id * 0x1000 } : x,
      ),
  };
  const delegated = ['delegate write0', 'delegate read0'];
  const released = ['reclaim write0 quiesce=false', 'reclaim read0 quiesce=false'];

  const cases: Case[] = [
    { name: 'auto/auto, nothing fixed', epc: small, epf: {}, bars: [0, 1], log: [...delegated, 'alloc BAR0', 'alloc BAR1'] },
    // a fixed doorbell counts like any fixed resource: the kernel picks BAR1 and BAR2
    { name: 'doorbell fixed in BAR0, auto/auto', epc: { ...small, ...inBar('doorbell-mmio', 0) }, epf: {}, bars: [1, 2], log: [...delegated, 'alloc BAR1', 'alloc BAR2'] },
    {
      name: 'doorbell fixed in BAR0, explicit metadata BAR0',
      epc: { ...small, ...inBar('doorbell-mmio', 0) },
      epf: { metadataBar: 0 },
      error: { code: 'EINVAL', fragment: 'metadata_bar 0 already holds a fixed resource' },
      log: [...delegated, ...released],
    },
    {
      name: 'doorbell fixed in BAR1, explicit window BAR1',
      epc: { ...small, ...inBar('doorbell-mmio', 1) },
      epf: { dmaWindowBar: 1 },
      error: { code: 'EINVAL', fragment: 'dma_window_bar 1 already holds a fixed resource' },
      log: [...delegated, ...released],
    },
    // descriptor memory of a channel that is not delegated still keeps its BAR off limits
    {
      name: 'unselected descriptor memory fixed in BAR0, auto/auto',
      epc: { mapFormat: 'hdma-native', writeChannels: 2, readChannels: 1, ...inBar('dma-desc-mem', 0, (x) => x.type === 'dma-desc-mem' && x.id === 1) },
      epf: {},
      bars: [1, 2],
      log: [...delegated, 'alloc BAR1', 'alloc BAR2'],
    },
    { name: 'register block fixed in BAR2, explicit metadata BAR2', epc: { ...small, ...inBar('dma-ctrl-mmio', 2) }, epf: { metadataBar: 2 }, error: { code: 'EINVAL', fragment: 'metadata_bar 2 already holds' }, log: [...delegated, ...released] },
    // an automatic metadata BAR does not step over the explicit window BAR: bind fails
    { name: 'auto metadata, explicit window BAR0', epc: small, epf: { dmaWindowBar: 0 }, error: { code: 'EINVAL', fragment: 'dma_window_bar 0 is the metadata BAR' }, log: [...delegated, ...released] },
    { name: 'auto metadata, explicit window BAR1', epc: small, epf: { dmaWindowBar: 1 }, bars: [0, 1], log: [...delegated, 'alloc BAR0', 'alloc BAR1'] },
    {
      name: 'doorbell in BAR0, auto metadata lands on explicit window BAR1',
      epc: { ...small, ...inBar('doorbell-mmio', 0) },
      epf: { dmaWindowBar: 1 },
      error: { code: 'EINVAL', fragment: 'dma_window_bar 1 is the metadata BAR' },
      log: [...delegated, ...released],
    },
    // an explicit window BAR is validated even when nothing needs the window
    { name: 'no window needed, explicit window BAR2', epc: allFixed, epf: { dmaWindowBar: 2 }, bars: [0, undefined], log: [...delegated, 'alloc BAR0'] },
    { name: 'no window needed, explicit window BAR5 (fixed descriptors)', epc: allFixed, epf: { dmaWindowBar: 5 }, error: { code: 'EINVAL', fragment: 'dma_window_bar 5 already holds a fixed resource' }, log: [...delegated, ...released] },
    {
      name: 'no window needed, explicit window on a disabled BAR',
      epc: { ...allFixed, bars: [undefined, undefined, undefined, { type: 'disabled' }] },
      epf: { dmaWindowBar: 3 },
      error: { code: 'EINVAL', fragment: 'dma_window_bar 3 is disabled' },
      log: [...delegated, ...released],
    },
    { name: 'no window needed, auto metadata lands on explicit window BAR0', epc: allFixed, epf: { dmaWindowBar: 0 }, error: { code: 'EINVAL', fragment: 'dma_window_bar 0 is the metadata BAR' }, log: [...delegated, ...released] },
    { name: 'no window needed, auto/auto', epc: allFixed, epf: {}, bars: [0, undefined], log: [...delegated, 'alloc BAR0'] },
    // empty descriptor memory fails only when mapped: after delegation and the BAR checks
    {
      name: 'read descriptor memory of size 0, subrange mapping available',
      epc: { ...small, ...emptyDesc(1) },
      epf: {},
      error: { code: 'EINVAL', fragment: 'descriptor memory 1 has size 0x0' },
      log: [...delegated, 'alloc BAR0', 'free BAR0', ...released],
    },
    {
      name: 'read descriptor memory of size 0, no subrange mapping',
      epc: { ...small, ...emptyDesc(1), subrangeMapping: false },
      epf: {},
      error: { code: 'EOPNOTSUPP', fragment: 'lacks subrange or dynamic inbound mapping' },
      log: [...delegated, ...released],
    },
    {
      name: 'write descriptor memory of size 0 behind a bad explicit window BAR: the BAR check comes first',
      epc: { ...small, ...emptyDesc(0), ...inBar('doorbell-mmio', 3) },
      epf: { dmaWindowBar: 3 },
      error: { code: 'EINVAL', fragment: 'dma_window_bar 3 already holds a fixed resource' },
      log: [...delegated, ...released],
    },
    {
      name: 'descriptor memory of size 0 of a channel not delegated',
      epc: { mapFormat: 'hdma-native', writeChannels: 2, readChannels: 1, ...emptyDesc(1) },
      epf: {},
      bars: [0, 1],
      log: [...delegated, 'alloc BAR0', 'alloc BAR1'],
    },
  ];

  /** Records delegation, reclaim and BAR memory in call order (successful calls only). */
  function sideEffects(epc: EndpointController): string[] {
    const log: string[] = [];
    const delegate = epc.delegateDmaChan.bind(epc);
    const reclaim = epc.reclaimDmaChan.bind(epc);
    const alloc = epc.allocSpace.bind(epc);
    const free = epc.freeSpace.bind(epc);
    vi.spyOn(epc, 'delegateDmaChan').mockImplementation((funcNo, dir, hw, vf) => {
      const h = delegate(funcNo, dir, hw, vf);
      log.push(`delegate ${dir === 'ep-to-rc' ? 'write' : 'read'}${hw}`);
      return h;
    });
    vi.spyOn(epc, 'reclaimDmaChan').mockImplementation((h, quiesce) => {
      reclaim(h, quiesce);
      log.push(`reclaim ${h.dir === 'ep-to-rc' ? 'write' : 'read'}${h.hwChannel} quiesce=${quiesce}`);
    });
    vi.spyOn(epc, 'allocSpace').mockImplementation((bar, size) => {
      const space = alloc(bar, size);
      log.push(`alloc BAR${bar}`);
      return space;
    });
    vi.spyOn(epc, 'freeSpace').mockImplementation((space) => {
      free(space);
      log.push(`free BAR${space.bar}`);
    });
    return log;
  }

  it.each(cases)('$name', (c) => {
    const epc = makeEpc(c.epc);
    const log = sideEffects(epc);
    const f = makeEpf({ wrChans: 1, rdChans: 1, ...c.epf });
    const error = bindError(epc, f);
    if (c.error !== undefined) {
      expect(error).toMatchObject({ code: c.error.code, message: expect.stringContaining(c.error.fragment) });
      expect(f.bound).toBe(false);
      expect(allFree(epc)).toBe(true);
      expect(epc.scratchBlocks.length).toBe(0);
      expect(epc.attachedFunctions()).toEqual([]);
    } else {
      expect(error).toBeUndefined();
      expect([f.metadataBar, f.dmaWindowBar]).toEqual(c.bars);
      expect(f.delegated).toEqual([{ kind: 'write', hwChannel: 0 }, { kind: 'read', hwChannel: 0 }]);
    }
    expect(log).toEqual(c.log);
  });
});

describe('EndpointFunction: build_layout (reference 3.4)', () => {
  it('NO_BAR register block (R-Car): CTRL window, one LL window extended per channel, padding to the BAR end', () => {
    const epc = makeEpc();
    const f = makeEpf();
    f.bind(epc);
    const l = f.layout!;
    expect(l.submaps.map((s) => [s.barOffset, s.phys, s.size, s.padding])).toEqual([
      [0, EP_DMA_REGS_BASE, 0x2000, false],
      [0x2000, EP_LL_BASE, 16 * 0x1000, false],
      [0x12000, l.windowSpace!.block.phys + 0x12000, 0x20000 - 0x12000, true],
    ]);
    expect(l.windowSpace!.barSize).toBe(0x20000);
    const md = l.metadata;
    expect([md.regBar, md.regOffset, md.regSize, md.mapFormat]).toEqual([1, 0n, 0x2000, 'unroll']);
    expect(md.write.map((e) => e.desc.offset)).toEqual([0, 1, 2, 3, 4, 5, 6, 7].map((i) => BigInt(0x2000 + i * 0x1000)));
    expect(md.read.map((e) => e.desc.offset)).toEqual([0, 1, 2, 3, 4, 5, 6, 7].map((i) => BigInt(0xa000 + i * 0x1000)));
    expect(md.read[3]!.desc).toEqual({ bar: 1, offset: 0xd000n, size: 0x1000, addr: BigInt(epc.llAddress('read', 3)) });
    // The metadata in the BAR's memory is what the layout says.
    const parsed = parseMetadata(l.metadataSpace.block.bytes, { barSizes: [0x1000, 0x20000, 0, 0, 0, 0] });
    expect(parsed.write).toEqual(md.write);
    expect(parsed.read).toEqual(md.read);
    expect(parsed.length).toBe(0x1c + 16 * 0x2c);
  });

  it('register block fixed in a BAR (RK3588): referenced in place, the window holds only LL memory', () => {
    const epc = makeEpc({ registerBar: { bar: 2, offset: 0x1000, size: 0x10000 }, writeChannels: 2, readChannels: 2 });
    const f = makeEpf({ wrChans: 2, rdChans: 2 });
    f.bind(epc);
    const l = f.layout!;
    expect([l.metadataBar, l.windowBar]).toEqual([0, 1]);
    expect([l.metadata.regBar, l.metadata.regOffset]).toEqual([2, 0x1000n]);
    expect(l.ctrlMap.needsSubmap).toBe(false);
    expect(l.submaps.map((s) => [s.barOffset, s.phys, s.size, s.padding])).toEqual([[0, EP_LL_BASE, 0x4000, false]]);
    expect(l.metadata.read.map((e) => e.desc.offset)).toEqual([0x2000n, 0x3000n]);
  });

  it('reuses a covering window when the EPC align spans several LL regions', () => {
    const epc = makeEpc({ registerBar: { bar: 4, size: 0x10000 }, align: 0x10000, mapFormat: 'hdma-native', writeChannels: 2, readChannels: 2 });
    const f = makeEpf({ wrChans: 2, rdChans: 1 });
    f.bind(epc);
    const l = f.layout!;
    expect(l.submaps.map((s) => [s.barOffset, s.phys, s.size])).toEqual([[0, EP_LL_BASE, 0x10000]]);
    expect(l.windowSpace!.barSize).toBe(0x10000);
    expect(l.metadata.write.map((e) => e.desc.offset)).toEqual([0n, 0x1000n]);
    expect(l.metadata.read.map((e) => e.desc.offset)).toEqual([0x2000n]);
  });

  it('planWindow: inner offsets, reuse, contiguous tail extension, append, and the fixed-BAR rules', () => {
    const res = (id: number, physAddr: number, size: number, bar = NO_BAR) =>
      ({ type: 'dma-desc-mem' as const, id, physAddr, size, bar, barOffset: 0x40 });
    const a = res(0, 0x7000_0100, 0x100);   // span 0x7000_0000 + 0x1000, inner 0x100
    const b = res(1, 0x7000_0800, 0x100);   // covered by a's span
    const c = res(2, 0x7000_1000, 0x1000);  // contiguous: extends the tail
    const d = res(3, 0x7100_0000, 0x1800);  // elsewhere: appended, 0x2000 span
    const fixed = res(4, 0x9000_0000, 0x100, 3);
    const plan = planWindow([a, b, c, a, d, fixed], 0x1000, 0, 1);
    expect(plan.submaps.map((s) => [s.barOffset, s.phys, s.size])).toEqual([[0, 0x7000_0000, 0x2000], [0x2000, 0x7100_0000, 0x2000]]);
    expect(plan.size).toBe(0x4000);
    expect([a, b, c, d, fixed].map((r) => plan.maps.get(r)!.offset)).toEqual([0x100, 0x800, 0x1000, 0x2000, 0x40]);
    expect(plan.maps.size).toBe(5);
    expect(plan.maps.get(fixed)!.bar).toBe(3);
    expect(() => planWindow([fixed], 0x1000, 3, 1)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => planWindow([fixed], 0x1000, 0, 3)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => planWindow([a], 0x1000, 0, undefined)).toThrow(expect.objectContaining({ code: 'EOPNOTSUPP' }));
  });

  it('sizes the metadata BAR with and without the MSI-X table and PBA', () => {
    const plain = makeEpf();
    plain.bind(makeEpc());
    expect(plain.layout).toMatchObject({ metadataLength: 0x2dc, metadataBackingSize: 0x1000, msixTableOffset: undefined });
    expect(plain.layout!.metadataSpace.barSize).toBe(0x1000);

    const epc = makeEpc();
    const msix = makeEpf({ msixInterrupts: 256 });
    msix.bind(epc);
    // table at ALIGN(0x2dc, 8) = 0x2e0, 16 bytes per vector; PBA ALIGN(256/8, 8) = 32 bytes
    expect(msix.layout).toMatchObject({ msixTableOffset: 0x2e0, msixPbaOffset: 0x12e0, metadataBackingSize: 0x2000 });
    expect(msix.layout!.metadataSpace.barSize).toBe(0x2000);
    epc.start();
    expect(epc.msixConfig(msix.funcNo)).toEqual({ count: 256, bir: msix.metadataBar, tableOffset: 0x2e0 });

    const aligned = makeEpf({ wrChans: 0 });
    aligned.bind(makeEpc({ align: 0x10000, registerBar: { bar: 5, size: 0x10000 } }));
    expect(aligned.layout!.metadataSpace.barSize).toBe(0x10000);
  });

  it('frees everything and releases channels when the layout cannot be built', () => {
    const epc = makeEpc({ bars: [{ type: 'usable', fixedSize: 0x100 }] });
    expect(bindError(epc, makeEpf({ metadataBar: 0 }))?.code).toBe('ENOMEM');
    expect(epc.scratchBlocks.length).toBe(0);
    expect(allFree(epc)).toBe(true);
  });
});

describe('EndpointFunction: lifecycle (reference 3.5)', () => {
  it('epc_init clears H and R, publishes the BARs and the header, and polls H', () => {
    const epc = makeEpc();
    const f = makeEpf({ vendorId: 0x1234, deviceId: 0x5678 });
    f.bind(epc);
    const w = f.metadataWords!;
    w[2] = (w[2]! | 0xc000_0000) >>> 0;
    expect(epc.functionBars(f.funcNo)[0]).toBeUndefined();
    epc.start();
    expect(readHostRequest(w) || readReady(w)).toBe(false);
    expect(epc.header(f.funcNo)).toMatchObject({ vendorId: 0x1234, deviceId: 0x5678, baseClassCode: 0x08, subclassCode: 0x01 });
    const bars = epc.functionBars(f.funcNo);
    expect(bars[0]!.windows).toEqual([{ barOffset: 0, size: 0x1000, localAddr: f.layout!.metadataSpace.block.phys }]);
    expect(bars[1]!.windows).toEqual([{ barOffset: 0, size: 0x20000, localAddr: f.layout!.windowSpace!.block.phys }]);
    expect(epc.msiCount(f.funcNo)).toBe(1);
    expect(f.mapWorkPending).toBe(true);
  });

  it('sets R only after H, and only once the window submaps are programmed', async () => {
    const epc = makeEpc();
    const f = makeEpf();
    f.bind(epc);
    epc.start();
    // Several map-work polls without H (counted), and none of them set R.
    await waitFor(() => f.mapWorkRuns >= 3, 'three map-work polls');
    expect(readReady(f.metadataWords!)).toBe(false);
    expect(f.submapsProgrammed).toBe(false);
    const fn = new PciEnumerator().enumerateFunction(epc, f.funcNo);
    const win = fn.bars[1]!.aperture;
    expect(win.windows.length).toBe(1); // still the plain scratch BAR
    const ready = nextEvent(f, 'ready');
    const meta = fn.bars[0]!.aperture;
    meta.write32(8, meta.read32(8) | H);
    await ready;
    expect(readHostRequest(f.metadataWords!)).toBe(true);
    expect(readReady(f.metadataWords!)).toBe(true);
    expect(win.windows).toEqual(f.layout!.submaps.map((s) => ({ barOffset: s.barOffset, size: s.size, localAddr: s.phys })));
    // Through the programmed window the host reaches the EP's register block.
    expect(win.read32(EDMA_V0.ctrl)).toBe(epc.registers.read32(EDMA_V0.ctrl));
    expect(f.channelsExposed).toBe(true);
    expect(f.mapWorkPending).toBe(false);
  });

  it('without a DMA window, R follows H at once', async () => {
    // Everything fixed in BAR 4 (a platform region): nothing to map.
    const fixed = rewrite((r) => r.map((x) => (x.type === 'dma-ctrl-mmio' || x.type === 'dma-desc-mem' ? { ...x, bar: 4, barOffset: 0 } : x)));
    const epc = makeEpc(fixed);
    const f = makeEpf();
    f.bind(epc);
    expect(f.dmaWindowBar).toBeUndefined();
    expect(f.layout!.submaps).toEqual([]);
    epc.start();
    const ready = nextEvent(f, 'ready');
    hostSetsH(epc, f);
    await ready;
    expect(readReady(f.metadataWords!)).toBe(true);
  });

  it('link down clears R only and unprograms; link up reprograms and sets R', async () => {
    const epc = makeEpc();
    const f = makeEpf();
    f.bind(epc);
    epc.start();
    const ready = nextEvent(f, 'ready');
    const fn = hostSetsH(epc, f);
    await ready;
    const win = fn.bars[1]!.aperture;
    epc.linkDown();
    expect(readReady(f.metadataWords!)).toBe(false);
    expect(readHostRequest(f.metadataWords!)).toBe(true);
    expect(f.submapsProgrammed).toBe(false);
    expect(win.programmed).toBe(false);
    expect(() => win.read32(0)).toThrow(expect.objectContaining({ code: 'EIO' }));
    expect(f.mapWorkPending).toBe(false);
    const again = nextEvent(f, 'ready');
    epc.linkUp();
    await again;
    expect(readReady(f.metadataWords!)).toBe(true);
    expect(win.windows.length).toBe(f.layout!.submaps.length);
  });

  it('a failed window programming is logged and not retried until the next link-up', async () => {
    // 64 KiB alignment makes the CTRL window run past the 8 KiB register block.
    const epc = makeEpc({ align: 0x10000 });
    const f = makeEpf();
    f.bind(epc);
    epc.start();
    const failed = nextEvent(f, 'map-failed');
    hostSetsH(epc, f);
    await failed;
    const runs = f.mapWorkRuns;
    expect(f.failuresLog.length).toBe(1);
    expect(f.failuresLog[0]!.code).toBe('EINVAL');
    // Not retried: no map work is armed, so none can run before the next link-up.
    expect(f.mapWorkPending).toBe(false);
    expect(readReady(f.metadataWords!)).toBe(false);
    const again = nextEvent(f, 'map-failed');
    epc.linkDown();
    epc.linkUp();
    await again;
    expect(f.failuresLog.length).toBe(2);
    expect(f.mapWorkRuns).toBe(runs + 1); // the link-up's one attempt, nothing in between
  });

  it('epc_deinit clears H and R and the BARs', async () => {
    const epc = makeEpc();
    const f = makeEpf();
    f.bind(epc);
    epc.start();
    const ready = nextEvent(f, 'ready');
    hostSetsH(epc, f);
    await ready;
    epc.stop();
    expect(readHostRequest(f.metadataWords!) || readReady(f.metadataWords!)).toBe(false);
    expect(epc.functionBars(f.funcNo).every((b) => b === undefined)).toBe(true);
    expect(f.mapWorkPending).toBe(false);
  });

  it('unbind before R was ever set reclaims without quiesce and frees everything', () => {
    const epc = makeEpc();
    const f = makeEpf();
    f.bind(epc);
    epc.start();
    f.unbind();
    expect(epc.reclaimLog.length).toBe(16);
    expect(epc.reclaimLog.every((r) => !r.quiesce)).toBe(true);
    expect(epc.quiesceLog).toEqual([]);
    expect(allFree(epc)).toBe(true);
    expect(epc.scratchBlocks.length).toBe(0);
    expect(epc.attachedFunctions()).toEqual([]);
    expect(f.mapWorkPending).toBe(false);
  });

  it('unbind after R reclaims every channel with quiesce (v4: each reclaim quiesces)', async () => {
    const epc = makeEpc();
    const f = makeEpf();
    f.bind(epc);
    epc.start();
    const ready = nextEvent(f, 'ready');
    hostSetsH(epc, f);
    await ready;
    epc.registers.write32(EDMA_V0.rdEngineEn, 1);
    f.unbind();
    expect(epc.reclaimLog.map((r) => r.quiesce)).toEqual(Array(16).fill(true));
    expect(epc.quiesceLog.length).toBe(16);
    expect(epc.quiesceLog.every((q) => q.scope === 'direction')).toBe(true);
    expect(epc.registers.read32(EDMA_V0.rdEngineEn)).toBe(0);
    expect(epc.registers.read32(EDMA_V0.rdIntMask)).toBe(0x00ff00ff);
    expect(allFree(epc)).toBe(true);
  });

  it('binding to an already initialised EPC publishes at once; one function per slot', () => {
    const epc = makeEpc();
    epc.start();
    const f = makeEpf();
    f.bind(epc);
    expect(epc.functionBars(f.funcNo)[0]).toBeDefined();
    expect(() => f.bind(epc)).toThrow(expect.objectContaining({ code: 'EBUSY' }));
    expect(bindError(epc, makeEpf())?.code).toBe('EBUSY');
  });
});
