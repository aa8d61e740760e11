/**
 * device.json comes from the endpoint process, which may be broken or hostile: checkManifest
 * accepts what an endpoint publishes and turns every malformed field into EpdmaError EINVAL
 * naming the field, never a TypeError (the measured failures were `m.regions.map is not a
 * function` and `m.bars is not iterable`).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EpdmaError } from '../../dist/device/errors.js';
import { checkManifest } from '../../dist/api/two-process/manifest-check.js';

/** What `epdma endpoint --shm DIR --wr-chans 4 --rd-chans 4` published (unroll, defaults). */
const PUBLISHED = {
  format: 'epdma-shm-device', version: 1, mapFormat: 'unroll', writeChannels: 4, readChannels: 4, epPid: 29156, generation: 1,
  files: {
    arena: { name: 'arena.mem', bytes: 335577088 }, registers: { name: 'regs.mem', bytes: 8704 },
    scratch: { name: 'scratch.mem', bytes: 16777216 }, control: { name: 'control.mem', bytes: 4096 },
  },
  regions: [
    { name: 'ep-ram', base: 2147483648, size: 67108864, kind: 'ram', file: 'arena', fileOffset: 0 },
    { name: 'ep-ll', base: 1879048192, size: 32768, kind: 'ram', file: 'arena', fileOffset: 67108864 },
    { name: 'host-ram', base: 4294967296, size: 268435456, kind: 'ram', file: 'arena', fileOffset: 67141632 },
    { name: 'ep-dma-regs', base: 1610612736, size: 8192, kind: 'mmio', file: 'registers', fileOffset: 0 },
    { name: 'ep-scratch', base: 1073741824, size: 16777216, kind: 'ram', file: 'scratch', fileOffset: 0 },
  ],
  function: {
    funcNo: 0, bus: 1, vendorId: 4660, deviceId: 22136, revisionId: 0, classCode: 524544, subsysVendorId: 0, subsysId: 0,
    interruptPin: 1, msiVectors: 1, msix: null,
  },
  bars: [{ index: 0, size: 4096, busAddr: 4026531840, is64: false }, { index: 1, size: 65536, busAddr: 4026597376, is64: false }],
  delegated: [0, 1, 2, 3].flatMap((hwChannel) => [{ kind: 'write', hwChannel }, { kind: 'read', hwChannel }]),
};

type Json = Record<string, unknown>;
const copy = (): Json => structuredClone(PUBLISHED) as Json;
const PATH = '/dev/shm/x/device.json';

function einval(raw: unknown, ...parts: (string | RegExp)[]): void {
  let thrown: unknown;
  try {
    checkManifest(raw, PATH);
  } catch (err) {
    thrown = err;
  }
  expect(thrown).toBeInstanceOf(EpdmaError);
  expect((thrown as EpdmaError).code).toBe('EINVAL');
  expect((thrown as Error).message).toContain(PATH);
  for (const p of parts) {
    if (typeof p === 'string') expect((thrown as Error).message).toContain(p);
    else expect((thrown as Error).message).toMatch(p);
  }
}

/** Sets `path` (dotted, numeric parts index arrays) in a fresh copy. */
function withField(path: string, value: unknown): Json {
  const m = copy();
  const keys = path.split('.');
  let at: Record<string, unknown> = m;
  for (const k of keys.slice(0, -1)) at = at[k] as Record<string, unknown>;
  if (value === undefined) delete at[keys.at(-1)!];
  else at[keys.at(-1)!] = value;
  return m;
}

describe('checkManifest', () => {
  it('accepts what an endpoint publishes, field for field', () => {
    expect(checkManifest(copy(), PATH)).toEqual(PUBLISHED);
    const withMsix = withField('function.msix', { count: 8, bir: 2, tableOffset: 0x1000 });
    expect(checkManifest(withMsix, PATH).function.msix).toEqual({ count: 8, bir: 2, tableOffset: 0x1000 });
  });

  const cases: [string, unknown, string | RegExp][] = [
    ['regions', 5, 'regions 5 is not an array'],
    ['regions', { 0: 1 }, 'regions {"0":1} is not an array'],
    ['bars', 'x', 'bars "x" is not an array'],
    ['bars', null, 'bars null is not an array'],
    ['delegated', undefined, 'delegated undefined is not an array'],
    ['files', [], 'files [] is not an object'],
    ['function', 7, 'function 7 is not an object'],
    ['format', 'other', 'format "other"'],
    ['version', 2, 'version 2'],
    ['mapFormat', 'legacy', 'mapFormat "legacy" is not one of unroll, hdma-compat, hdma-native'],
    ['writeChannels', 9, 'writeChannels 9 is not an integer in 1..8'],
    ['readChannels', 1.5, 'readChannels 1.5'],
    ['epPid', -3, 'epPid -3'],
    ['generation', '1', 'generation "1"'],
    ['files.arena.name', '../../etc/passwd', 'files.arena.name "../../etc/passwd" is not arena.mem'],
    ['files.arena.bytes', 0, 'files.arena.bytes 0'],
    ['files.control.bytes', 64, 'files.control.bytes 64 is not 4096'],
    ['files.registers.bytes', 4096, 'files.registers.bytes 4096 is not 8704'],
    ['files.scratch', undefined, 'files.scratch undefined is not an object'],
    ['regions.0', 'ep-ram', 'regions[0] "ep-ram" is not an object'],
    ['regions.0', undefined, 'regions[0] undefined is not an object'], // a hole in the array
    ['regions.0.size', 2 ** 60, 'regions[0].size'],
    ['regions.0.base', -1, 'regions[0].base -1'],
    ['regions.0.kind', 'rom', 'regions[0].kind "rom"'],
    ['regions.0.file', 'manifest', 'regions[0].file "manifest"'],
    ['regions.0.fileOffset', 335577088, 'runs past the end of arena.mem'],
    ['regions.2.size', 268435456 + 4096, 'runs past the end of arena.mem'],
    ['regions.0.file', 'control', 'holds no RAM'],
    ['regions.3.file', 'arena', 'is MMIO outside the register block'],
    ['regions.3.size', 4096, 'is not the unroll register window (8192 bytes)'],
    ['regions.1.base', 2147483648 + 4096, 'overlaps ep-ram'],
    ['regions.2.name', 'ep-ram', 'names a region twice'],
    ['regions.2.name', 'host-memory', 'host-ram'],
    ['function.vendorId', 0x10000, 'function.vendorId 65536'],
    ['function.msiVectors', 33, 'function.msiVectors 33'],
    ['function.msix', { count: 0, bir: 0, tableOffset: 0 }, 'function.msix.count 0'],
    ['function.msix', [], 'function.msix [] is not an object'],
    ['bars.0.index', 6, 'bars[0].index 6'],
    ['bars.0.size', 3000, 'bars[0].size 3000 is not a power of two'],
    ['bars.0.busAddr', 4026531840 + 16, 'is not aligned to the BAR size'],
    ['bars.0.is64', 'no', 'bars[0].is64 "no" is not a boolean'],
    ['bars.1.index', 0, 'lists a BAR index twice'],
    ['delegated.0.kind', 'both', 'delegated[0].kind "both"'],
    ['delegated.0.hwChannel', 4, 'delegated[0].hwChannel 4 is not an integer in 0..3'],
    ['delegated.2', { kind: 'write', hwChannel: 0 }, 'lists a channel twice'],
  ];
  it.each(cases)('%s = %j: EINVAL naming it', (path, value, message) => {
    einval(withField(path, value), message);
  });

  it('refuses documents that are not objects at all', () => {
    for (const raw of [null, 5, 'x', [], true]) einval(raw, 'device.json');
  });

  it('fuzz: any JSON value, and any published document with one field replaced, is accepted or EINVAL, never another error', () => {
    const leafPaths: string[] = [];
    const walk = (v: unknown, at: string): void => {
      if (v !== null && typeof v === 'object') {
        for (const [k, x] of Object.entries(v)) walk(x, at === '' ? k : `${at}.${k}`);
        if (at !== '') leafPaths.push(at);
      } else leafPaths.push(at);
    };
    walk(PUBLISHED, '');
    const outcome = (raw: unknown): 'ok' | 'EINVAL' => {
      try {
        checkManifest(raw, PATH);
        return 'ok';
      } catch (err) {
        if (!(err instanceof EpdmaError) || err.code !== 'EINVAL') throw err;
        return 'EINVAL';
      }
    };
    fc.assert(fc.property(fc.jsonValue(), (v) => {
      expect(outcome(v)).toBe('EINVAL');
    }), { numRuns: 300 });
    let accepted = 0;
    fc.assert(fc.property(fc.constantFrom(...leafPaths), fc.oneof(fc.jsonValue(), fc.integer(), fc.double(), fc.constant(undefined)), (path, value) => {
      if (outcome(withField(path, value)) === 'ok') accepted++;
    }), { numRuns: 2000 });
    // Some replacements are harmless (another valid value): the fuzz reached both outcomes.
    expect(accepted).toBeGreaterThan(0);
  });
});
