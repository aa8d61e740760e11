import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EpdmaError } from '../../../dist/device/errors.js';
import { encodeMetadata, metadataLength } from '../../../dist/device/metadata/metadata-encoder.js';
import type { MetadataLayout } from '../../../dist/device/metadata/metadata-layout.js';
import { parseMetadata, validateMetadataHeader } from '../../../dist/device/metadata/metadata-parser.js';

type HeaderLayout = 'v4' | 'host-ctrl';
type Options = { barIndex?: number; barSizes?: (number | undefined)[]; headerLayout?: HeaderLayout };

const u32 = fc.nat({ max: 0xffffffff });
/** Any u64, with the edges a uniform draw almost never hits (2^32, 2^53, 2^63, 2^64-1) mixed in. */
const u64 = fc.oneof(
  { weight: 4, arbitrary: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }) },
  { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: 2n ** 32n - 1n }) },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom(0n, 1n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 53n + 1n, 2n ** 63n, 2n ** 64n - 1n)
      .chain((edge) => fc.integer({ min: -1, max: 1 }).map((d) => BigInt.asUintN(64, edge + BigInt(d)))),
  },
);
const bar = fc.integer({ min: 0, max: 5 });
const window = fc.record({ bar, offset: u64, size: fc.integer({ min: 1, max: 0xffffffff }), addr: u64 });

const options: fc.Arbitrary<Options> = fc.record(
  {
    barIndex: bar,
    barSizes: fc.array(fc.option(fc.oneof(fc.nat({ max: 0x10000 }), fc.maxSafeNat()), { nil: undefined }), { maxLength: 6 }),
    headerLayout: fc.constantFrom<HeaderLayout>('v4', 'host-ctrl'),
  },
  { requiredKeys: [] },
);

/** Valid layouts: everything the format allows, not just what pci-epf-dma happens to emit. */
const validLayout: fc.Arbitrary<MetadataLayout> = fc
  .record({
    wr: fc.integer({ min: 0, max: 8 }),
    rd: fc.integer({ min: 0, max: 8 }),
    entrySize: fc.integer({ min: 0x2c / 4, max: 0xfc / 4 }).map((n) => n * 4),
    headerLayout: fc.constantFrom<HeaderLayout>('v4', 'host-ctrl'),
    mapFormat: fc.constantFrom<MetadataLayout['mapFormat']>('unroll', 'hdma-compat', 'hdma-native'),
    regBar: bar,
    regOffset: u64,
    regSize: fc.integer({ min: 1, max: 0xffffffff }),
    hostRequest: fc.boolean(),
    ready: fc.boolean(),
    extra: fc.nat({ max: 0x40 }),
    windows: fc.array(fc.record({ desc: window, aux: fc.option(window, { nil: undefined }) }), {
      minLength: 16,
      maxLength: 16,
    }),
  })
  .filter((r) => r.wr + r.rd > 0)
  .map((r) => {
    const entries = (count: number, from: number): MetadataLayout['write'] =>
      Array.from({ length: count }, (_, i) => {
        const w = r.windows[from + i]!;
        return w.aux === undefined ? { hwChannel: i, desc: w.desc } : { hwChannel: i, desc: w.desc, aux: w.aux };
      });
    return {
      revision: 1,
      length: Math.min(0xffff, metadataLength(r.wr, r.rd, r.entrySize, r.headerLayout) + r.extra),
      regBar: r.regBar,
      regOffset: r.regOffset,
      regSize: r.regSize,
      layout: 'dw-edma' as const,
      mapFormat: r.mapFormat,
      hostRequest: r.hostRequest,
      ready: r.ready,
      entrySize: r.entrySize,
      write: entries(r.wr, 0),
      read: entries(r.rd, 8),
      headerLayout: r.headerLayout,
    };
  });

/** fast-check keeps arrays short unless told otherwise: mix short blobs with the full 0..2048 range. */
const anyBytes = fc.oneof(fc.uint8Array({ maxLength: 64 }), fc.uint8Array({ maxLength: 2048, size: 'max' }));

type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'byte'; at: number; value: number }
  | { kind: 'word'; at: number; value: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'extend'; bytes: number[] };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.nat({ max: 7 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('byte' as const), at: fc.nat(), value: fc.nat({ max: 255 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('word' as const), at: fc.nat(), value: u32 }) },
  {
    // boundary values a random u32 almost never hits: empty sizes, the 2^53 edge, sign bits
    // (the parser must keep every one of them exact)
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('word' as const),
      at: fc.nat(),
      value: fc.constantFrom(0, 1, 0x1c, 0x2c, 0x1fffff, 0x200000, 0x7fffffff, 0x80000000, 0xffffffff),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('extend' as const), bytes: fc.array(fc.nat({ max: 255 }), { maxLength: 64 }) }),
  },
);

function mutate(blob: Uint8Array, mutations: Mutation[]): Uint8Array {
  let bytes = blob.slice();
  for (const m of mutations) {
    if (m.kind === 'truncate') {
      bytes = bytes.slice(0, m.at % (bytes.length + 1));
    } else if (m.kind === 'extend') {
      const grown = new Uint8Array(bytes.length + m.bytes.length);
      grown.set(bytes);
      grown.set(m.bytes, bytes.length);
      bytes = grown;
    } else if (bytes.length > 0) {
      if (m.kind === 'flip') bytes[m.at % bytes.length]! ^= 1 << m.bit;
      else if (m.kind === 'byte') bytes[m.at % bytes.length] = m.value;
      else if (bytes.length >= 4) {
        // word writes land on the header/entry dwords where they matter most
        const at = (m.at % (bytes.length >> 2)) * 4;
        new DataView(bytes.buffer).setUint32(at, m.value, true);
      }
    }
  }
  return bytes;
}

/** Parses and returns the layout, or undefined for an EpdmaError; anything else fails the test. */
function tryParse(bytes: Uint8Array, opts?: Options): MetadataLayout | undefined {
  try {
    return parseMetadata(bytes, opts);
  } catch (err) {
    if (!(err instanceof EpdmaError)) throw err;
    expect(['ENODEV', 'EINVAL', 'EOPNOTSUPP']).toContain(err.code);
    return undefined;
  }
}

/**
 * A layout as one string (keys sorted, bigints marked, undefined dropped): comparing these is
 * what toEqual checks, at a fraction of its cost on bigint-heavy objects, which matters at
 * thousands of runs.
 */
function canon(layout: MetadataLayout): string {
  return JSON.stringify(layout, (_key, v: unknown) => {
    if (typeof v === 'bigint') return `${v}n`;
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      return Object.fromEntries(Object.entries(v).sort(([x], [y]) => (x < y ? -1 : 1)));
    }
    return v;
  });
}

function dwords(bytes: Uint8Array, from: number, count: number): number[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return Array.from({ length: count }, (_, i) => view.getUint32(from + 4 * i, true));
}

/**
 * A successful parse must describe the input: re-encoding gives a blob that parses to the same
 * layout and agrees with the input on every bit the format defines (reserved bits may differ).
 */
function expectConsistent(input: Uint8Array, parsed: MetadataLayout, headerLayout: HeaderLayout): void {
  expect(parsed.length).toBeLessThanOrEqual(input.byteLength);
  const again = encodeMetadata(parsed);
  expect(again.byteLength).toBe(parsed.length);
  expect(canon(parseMetadata(again, { headerLayout }))).toBe(canon(parsed));
  const hdr = headerLayout === 'host-ctrl' ? 0x20 : 0x1c;
  const ctrlMask = headerLayout === 'host-ctrl' ? 0x87ffffff : 0xc7ffffff;
  const headerMasks = [0xffffffff, 0xffff00ff, ctrlMask, 0xffffffff, 0xffffffff, 0x0000ffff, 0xffffffff];
  if (headerLayout === 'host-ctrl') headerMasks.push(0x1);
  const a = dwords(input, 0, headerMasks.length);
  const b = dwords(again, 0, headerMasks.length);
  headerMasks.forEach((mask, i) => expect(((a[i]! & mask) >>> 0).toString(16)).toBe(((b[i]! & mask) >>> 0).toString(16)));
  const entries = parsed.write.length + parsed.read.length;
  for (let e = 0; e < entries; e++) {
    const at = hdr + e * parsed.entrySize;
    const x = dwords(input, at, 11);
    const y = dwords(again, at, 11);
    const hasAux = (x[0]! & 0x10000) !== 0;
    const ctrlBits = hasAux ? 0x177ff : 0x7ff;
    expect((x[0]! & ctrlBits) >>> 0).toBe((y[0]! & ctrlBits) >>> 0);
    expect(x.slice(1, 6)).toEqual(y.slice(1, 6));
    if (hasAux) expect(x.slice(6, 11)).toEqual(y.slice(6, 11));
  }
}

/** Whatever the input, an accepted layout satisfies every rule the parser promises. */
function expectInvariants(parsed: MetadataLayout, opts: Options | undefined): void {
  expect(parsed.revision).toBe(1);
  expect(parsed.write.length + parsed.read.length).toBeGreaterThan(0);
  expect(parsed.write.length).toBeLessThanOrEqual(8);
  expect(parsed.read.length).toBeLessThanOrEqual(8);
  expect(parsed.entrySize % 4).toBe(0);
  expect(parsed.entrySize).toBeGreaterThanOrEqual(0x2c);
  expect(['unroll', 'hdma-compat', 'hdma-native']).toContain(parsed.mapFormat);
  const isU64 = (v: unknown): boolean => typeof v === 'bigint' && v >= 0n && v < 2n ** 64n;
  const fits = (w: { bar: number; offset: bigint; size: number }): void => {
    expect(w.bar).toBeLessThanOrEqual(5);
    expect(w.size).toBeGreaterThan(0);
    expect(isU64(w.offset)).toBe(true);
    const barSize = opts?.barSizes?.[w.bar];
    if (barSize !== undefined) expect(w.offset + BigInt(w.size)).toBeLessThanOrEqual(BigInt(barSize));
  };
  fits({ bar: parsed.regBar, offset: parsed.regOffset, size: parsed.regSize });
  for (const table of [parsed.write, parsed.read]) {
    table.forEach((e, i) => {
      expect(e.hwChannel).toBe(i);
      fits(e.desc);
      expect(isU64(e.desc.addr)).toBe(true);
      if (e.aux) {
        fits(e.aux);
        expect(isU64(e.aux.addr)).toBe(true);
      }
    });
  }
}

describe('metadata parser robustness', () => {
  it('random bytes of any length 0..2048 only ever give EpdmaError', () => {
    fc.assert(
      fc.property(anyBytes, fc.option(options, { nil: undefined }), (bytes, opts) => {
        const parsed = tryParse(bytes, opts);
        if (parsed === undefined) return;
        expectInvariants(parsed, opts);
        expectConsistent(bytes, parsed, opts?.headerLayout ?? 'v4');
      }),
      { numRuns: 2000 },
    );
  });

  it('random bytes behind a valid-looking prefix (magic, rev 1, length) reach the deep rules', () => {
    let deep = 0;
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0x1c, maxLength: 2048, size: 'max' }),
        // undefined: the length field says "the whole buffer", the common case for a real BAR
        fc.option(fc.nat({ max: 0xffff }), { nil: undefined }),
        fc.nat({ max: 32 }),
        fc.constantFrom<HeaderLayout>('v4', 'host-ctrl'),
        fc.record({
          regBar: fc.nat({ max: 5 }),
          wr: fc.nat({ max: 8 }),
          rd: fc.nat({ max: 8 }),
          entrySize: fc.integer({ min: 0x2c / 4, max: 0x40 / 4 }).map((n) => n * 4),
          top: fc.nat({ max: 31 }),
        }),
        (bytes, lengthField, byteOffset, headerLayout, ctrl) => {
          const backing = new Uint8Array(bytes.length + byteOffset);
          backing.set(bytes, byteOffset);
          const view = backing.subarray(byteOffset);
          const dv = new DataView(view.buffer, view.byteOffset, view.byteLength);
          dv.setUint32(0, 0x4d444550, true);
          dv.setUint32(4, ((Math.min(lengthField ?? view.byteLength, view.byteLength, 0xffff) << 16) | 1) >>> 0, true);
          dv.setUint16(0x14, 0x0101, true); // DW_EDMA, unroll
          // a plausible CTRL (random H, R and reserved bits) so the random tail meets the entry rules
          const ctrlWord = ctrl.regBar | (ctrl.wr << 3) | (ctrl.rd << 11) | (ctrl.entrySize << 19) | (ctrl.top << 27);
          dv.setUint32(8, ctrlWord >>> 0, true);
          try {
            validateMetadataHeader(view, { headerLayout });
            deep++;
          } catch (err) {
            if (!(err instanceof EpdmaError)) throw err;
          }
          const parsed = tryParse(view, { headerLayout });
          if (parsed === undefined) return;
          expectInvariants(parsed, { headerLayout });
          expectConsistent(view, parsed, headerLayout);
        },
      ),
      { numRuns: 3000 },
    );
    expect(deep).toBeGreaterThan(0);
  });

  it('mutated valid blobs (bit flips, byte and word writes, truncation, extension) parse or fail cleanly', () => {
    let accepted = 0;
    let rejected = 0;
    fc.assert(
      fc.property(validLayout, fc.array(mutation, { minLength: 1, maxLength: 6 }), options, (layout, mutations, opts) => {
        const headerLayout = layout.headerLayout!;
        const original = encodeMetadata(layout);
        const bytes = mutate(original, mutations);
        const parsed = tryParse(bytes, { ...opts, headerLayout });
        if (parsed === undefined) {
          rejected++;
        } else {
          accepted++;
          expectInvariants(parsed, opts);
          expectConsistent(bytes, parsed, headerLayout);
        }
      }),
      // Each run re-encodes and checks every field: 2000 keep this sync test to about a second
      // on a quiet machine (5000 took ~6 s, and a test timeout under a loaded one).
      { numRuns: 2000 },
    );
    // both outcomes must actually occur, or the fuzzer is not exercising the parser
    expect(accepted).toBeGreaterThan(100);
    expect(rejected).toBeGreaterThan(100);
  }, 90_000);

  it('valid layouts round trip exactly, with or without known BAR sizes that fit', () => {
    fc.assert(
      fc.property(validLayout, (layout) => {
        const headerLayout = layout.headerLayout!;
        expect(canon(parseMetadata(encodeMetadata(layout), { headerLayout }))).toBe(canon(layout));
        // BAR sizes that fit every window exactly still accept
        const sizes: bigint[] = [0n, 0n, 0n, 0n, 0n, 0n];
        const need = (w: { bar: number; offset: bigint; size: number }): void => {
          const end = w.offset + BigInt(w.size);
          if (end > sizes[w.bar]!) sizes[w.bar] = end;
        };
        need({ bar: layout.regBar, offset: layout.regOffset, size: layout.regSize });
        for (const e of [...layout.write, ...layout.read]) {
          need(e.desc);
          if (e.aux) need(e.aux);
        }
        // BAR sizes are numbers: only where every window ends below 2^53 can a BAR hold it
        if (sizes.every((s) => s <= BigInt(Number.MAX_SAFE_INTEGER))) {
          const barSizes = sizes.map(Number);
          expect(canon(parseMetadata(encodeMetadata(layout), { headerLayout, barSizes }))).toBe(canon(layout));
          // one byte less in the BAR holding the register window: refused, never rounded into it
          if (barSizes[layout.regBar]! > 0) {
            barSizes[layout.regBar]! -= 1;
            expect(() => parseMetadata(encodeMetadata(layout), { headerLayout, barSizes })).toThrow(/outside BAR/);
          }
        }
      }),
      { numRuns: 1000 },
    );
  });
});

describe('64-bit fields round trip over the full u64 range', () => {
  /** Where each 64-bit field of write entry 0 lives in a v4 blob (lo dword; hi follows at +4). */
  const REG_OFF = 0x0c;
  const ENTRY = 0x1c;
  const FIELDS = { descOffset: ENTRY + 0x04, descAddr: ENTRY + 0x10, auxOffset: ENTRY + 0x18, auxAddr: ENTRY + 0x24 };

  it('random u64 register offset, desc/aux offset and addr: exact dwords on encode, exact bigints on parse', () => {
    let above53 = 0;
    fc.assert(
      fc.property(fc.tuple(u64, u64, u64, u64, u64), ([regOffset, descOffset, descAddr, auxOffset, auxAddr]) => {
        const layout: MetadataLayout = {
          revision: 1,
          length: 0x1c + 0x2c,
          regBar: 0,
          regOffset,
          regSize: 0x1000,
          layout: 'dw-edma',
          mapFormat: 'hdma-native',
          hostRequest: false,
          ready: true,
          entrySize: 0x2c,
          write: [{ hwChannel: 0, desc: { bar: 4, offset: descOffset, size: 0x1000, addr: descAddr }, aux: { bar: 2, offset: auxOffset, size: 0x100, addr: auxAddr } }],
          read: [],
          headerLayout: 'v4',
        };
        const blob = encodeMetadata(layout);
        const expectHalves = (at: number, value: bigint): void => {
          expect(dwords(blob, at, 2)).toEqual([Number(value & 0xffffffffn), Number(value >> 32n)]);
        };
        expectHalves(REG_OFF, regOffset);
        expectHalves(FIELDS.descOffset, descOffset);
        expectHalves(FIELDS.descAddr, descAddr);
        expectHalves(FIELDS.auxOffset, auxOffset);
        expectHalves(FIELDS.auxAddr, auxAddr);
        const parsed = parseMetadata(blob);
        expect(canon(parsed)).toBe(canon(layout));
        expect([parsed.regOffset, parsed.write[0]!.desc.offset, parsed.write[0]!.desc.addr, parsed.write[0]!.aux!.offset, parsed.write[0]!.aux!.addr])
          .toEqual([regOffset, descOffset, descAddr, auxOffset, auxAddr]);
        if (descAddr >= 2n ** 53n) above53++;
      }),
      { numRuns: 3000 },
    );
    // the draw must reach the range a JS number cannot hold, or this proves nothing about it
    expect(above53).toBeGreaterThan(1000);
  });
});
