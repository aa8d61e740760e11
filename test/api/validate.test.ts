/**
 * Every public entry point fed bad values (issue 14 item 6): each comes back as an EpdmaError
 * with the right code and the offending value in the message, never a TypeError and never
 * silently accepted; after close() every call on the testbed's objects is ESHUTDOWN. The
 * helpers themselves (src/api/validate.ts) are checked with fast-check.
 */
import fc from 'fast-check';
import { firstValueFrom, isObservable, type Observable } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNtbTransport, createTestbed, encodeMetadata, EpdmaError, loadTest, parseMetadata } from '../../dist/api/index.js';
import type { DmaBuffer, DmaChannel, EpdmaErrorCode, Testbed } from '../../dist/api/index.js';
import { checkAddress, checkDuration, checkLength, show } from '../../dist/api/validate.js';

let bed: Testbed;
let chan: DmaChannel;
let buf: DmaBuffer;

beforeAll(async () => {
  bed = await createTestbed({ endpoint: { writeChannels: 1, readChannels: 1, memoryBytes: 1 << 20 }, host: { memoryBytes: 1 << 20, iommu: true } });
  chan = await bed.host.dma.requestChannel();
  buf = bed.host.memory.alloc(64);
  chan.configure({ deviceAddr: bed.endpoint.memory.base });
});
afterAll(async () => {
  await bed?.close();
});

/** Runs `call` and returns what it threw, rejected or errored with (Promise and Observable too). */
async function failureOf(call: () => unknown): Promise<unknown> {
  try {
    const r = call();
    if (isObservable(r)) await firstValueFrom(r as Observable<unknown>);
    else if (r instanceof Promise) await r;
  } catch (err) {
    return err;
  }
  return undefined;
}

type Row = [name: string, call: () => unknown, code: EpdmaErrorCode, shows: string];

const rows = (): Row[] => {
  const base = bed.endpoint.memory.base;
  const local = buf;
  return [
    // transfer()
    ['transfer(null)', () => chan.transfer(null as never), 'EINVAL', 'null'],
    ['transfer(5)', () => chan.transfer(5 as never), 'EINVAL', '5'],
    ['transfer remote undefined', () => chan.transfer({ local, remote: undefined as never, length: 16 }), 'EINVAL', 'remote undefined'],
    ['transfer remote 10n', () => chan.transfer({ local, remote: 10n as never, length: 16 }), 'EINVAL', '10n'],
    ['transfer remote -1', () => chan.transfer({ local, remote: -1, length: 16 }), 'EINVAL', '-1'],
    ['transfer length NaN', () => chan.transfer({ local, remote: base, length: NaN }), 'EINVAL', 'NaN'],
    ['transfer length "16"', () => chan.transfer({ local, remote: base, length: '16' as never }), 'EINVAL', "'16'"],
    ['transfer local "x"', () => chan.transfer({ local: 'x' as never, remote: base, length: 16 }), 'EINVAL', "'x'"],
    ['transfer local {}', () => chan.transfer({ local: {} as never, remote: base, length: 16 }), 'EINVAL', '{}'],
    ['transfer local past its DmaBuffer', () => chan.transfer({ local, remote: base, length: 1024 }), 'EINVAL', '0x400'],
    ['transfer segments null', () => chan.transfer({ segments: null as never, deviceAddr: base }), 'EINVAL', 'null'],
    ['transfer deviceAddr "0"', () => chan.transfer({ segments: [{ addr: local.addr, length: 4 }], deviceAddr: '0' as never }), 'EINVAL', "'0'"],
    // prep
    ['prepSlaveSg([null])', () => chan.prepSlaveSg([null as never]), 'EINVAL', 'null'],
    ['prepSlaveSg(null)', () => chan.prepSlaveSg(null as never), 'EINVAL', 'null'],
    ['prepSlaveSg([])', () => chan.prepSlaveSg([]), 'EINVAL', '[]'],
    ['prepSlaveSg addr "x"', () => chan.prepSlaveSg([{ addr: 'x' as never, length: 4 }]), 'EINVAL', "'x'"],
    ['prepSlaveSg length 0', () => chan.prepSlaveSg([{ addr: local.addr, length: 0 }]), 'EINVAL', 'length 0'],
    ['prepSlaveSingle(10n)', () => chan.prepSlaveSingle(10n as never, 4), 'EINVAL', '10n'],
    ['prepSlaveSingle length -5', () => chan.prepSlaveSingle(local.addr, -5), 'EINVAL', '-5'],
    ['prep options "x"', () => chan.prepSlaveSingle(local.addr, 4, 'x' as never), 'EINVAL', "'x'"],
    ['prep interrupt "yes"', () => chan.prepSlaveSingle(local.addr, 4, { interrupt: 'yes' as never }), 'EINVAL', "'yes'"],
    // configure, txStatus
    ['configure(null)', () => chan.configure(null as never), 'EINVAL', 'undefined'],
    ['configure deviceAddr 10n', () => chan.configure({ deviceAddr: 10n as never }), 'EINVAL', '10'],
    ['txStatus("1")', () => chan.txStatus('1' as never), 'EINVAL', "'1'"],
    ['txStatus(Symbol)', () => chan.txStatus(Symbol('c') as never), 'EINVAL', 'Symbol(c)'],
    ['txStatus(0)', () => chan.txStatus(0), 'EINVAL', 'cookie 0'],
    // memory
    ['free(null)', () => bed.host.memory.free(null as never), 'EINVAL', 'null'],
    ['free({})', () => bed.host.memory.free({} as never), 'EINVAL', '{}'],
    ['free(5)', () => bed.host.memory.free(5 as never), 'EINVAL', '5'],
    ['alloc(16, null)', () => bed.host.memory.alloc(16, null as never), 'EINVAL', 'null'],
    ['alloc(16, "x")', () => bed.host.memory.alloc(16, 'x' as never), 'EINVAL', "'x'"],
    ['alloc("16")', () => bed.host.memory.alloc('16' as never), 'EINVAL', "'16'"],
    ['alloc(0)', () => bed.host.memory.alloc(0), 'EINVAL', 'size 0'],
    ['alloc(NaN)', () => bed.host.memory.alloc(NaN), 'EINVAL', 'NaN'],
    ['alloc align 3', () => bed.host.memory.alloc(16, { align: 3 }), 'EINVAL', 'align 3'],
    ['alloc align "64"', () => bed.host.memory.alloc(16, { align: '64' as never }), 'EINVAL', "'64'"],
    // requestChannel, faults
    ['requestChannel(null)', () => bed.host.dma.requestChannel(null as never), 'EINVAL', 'null'],
    ['requestChannel("x")', () => bed.host.dma.requestChannel('x' as never), 'EINVAL', "'x'"],
    ['requestChannel direction "up"', () => bed.host.dma.requestChannel({ direction: 'up' as never }), 'EINVAL', "'up'"],
    ['requestChannel kind "both"', () => bed.host.dma.requestChannel({ kind: 'both' as never }), 'EINVAL', "'both'"],
    ['requestChannel hwChannel -1', () => bed.host.dma.requestChannel({ hwChannel: -1 }), 'EINVAL', '-1'],
    ['crashChannel(null)', () => bed.faults.crashChannel(null as never), 'EINVAL', 'null'],
    ['crashChannel(5)', () => bed.faults.crashChannel(5 as never), 'EINVAL', '5'],
    ['crashChannel("host/rd9")', () => bed.faults.crashChannel('host/rd9'), 'EINVAL', 'host/rd9'],
    // metadata codec
    ['encodeMetadata(undefined)', () => encodeMetadata(undefined as never), 'EINVAL', 'undefined'],
    ['encodeMetadata write null', () => encodeMetadata({ ...bed.host.device.metadata, write: null as never }), 'EINVAL', 'null'],
    ['encodeMetadata entry null', () => encodeMetadata({ ...bed.host.device.metadata, read: [null as never] }), 'EINVAL', 'null'],
    ['parseMetadata(null)', () => parseMetadata(null as never), 'EINVAL', 'Uint8Array'],
    // loadTest
    ['loadTest(tb, null)', () => loadTest(bed, null as never), 'EINVAL', 'null'],
    ['loadTest(null, {})', () => loadTest(null as never, {}), 'EINVAL', 'null'],
    ['loadTest progressMs 0', () => loadTest(bed, { progressMs: 0 }), 'EINVAL', 'progressMs 0'],
    ['loadTest progressMs NaN', () => loadTest(bed, { progressMs: NaN }), 'EINVAL', 'NaN'],
    ['loadTest progressMs -5', () => loadTest(bed, { progressMs: -5 }), 'EINVAL', '-5'],
    ['loadTest verify "no"', () => loadTest(bed, { verify: 'no' as never }), 'EINVAL', "'no'"],
    ['loadTest durationMs Infinity', () => loadTest(bed, { durationMs: Infinity }), 'EINVAL', 'Infinity'],
    ['loadTest size "big"', () => loadTest(bed, { size: 'big' as never }), 'EINVAL', "'big'"],
    ['loadTest size [1,2,3]', () => loadTest(bed, { size: [1, 2, 3] as never }), 'EINVAL', '[1,2,3]'],
    ['loadTest depth 0', () => loadTest(bed, { depth: 0 }), 'EINVAL', 'depth 0'],
    ['loadTest side "left"', () => loadTest(bed, { side: 'left' as never }), 'EINVAL', "'left'"],
    ['loadTest channels 0', () => loadTest(bed, { channels: 0 }), 'EINVAL', '0'],
    // topology, NTB, IOMMU
    ['createTestbed(null)', () => createTestbed(null as never), 'EINVAL', 'null'],
    ['createTestbed endpoint 5', () => createTestbed({ endpoint: 5 as never }), 'EINVAL', '5'],
    ['createTestbed host.iommu "yes"', () => createTestbed({ host: { iommu: 'yes' as never } }), 'EINVAL', 'yes'],
    ['createNtbTransport(null)', () => createNtbTransport(null as never), 'EINVAL', 'null'],
    ['iommu.map(null)', () => bed.host.iommu!.map(null as never, 'to-device'), 'EINVAL', 'null'],
    ['iommu.map direction "sideways"', () => bed.host.iommu!.map(local, 'sideways' as never), 'EINVAL', "'sideways'"],
    ['iommu.map EP memory', () => bed.host.iommu!.map({ addr: base, length: 64 }, 'to-device'), 'EINVAL', `0x${base.toString(16)}`],
    ['iommu.map length 0', () => bed.host.iommu!.map({ addr: local.addr, length: 0 }, 'to-device'), 'EINVAL', 'length 0'],
  ];
};

describe('every public entry point refuses bad values with an EpdmaError naming them', () => {
  it('table of bad calls', async () => {
    const table = rows();
    expect(table.length).toBeGreaterThanOrEqual(60);
    for (const [name, call, code, shows] of table) {
      const err = await failureOf(call);
      expect(err, name).toBeInstanceOf(EpdmaError);
      expect((err as EpdmaError).code, `${name}: ${(err as Error).message}`).toBe(code);
      expect((err as EpdmaError).message, name).toContain(shows);
    }
    // Nothing bad was queued on the channel by any of them: it still transfers (through a
    // mapping: this testbed's host has the IOMMU on).
    const mapping = bed.host.iommu!.map(buf, 'to-device');
    try {
      const c = await firstValueFrom(chan.transfer({ local: buf, remote: bed.endpoint.memory.base, length: 64 }));
      expect(c.cookie).toBe(1);
      expect(c.result).toBe('ok');
    } finally {
      mapping.unmap();
    }
  });

  it('a freed DmaBuffer is EPERM, even once its memory has a new owner', async () => {
    const old = bed.host.memory.alloc(256);
    bed.host.memory.free(old);
    const owner = bed.host.memory.alloc(256);
    try {
      expect(owner.addr).toBe(old.addr);
      const err = await failureOf(() => chan.transfer({ local: old, remote: bed.endpoint.memory.base, length: 16 }));
      expect(err).toBeInstanceOf(EpdmaError);
      expect((err as EpdmaError).code).toBe('EPERM');
      expect((err as EpdmaError).message).toContain(`0x${old.addr.toString(16)}`);
      const err2 = await failureOf(() => bed.host.iommu!.map(old, 'to-device'));
      expect((err2 as EpdmaError).code).toBe('EPERM');
    } finally {
      bed.host.memory.free(owner);
    }
  });
});

describe('after close', () => {
  it('alloc, free, txStatus, issuePending, release, transfer, requestChannel, crashChannel, link calls and iommu.map are ESHUTDOWN', async () => {
    const tb = await createTestbed({ endpoint: { writeChannels: 1, readChannels: 1, memoryBytes: 1 << 20 }, host: { memoryBytes: 1 << 20, iommu: true } });
    const ch = await tb.host.dma.requestChannel();
    const b = tb.host.memory.alloc(64);
    ch.configure({ deviceAddr: tb.endpoint.memory.base });
    const d = ch.prepSlaveSingle(b.addr, 64);
    const cookie = d.submit();
    const iommu = tb.host.iommu!;
    const { host } = tb;
    await tb.close();
    const calls: [string, () => unknown][] = [
      ['alloc', () => host.memory.alloc(16)],
      ['free', () => host.memory.free(b)],
      ['txStatus', () => ch.txStatus(cookie)],
      ['issuePending', () => ch.issuePending()],
      ['release', () => ch.release()],
      ['terminateAsync', () => ch.terminateAsync()],
      ['configure', () => ch.configure({ deviceAddr: 0 })],
      ['prepSlaveSingle', () => ch.prepSlaveSingle(b.addr, 16)],
      ['transfer', () => ch.transfer({ local: b, remote: 0, length: 16 })],
      ['requestChannel', () => host.dma.requestChannel()],
      ['crashChannel', () => tb.faults.crashChannel('host/rd0')],
      ['linkDown', () => tb.linkDown()],
      ['linkUp', () => tb.linkUp()],
      ['iommu.map', () => iommu.map({ addr: b.addr, length: 16 }, 'to-device')],
    ];
    for (const [name, call] of calls) {
      const err = await failureOf(call);
      expect(err, name).toBeInstanceOf(EpdmaError);
      expect((err as EpdmaError).code, `${name}: ${(err as Error).message}`).toBe('ESHUTDOWN');
    }
    // The descriptor submitted but never issued was settled by the close, once.
    expect((await d.done).result).toBe('aborted');
  });
});

describe('validate helpers', () => {
  it('accept exactly the values of their kind and name the rest', () => {
    fc.assert(fc.property(fc.anything(), (v) => {
      const isAddr = typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
      let thrown: unknown;
      try {
        expect(checkAddress(v, 'a')).toBe(v);
      } catch (e) {
        thrown = e;
      }
      expect(thrown === undefined).toBe(isAddr);
      if (thrown !== undefined) {
        expect(thrown).toBeInstanceOf(EpdmaError);
        expect((thrown as EpdmaError).message).toContain(show(v));
      }
    }));
    fc.assert(fc.property(fc.oneof(fc.double(), fc.integer(), fc.constantFrom(Infinity, -Infinity, NaN, 0)), (v) => {
      const ok = Number.isFinite(v) && v > 0;
      expect(() => checkDuration(v, 'd')).toSatisfy((f: () => unknown) => {
        try {
          f();
          return ok;
        } catch (e) {
          return !ok && e instanceof EpdmaError && e.code === 'EINVAL';
        }
      });
    }));
    fc.assert(fc.property(fc.integer({ min: -10, max: 100 }), fc.integer({ min: 1, max: 50 }), (v, max) => {
      const ok = v >= 1 && v <= max;
      let threw = false;
      try {
        checkLength(v, 'l', 1, max);
      } catch {
        threw = true;
      }
      expect(threw).toBe(!ok);
    }));
  });
});
