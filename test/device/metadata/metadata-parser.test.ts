import { describe, expect, it } from 'vitest';
import { EpdmaError } from '../../../dist/device/errors.js';
import { encodeMetadata, metadataLength } from '../../../dist/device/metadata/metadata-encoder.js';
import type { MetadataLayout } from '../../../dist/device/metadata/metadata-layout.js';
import { parseMetadata, validateMetadataHeader } from '../../../dist/device/metadata/metadata-parser.js';

type HeaderLayout = 'v4' | 'host-ctrl';
type MapFormat = MetadataLayout['mapFormat'];

interface BuildOptions {
  mapFormat?: MapFormat;
  entrySize?: number;
  headerLayout?: HeaderLayout;
  aux?: boolean;
  extra?: number;
}

/** A layout whose every field differs per channel, with addresses using the high dword. */
function build(wr: number, rd: number, o: BuildOptions = {}): MetadataLayout {
  const entrySize = o.entrySize ?? 0x2c;
  const headerLayout = o.headerLayout ?? 'v4';
  const entry = (dir: number, i: number): MetadataLayout['write'][number] => ({
    hwChannel: i,
    desc: {
      bar: (i + dir) % 6,
      offset: 0x1_0000_0000n * BigInt(dir) + BigInt(0x1000 * i),
      size: 0x800 + 0x10 * i,
      addr: 0x3_8000_0000n + BigInt(0x100_0000 * dir + 0x800 * i),
    },
    ...(o.aux && (i + dir) % 2 === 0
      ? { aux: { bar: 5 - (i % 6), offset: BigInt(0x20_0000 + i), size: 0x4000, addr: 0x1f_ffff_0000_0000n + BigInt(i) } }
      : {}),
  });
  return {
    revision: 1,
    length: metadataLength(wr, rd, entrySize, headerLayout) + (o.extra ?? 0),
    regBar: 0,
    regOffset: 0x4_0000_1000n,
    regSize: 0x2000,
    layout: 'dw-edma',
    mapFormat: o.mapFormat ?? 'unroll',
    hostRequest: false,
    ready: true,
    entrySize,
    write: Array.from({ length: wr }, (_, i) => entry(0, i)),
    read: Array.from({ length: rd }, (_, i) => entry(1, i)),
    headerLayout,
  };
}

function patch(blob: Uint8Array, offset: number, value: number): Uint8Array {
  new DataView(blob.buffer, blob.byteOffset).setUint32(offset, value >>> 0, true);
  return blob;
}
function word(blob: Uint8Array, offset: number): number {
  return new DataView(blob.buffer, blob.byteOffset).getUint32(offset, true);
}

function reject(
  blob: Uint8Array,
  code: 'EINVAL' | 'ENODEV' | 'EOPNOTSUPP',
  fragment: string,
  options?: Parameters<typeof parseMetadata>[1],
): EpdmaError {
  let caught: unknown;
  try {
    parseMetadata(blob, options);
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(EpdmaError);
  const error = caught as EpdmaError;
  expect(error.message).toContain(fragment);
  expect(error.code).toBe(code);
  return error;
}

const base = (): Uint8Array => encodeMetadata(build(2, 2));

describe('parseMetadata round trips', () => {
  it('every channel-count combination 0..8 x 0..8 except 0/0, both header layouts', () => {
    let cases = 0;
    for (const headerLayout of ['v4', 'host-ctrl'] as const) {
      for (let wr = 0; wr <= 8; wr++) {
        for (let rd = 0; rd <= 8; rd++) {
          if (wr === 0 && rd === 0) continue;
          const layout = build(wr, rd, { headerLayout });
          expect(parseMetadata(encodeMetadata(layout), { headerLayout })).toEqual(layout);
          cases++;
        }
      }
    }
    expect(cases).toBe(160);
  });

  it.each(['unroll', 'hdma-compat', 'hdma-native'] as const)('map format %s', (mapFormat) => {
    for (const headerLayout of ['v4', 'host-ctrl'] as const) {
      const layout = build(3, 5, { mapFormat, headerLayout });
      const parsed = parseMetadata(encodeMetadata(layout), { headerLayout });
      expect(parsed.mapFormat).toBe(mapFormat);
      expect(parsed).toEqual(layout);
    }
  });

  it.each([0x2c, 0x30, 0x40, 0x80, 0xfc])('entry size %i (extra bytes per entry ignored)', (entrySize) => {
    const layout = build(8, 8, { entrySize, aux: true });
    const blob = encodeMetadata(layout);
    // garbage in the padding of each entry must not matter
    for (let i = 0; i < 16 && entrySize > 0x2c; i++) patch(blob, 0x1c + i * entrySize + 0x2c, 0xdeadbeef);
    expect(parseMetadata(blob)).toEqual(layout);
  });

  it('aux windows round trip when A is set and are absent when clear', () => {
    const layout = build(4, 4, { aux: true });
    const parsed = parseMetadata(encodeMetadata(layout));
    expect(parsed).toEqual(layout);
    expect(parsed.write.map((e) => e.aux !== undefined)).toEqual([true, false, true, false]);
    expect(parsed.read.map((e) => e.aux !== undefined)).toEqual([false, true, false, true]);
    expect(parsed.write[0]!.aux).toEqual({ bar: 5, offset: 0x20_0000n, size: 0x4000, addr: 0x1f_ffff_0000_0000n });
  });

  it('ignores aux fields when A is clear, whatever they hold', () => {
    const blob = encodeMetadata(build(1, 0));
    for (let off = 0x1c + 0x18; off < 0x1c + 0x2c; off += 4) patch(blob, off, 0xffffffff);
    patch(blob, 0x1c, word(blob, 0x1c) | 0x7000); // aux BAR 7, A still clear
    expect(parseMetadata(blob).write[0]!.aux).toBeUndefined();
  });

  it('H and R come from CTRL in v4 and from HOST_CTRL/CTRL in host-ctrl', () => {
    const v4 = parseMetadata(encodeMetadata({ ...build(1, 1), hostRequest: true, ready: false }));
    expect([v4.hostRequest, v4.ready]).toEqual([true, false]);
    const hc = encodeMetadata({ ...build(1, 1, { headerLayout: 'host-ctrl' }), hostRequest: false });
    patch(hc, 0x08, word(hc, 0x08) | (1 << 30)); // reserved in this layout: ignored
    expect(parseMetadata(hc, { headerLayout: 'host-ctrl' }).hostRequest).toBe(false);
    patch(hc, 0x1c, 1);
    expect(parseMetadata(hc, { headerLayout: 'host-ctrl' }).hostRequest).toBe(true);
  });

  it('ignores reserved header bits', () => {
    const layout = build(2, 2);
    const blob = encodeMetadata(layout);
    patch(blob, 0x04, word(blob, 0x04) | 0xff00);
    patch(blob, 0x08, word(blob, 0x08) | 0x38000000);
    patch(blob, 0x14, word(blob, 0x14) | 0xffff0000);
    patch(blob, 0x1c, word(blob, 0x1c) | 0xfffe8800); // CH_CTRL bits 11, 15, 31:17
    expect(parseMetadata(blob)).toEqual(layout);
  });

  it('reads from a view at a non-zero byteOffset and ignores bytes after the blob', () => {
    const layout = build(2, 3, { aux: true });
    const blob = encodeMetadata(layout);
    const backing = new Uint8Array(blob.byteLength + 0x1000).fill(0xa5);
    backing.set(blob, 12);
    const view = backing.subarray(12, 12 + blob.byteLength + 0x100);
    expect(parseMetadata(view)).toEqual(layout);
  });

  it('accepts a view over a SharedArrayBuffer (a live BAR)', () => {
    const blob = encodeMetadata(build(1, 1));
    const shared = new Uint8Array(new SharedArrayBuffer(0x1000));
    shared.set(blob);
    expect(parseMetadata(shared)).toEqual(build(1, 1));
  });

  it('parse yields headerLayout v4 by default', () => {
    expect(parseMetadata(base()).headerLayout).toBe('v4');
  });
});

describe('validateMetadataHeader', () => {
  it('returns the header facts without parsing entries', () => {
    const blob = encodeMetadata({ ...build(3, 2, { entrySize: 0x30 }), hostRequest: true });
    patch(blob, 0x1c, 0x55); // write entry 0 HW_CH wrong: only the full parse notices
    const header = validateMetadataHeader(blob);
    expect(header).toEqual({
      headerLayout: 'v4',
      headerLength: 0x1c,
      revision: 1,
      length: 0x1c + 5 * 0x30,
      regBar: 0,
      layoutId: 1,
      mapFormat: 'unroll',
      writeCount: 3,
      readCount: 2,
      entrySize: 0x30,
      hostRequest: true,
      ready: true,
      writeTableOffset: 0x1c,
      readTableOffset: 0x1c + 3 * 0x30,
      tableEnd: 0x1c + 5 * 0x30,
    });
    reject(blob, 'EOPNOTSUPP', 'write entry 0: hw channel 0x55');
  });

  it('uses 0x20 and HOST_CTRL in the host-ctrl layout', () => {
    const blob = encodeMetadata({ ...build(1, 2, { headerLayout: 'host-ctrl' }), hostRequest: true });
    const header = validateMetadataHeader(blob, { headerLayout: 'host-ctrl' });
    expect(header.headerLength).toBe(0x20);
    expect(header.writeTableOffset).toBe(0x20);
    expect(header.readTableOffset).toBe(0x20 + 0x2c);
    expect(header.hostRequest).toBe(true);
  });

  it('applies the same rules as the parser', () => {
    const blob = patch(base(), 0x04, 0x00ec0002);
    expect(() => validateMetadataHeader(blob, { barIndex: 3 })).toThrow(
      'EINVAL: BAR3 metadata: revision 0x2 is not 0x1',
    );
  });
});

describe('parseMetadata rejection rules (reference 5.2, in order)', () => {
  it('BAR shorter than the header: ENODEV, not this BAR', () => {
    reject(base().subarray(0, 0x1b), 'ENODEV', 'BAR length 0x1b below header length 0x1c');
    reject(new Uint8Array(0), 'ENODEV', 'BAR length 0x0');
    reject(base().subarray(0, 0x1f), 'ENODEV', 'below header length 0x20', { headerLayout: 'host-ctrl' });
  });

  it('1. magic mismatch: ENODEV', () => {
    const err = reject(patch(base(), 0, 0x4d444551), 'ENODEV', 'magic 0x4d444551 is not 0x4d444550');
    expect(err.message).toContain('not this BAR');
  });

  it('2. revision other than 1: EINVAL', () => {
    reject(patch(base(), 0x04, (0xdc << 16) | 2), 'EINVAL', 'revision 0x2');
    reject(patch(base(), 0x04, 0xdc << 16), 'EINVAL', 'revision 0x0');
  });

  it('3a. length below the header: EINVAL', () => {
    reject(patch(base(), 0x04, (0x1b << 16) | 1), 'EINVAL', 'length 0x1b below header length 0x1c');
  });

  it('3b. length beyond the BAR: EINVAL', () => {
    const blob = encodeMetadata(build(2, 2));
    reject(blob.subarray(0, blob.byteLength - 4), 'EINVAL', `length ${'0x' + blob.byteLength.toString(16)} exceeds BAR length`);
  });

  it('4. register layout other than DW_EDMA: EOPNOTSUPP', () => {
    reject(patch(base(), 0x14, 0x102), 'EOPNOTSUPP', 'register layout 0x2');
    reject(patch(base(), 0x14, 0x100), 'EOPNOTSUPP', 'register layout 0x0');
  });

  it('5a. legacy map format: EOPNOTSUPP', () => {
    reject(patch(base(), 0x14, 0x001), 'EOPNOTSUPP', 'map format 0x0 (legacy)');
    // the encoder can produce it (an EP with a legacy eDMA), the host refuses it
    reject(encodeMetadata({ ...build(1, 1), mapFormat: 'legacy' }), 'EOPNOTSUPP', 'legacy');
  });

  it('5b. map format outside {1, 5, 7}: EINVAL', () => {
    for (const mf of [2, 3, 4, 6, 8, 0xff]) reject(patch(base(), 0x14, (mf << 8) | 1), 'EINVAL', `map format 0x${mf.toString(16)} unknown`);
  });

  it('6. register BAR above 5: EINVAL', () => {
    const blob = base();
    reject(patch(blob, 0x08, (word(blob, 0x08) & ~7) | 6), 'EINVAL', 'register BAR 0x6');
  });

  it('7a. no channels at all: EINVAL', () => {
    const blob = base();
    reject(patch(blob, 0x08, word(blob, 0x08) & ~0x7fff8), 'EINVAL', 'counts both 0x0');
  });

  it('7b. more than 8 write channels: EINVAL', () => {
    const blob = encodeMetadata({ ...build(2, 2), length: 0x400 });
    reject(patch(blob, 0x08, (word(blob, 0x08) & ~0x7f8) | (9 << 3)), 'EINVAL', 'write channel count 0x9');
  });

  it('7c. more than 8 read channels: EINVAL', () => {
    const blob = encodeMetadata({ ...build(2, 2), length: 0x400 });
    reject(patch(blob, 0x08, (word(blob, 0x08) & ~0x7f800) | (9 << 11)), 'EINVAL', 'read channel count 0x9');
  });

  it('8a. entry size below 0x2c: EINVAL, message names BAR, field and value', () => {
    const blob = base();
    const err = reject(
      patch(blob, 0x08, (word(blob, 0x08) & ~0x7f80000) | (0x28 << 19)),
      'EINVAL',
      'entry size 0x28 below 0x2c',
      { barIndex: 2 },
    );
    expect(err.message).toBe('EINVAL: BAR2 metadata: entry size 0x28 below 0x2c');
  });

  it('8b. entry size not a multiple of 4: EINVAL', () => {
    const blob = base();
    reject(patch(blob, 0x08, (word(blob, 0x08) & ~0x7f80000) | (0x2e << 19)), 'EINVAL', 'entry size 0x2e not a multiple of 4');
  });

  it('9. tables beyond the length: EINVAL', () => {
    const blob = encodeMetadata({ ...build(2, 2), length: 0xcc + 0x10 });
    // stride 0x34 needs 0x1c + 4 * 0x34 = 0xec bytes, the blob says 0xdc
    reject(patch(blob, 0x08, (word(blob, 0x08) & ~0x7f80000) | (0x34 << 19)), 'EINVAL', 'tables end 0xec beyond length 0xdc');
    // the host-ctrl header is 4 bytes longer, so a v4-sized blob read as host-ctrl overruns
    reject(encodeMetadata(build(2, 2)), 'EINVAL', 'tables end 0xd0 beyond length 0xcc', { headerLayout: 'host-ctrl' });
  });

  it('register offset of 2^53 or more is accepted exactly, as the kernel reads any u64', () => {
    expect(parseMetadata(patch(base(), 0x10, 0x00200000)).regOffset).toBe(0x20_0000_0000_1000n);
    expect(parseMetadata(patch(base(), 0x10, 0xffffffff)).regOffset).toBe(0xffff_ffff_0000_1000n);
    // with the BAR size known, a huge offset is simply outside the BAR (no rounding into it)
    reject(patch(base(), 0x10, 0xffffffff), 'EINVAL', 'register window 0xffffffff00001000+0x2000 outside BAR0 size 0x10000', {
      barSizes: [0x10000],
    });
  });

  it('register window empty: EINVAL', () => {
    reject(patch(base(), 0x18, 0), 'EINVAL', 'register window empty');
  });

  it('register window outside its BAR when the BAR size is known: EINVAL', () => {
    const blob = base(); // reg window BAR0 0x400001000 + 0x2000
    const sizes = (bar0: number | undefined): (number | undefined)[] => [bar0];
    reject(blob, 'EINVAL', 'register window 0x400001000+0x2000 outside BAR0 size 0x400002fff', {
      barSizes: sizes(0x4_0000_2fff),
    });
    expect(parseMetadata(blob, { barSizes: sizes(0x4_0000_3000) }).regSize).toBe(0x2000);
    expect(parseMetadata(blob, { barSizes: sizes(undefined) }).regSize).toBe(0x2000); // unknown size
    reject(blob, 'EINVAL', 'outside BAR0 size 0x0', { barSizes: [0] }); // BAR not implemented
  });

  it('hw channel different from the entry index: EOPNOTSUPP (write and read tables)', () => {
    const blob = base();
    reject(patch(blob, 0x1c + 0x2c, word(blob, 0x1c + 0x2c) & ~0xff), 'EOPNOTSUPP', 'write entry 1: hw channel 0x0 is not its index 0x1');
    const blob2 = base();
    const rd0 = 0x1c + 2 * 0x2c;
    reject(patch(blob2, rd0, word(blob2, rd0) | 0x02), 'EOPNOTSUPP', 'read entry 0: hw channel 0x2');
  });

  it('descriptor BAR above 5: EINVAL', () => {
    const blob = base();
    reject(patch(blob, 0x1c, (word(blob, 0x1c) & ~0x700) | 0x600), 'EINVAL', 'write entry 0 desc BAR 0x6 above 5');
  });

  it('descriptor window empty: EINVAL', () => {
    reject(patch(base(), 0x1c + 2 * 0x2c + 0x0c, 0), 'EINVAL', 'read entry 0 desc window empty');
  });

  it('descriptor window outside its BAR: EINVAL', () => {
    const blob = encodeMetadata(build(2, 0)); // write entry 1: BAR1 0x1000 + 0x810
    const barSizes = [undefined, 0x1810, undefined, undefined, undefined, undefined];
    expect(parseMetadata(blob, { barSizes }).write[1]!.desc.bar).toBe(1);
    barSizes[1] = 0x180f;
    reject(blob, 'EINVAL', 'write entry 1 desc window 0x1000+0x810 outside BAR1 size 0x180f', { barSizes });
  });

  it('descriptor offset or address of 2^53 or more is accepted exactly', () => {
    expect(parseMetadata(patch(base(), 0x1c + 0x08, 0xffffffff)).write[0]!.desc.offset).toBe(0xffff_ffff_0000_0000n);
    expect(parseMetadata(patch(base(), 0x1c + 0x14, 0x00200000)).write[0]!.desc.addr).toBe(0x20_0000_8000_0000n);
    expect(parseMetadata(patch(patch(base(), 0x1c + 0x10, 0xffffffff), 0x1c + 0x14, 0xffffffff)).write[0]!.desc.addr).toBe(2n ** 64n - 1n);
  });

  it('aux window (A set): empty, outside its BAR, BAR above 5: EINVAL; any u64 offset/addr accepted', () => {
    const aux = (): Uint8Array => encodeMetadata(build(2, 2, { aux: true })); // write 0 has aux in BAR5
    reject(patch(aux(), 0x1c + 0x20, 0), 'EINVAL', 'write entry 0 aux window empty');
    const barSizes: (number | undefined)[] = [];
    barSizes[5] = 0x20_3fff;
    reject(aux(), 'EINVAL', 'write entry 0 aux window 0x200000+0x4000 outside BAR5 size 0x203fff', { barSizes });
    barSizes[5] = 0x20_4000;
    expect(parseMetadata(aux(), { barSizes }).write[0]!.aux!.bar).toBe(5);
    const blob = aux();
    reject(patch(blob, 0x1c, word(blob, 0x1c) | 0x7000), 'EINVAL', 'write entry 0 aux BAR 0x7 above 5');
    expect(parseMetadata(patch(aux(), 0x1c + 0x1c, 0x00200000)).write[0]!.aux!.offset).toBe(0x20_0000_0020_0000n);
    expect(parseMetadata(patch(aux(), 0x1c + 0x28, 0xffffffff)).write[0]!.aux!.addr).toBe(0xffff_ffff_0000_0000n);
  });

  it('checks the rules in the kernel order', () => {
    // bad magic wins over everything, even a length that overruns the BAR
    reject(patch(patch(base(), 0, 0), 0x04, 0xffff0002), 'ENODEV', 'magic');
    // revision (EINVAL) before layout id (EOPNOTSUPP)
    reject(patch(patch(base(), 0x04, 0x00cc0002), 0x14, 0x2), 'EINVAL', 'revision');
    // layout id (EOPNOTSUPP) before map format and REG BAR (EINVAL)
    reject(patch(patch(base(), 0x14, 0x302), 0x08, 0x01601017), 'EOPNOTSUPP', 'register layout');
    // legacy (EOPNOTSUPP) before zero channel counts (EINVAL)
    reject(patch(patch(base(), 0x14, 0x001), 0x08, 0x01600000), 'EOPNOTSUPP', 'legacy');
    // header rules before the register window and the entries
    const blob = patch(patch(base(), 0x18, 0), 0x1c, 0x5);
    reject(patch(blob, 0x08, (word(blob, 0x08) & ~0x7f80000) | (0x28 << 19)), 'EINVAL', 'entry size');
    // register window before the entries
    reject(patch(patch(base(), 0x18, 0), 0x1c, 0x5), 'EINVAL', 'register window empty');
    // write table before read table
    const both = base();
    patch(both, 0x1c + 2 * 0x2c, 0x1ff);
    reject(patch(both, 0x1c + 0x2c, 0x0), 'EOPNOTSUPP', 'write entry 1');
  });

  it('names the BAR when barIndex is given and refuses bad options', () => {
    expect(reject(patch(base(), 0, 0), 'ENODEV', 'magic', { barIndex: 4 }).message).toMatch(/^ENODEV: BAR4 metadata: /);
    expect(reject(patch(base(), 0, 0), 'ENODEV', 'magic').message).toMatch(/^ENODEV: metadata: /);
    reject(base(), 'EINVAL', 'barIndex 6', { barIndex: 6 });
    reject(base(), 'EINVAL', 'header layout v5', { headerLayout: 'v5' as never });
    reject([1, 2, 3] as never, 'EINVAL', 'must be a Uint8Array');
  });
});
