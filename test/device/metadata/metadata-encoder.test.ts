import { describe, expect, it } from 'vitest';
import { EpdmaError } from '../../../dist/device/errors.js';
import { encodeMetadata, metadataLength } from '../../../dist/device/metadata/metadata-encoder.js';
import type { MetadataLayout } from '../../../dist/device/metadata/metadata-layout.js';

/** 2 write + 2 read unroll channels, descriptors in BAR2, the shape pci-epf-dma publishes. */
function twoByTwo(overrides: Partial<MetadataLayout> = {}): MetadataLayout {
  return {
    revision: 1,
    length: 0xcc,
    regBar: 0,
    regOffset: 0x1000n,
    regSize: 0x2000,
    layout: 'dw-edma',
    mapFormat: 'unroll',
    hostRequest: false,
    ready: false,
    entrySize: 0x2c,
    write: [0, 1].map((i) => ({
      hwChannel: i,
      desc: { bar: 2, offset: 0x10000n * BigInt(i), size: 0x800, addr: 0x1_0000_0000n + BigInt(i * 0x800) },
    })),
    read: [0, 1].map((i) => ({
      hwChannel: i,
      desc: { bar: 2, offset: BigInt(0x40000 + 0x10000 * i), size: 0x800, addr: BigInt(0xfe00_0000 + i * 0x800) },
    })),
    ...overrides,
  };
}

function words(blob: Uint8Array): number[] {
  const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  const out: number[] = [];
  for (let off = 0; off + 4 <= blob.byteLength; off += 4) out.push(view.getUint32(off, true));
  return out;
}

function expectEinval(layout: MetadataLayout, fragment: string): void {
  let caught: unknown;
  try {
    encodeMetadata(layout);
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(EpdmaError);
  expect((caught as EpdmaError).code).toBe('EINVAL');
  expect((caught as EpdmaError).message).toContain(fragment);
}

describe('metadataLength', () => {
  it('is header + (wr + rd) * entry size for both header layouts', () => {
    expect(metadataLength(2, 2)).toBe(0x1c + 4 * 0x2c);
    expect(metadataLength(8, 8)).toBe(0x2dc);
    expect(metadataLength(1, 0, 0x30)).toBe(0x1c + 0x30);
    expect(metadataLength(2, 2, 0x2c, 'host-ctrl')).toBe(0x20 + 4 * 0x2c);
  });
});

describe('encodeMetadata bit-exact', () => {
  it('writes the hand-computed 2+2 unroll blob word for word (v4 layout)', () => {
    const blob = encodeMetadata(twoByTwo());
    expect(blob.byteLength).toBe(0xcc);
    expect(Array.from(blob.subarray(0, 4))).toEqual([0x50, 0x45, 0x44, 0x4d]); // "PEDM"
    const w = words(blob);
    expect(w.length).toBe(0xcc / 4);
    // header
    expect(w.slice(0, 7)).toEqual([
      0x4d444550, // magic
      0x00cc0001, // length 0xcc << 16 | rev 1
      0x01601010, // entry 0x2c << 19 | rd 2 << 11 | wr 2 << 3 | reg BAR 0
      0x00001000, // reg offset lo
      0x00000000, // reg offset hi
      0x00000101, // map format unroll << 8 | layout DW_EDMA
      0x00002000, // reg size
    ]);
    const entry = (at: number): number[] => w.slice(at / 4, at / 4 + 11);
    // write 0 at 0x1c: desc BAR 2, offset 0, size 0x800, addr 0x1_0000_0000, aux zero
    expect(entry(0x1c)).toEqual([0x200, 0, 0, 0x800, 0, 1, 0, 0, 0, 0, 0]);
    expect(entry(0x48)).toEqual([0x201, 0x10000, 0, 0x800, 0x800, 1, 0, 0, 0, 0, 0]);
    // read table at 0x1c + 2 * 0x2c
    expect(entry(0x74)).toEqual([0x200, 0x40000, 0, 0x800, 0xfe000000, 0, 0, 0, 0, 0, 0]);
    expect(entry(0xa0)).toEqual([0x201, 0x50000, 0, 0x800, 0xfe000800, 0, 0, 0, 0, 0, 0]);
  });

  it('puts H in CTRL bit 30 and R in bit 31 in the v4 layout', () => {
    const w = words(encodeMetadata(twoByTwo({ hostRequest: true, ready: true })));
    expect(w[2]).toBe(0xc1601010);
    expect(words(encodeMetadata(twoByTwo({ ready: true })))[2]).toBe(0x81601010);
    expect(words(encodeMetadata(twoByTwo({ hostRequest: true })))[2]).toBe(0x41601010);
  });

  it('moves H to the HOST_CTRL dword and the tables to 0x20 in the host-ctrl layout', () => {
    const blob = encodeMetadata(
      twoByTwo({ headerLayout: 'host-ctrl', length: 0xd0, hostRequest: true, ready: true }),
    );
    const w = words(blob);
    expect(blob.byteLength).toBe(0xd0);
    expect(w[1]).toBe(0x00d00001);
    expect(w[2]).toBe(0x81601010); // bit 30 stays clear: reserved here
    expect(w[7]).toBe(0x00000001); // HOST_CTRL REQ
    expect(w[8]).toBe(0x200); // write 0 CH_CTRL at 0x20
    expect(w[(0x20 + 2 * 0x2c) / 4 + 1]).toBe(0x40000); // read 0 desc offset
    const noReq = words(encodeMetadata(twoByTwo({ headerLayout: 'host-ctrl', length: 0xd0 })));
    expect(noReq[7]).toBe(0);
  });

  it('encodes the aux window, its BAR and the A bit; larger strides leave padding zero', () => {
    const layout = twoByTwo({ entrySize: 0x30, length: 0x1c + 4 * 0x30 + 8 });
    layout.write[1]!.aux = { bar: 4, offset: 0x2_0000_1000n, size: 0x1000, addr: 0x1f_ffff_fff0n };
    const blob = encodeMetadata(layout);
    const w = words(blob);
    expect(blob.byteLength).toBe(0x1c + 4 * 0x30 + 8);
    expect(w[2]).toBe(((0x30 << 19) | (2 << 11) | (2 << 3)) >>> 0);
    const at = (0x1c + 0x30) / 4;
    expect(w.slice(at, at + 12)).toEqual([
      0x00014201, // A | aux BAR 4 << 12 | desc BAR 2 << 8 | hw 1
      0x10000, 0, 0x800, 0x800, 1,
      0x1000, 2, 0x1000, 0xfffffff0, 0x1f,
      0, // the stride's extra dword
    ]);
    // everything after the tables is zero
    expect(w.slice((0x1c + 4 * 0x30) / 4)).toEqual([0, 0]);
  });

  it('splits 64-bit fields into lo/hi exactly over the whole u64 range', () => {
    const cases: [bigint, number, number][] = [
      [2n ** 53n - 1n, 0xffffffff, 0x001fffff],
      [2n ** 53n, 0, 0x00200000],
      [2n ** 53n + 1n, 1, 0x00200000],
      [2n ** 64n - 1n, 0xffffffff, 0xffffffff],
      [0x8000_0000_0000_0000n, 0, 0x80000000],
    ];
    for (const [value, lo, hi] of cases) {
      const layout = twoByTwo({ regOffset: value });
      layout.read[1]!.desc.addr = value;
      const w = words(encodeMetadata(layout));
      expect([w[3], w[4]]).toEqual([lo, hi]);
      const addrAt = (0x1c + 3 * 0x2c + 0x10) / 4;
      expect([w[addrAt], w[addrAt + 1]]).toEqual([lo, hi]);
    }
  });

  it('keeps a length beyond the tables (room for MSI-X after the metadata)', () => {
    const blob = encodeMetadata(twoByTwo({ length: 0x200 }));
    expect(blob.byteLength).toBe(0x200);
    expect(words(blob)[1]).toBe(0x02000001);
  });
});

describe('encodeMetadata refuses what the format cannot carry', () => {
  it('length below header + tables', () => expectEinval(twoByTwo({ length: 0xc8 }), 'length 0xc8'));
  it('length above 16 bits', () => expectEinval(twoByTwo({ length: 0x10000 }), 'length 0x10000'));
  it('more than 8 write channels', () => {
    const layout = twoByTwo({ length: 0x400 });
    layout.write = Array.from({ length: 9 }, (_, i) => ({
      hwChannel: i,
      desc: { bar: 2, offset: 0n, size: 1, addr: 0n },
    }));
    expectEinval(layout, 'write channel count 9');
  });
  it('more than 8 read channels', () => {
    const layout = twoByTwo({ length: 0x400 });
    layout.read = Array.from({ length: 9 }, (_, i) => ({
      hwChannel: i,
      desc: { bar: 2, offset: 0n, size: 1, addr: 0n },
    }));
    expectEinval(layout, 'read channel count 9');
  });
  it('hw channel different from its index', () => {
    const layout = twoByTwo();
    layout.read[1]!.hwChannel = 3;
    expectEinval(layout, 'read entry 1: hw channel 3');
  });
  it('register BAR above 5', () => expectEinval(twoByTwo({ regBar: 6 }), 'register BAR 0x6'));
  it('descriptor BAR above 5', () => {
    const layout = twoByTwo();
    layout.write[0]!.desc.bar = 7;
    expectEinval(layout, 'write entry 0 desc BAR 0x7');
  });
  it('aux BAR above 5', () => {
    const layout = twoByTwo();
    layout.write[0]!.aux = { bar: 6, offset: 0n, size: 1, addr: 0n };
    expectEinval(layout, 'write entry 0 aux BAR 0x6');
  });
  it('sizes above 32 bits', () => {
    expectEinval(twoByTwo({ regSize: 0x1_0000_0000 }), 'register size 0x100000000');
    const layout = twoByTwo();
    layout.read[0]!.desc.size = 0x1_0000_0000;
    expectEinval(layout, 'read entry 0 desc size 0x100000000');
  });
  it('64-bit fields that are not a bigint in 0..2^64-1', () => {
    expectEinval(twoByTwo({ regOffset: 2n ** 64n }), 'register offset 0x10000000000000000 not a bigint in 0..2^64-1');
    expectEinval(twoByTwo({ regOffset: 0x1000 as never }), 'register offset 0x1000 not a bigint');
    const layout = twoByTwo();
    layout.write[1]!.desc.addr = -1n;
    expectEinval(layout, 'write entry 1 desc addr -0x1 not a bigint');
    const aux = twoByTwo();
    aux.read[0]!.aux = { bar: 1, offset: 2n ** 64n + 5n, size: 1, addr: 0n };
    expectEinval(aux, 'read entry 0 aux offset 0x10000000000000005');
  });
  it('entry sizes the CTRL field or the entry fields cannot hold', () => {
    expectEinval(twoByTwo({ entrySize: 0x28 }), 'entry size 0x28 below 0x2c');
    expectEinval(twoByTwo({ entrySize: 0x2e, length: 0x400 }), 'entry size 0x2e not a multiple of 4');
    expectEinval(twoByTwo({ entrySize: 0x100, length: 0x800 }), 'entry size 0x100');
  });
  it('revision wider than 8 bits, unknown map format, layout or header layout', () => {
    expectEinval(twoByTwo({ revision: 0x100 }), 'revision 0x100');
    expectEinval(twoByTwo({ mapFormat: 'edma' as never }), 'map format edma');
    expectEinval(twoByTwo({ layout: 'hdma' as never }), 'register layout hdma');
    expectEinval(twoByTwo({ headerLayout: 'v5' as never }), 'header layout v5');
  });
});
