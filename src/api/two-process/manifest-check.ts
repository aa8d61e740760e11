import { EpdmaError, hex } from '../../device/errors.js';
import type { MapFormat } from '../../device/regs/map-format.js';
import { MmioRegisterFile } from '../../device/regs/register-file.js';
import {
  CONTROL_BYTES, MANIFEST_FORMAT, MANIFEST_VERSION, SHM_FILES,
  type DeviceManifest, type ManifestBar, type ManifestFiles, type ManifestRegion,
} from './shm-layout.js';
import { PCI_STD_NUM_BARS } from '../../device/epc/epc-features.js';

/**
 * device.json comes from another process, which may be broken or hostile: every field is
 * checked for type and range before anything is built from it, and a bad one is an EpdmaError
 * (EINVAL) naming the field path and the value, never a TypeError further down.
 */

/** The largest mapping the addon accepts (2^40), and far more than any model here needs. */
const MAX_FILE_BYTES = 2 ** 40;
const MAX_REGIONS = 16;
const MAX_CHANNELS = 8;
/** A bus address must stay exact as a double. */
const MAX_ADDR = Number.MAX_SAFE_INTEGER;

type Fields = Record<string, unknown>;

class ManifestChecker {
  constructor(private readonly path: string) {}

  fail(field: string, value: unknown, why: string): never {
    let shown: string;
    try {
      shown = JSON.stringify(value) ?? String(value);
    } catch {
      shown = String(value);
    }
    if (shown.length > 80) shown = `${shown.slice(0, 77)}...`;
    throw new EpdmaError('EINVAL', `openHost: ${this.path}: ${field} ${shown} ${why}`);
  }

  object(field: string, v: unknown): Fields {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) this.fail(field, v, 'is not an object');
    return v as Fields;
  }

  array(field: string, v: unknown, max: number): readonly unknown[] {
    if (!Array.isArray(v)) this.fail(field, v, 'is not an array');
    if (v.length > max) this.fail(field, `${v.length} entries`, `exceeds ${max}`);
    // Dense: a hole becomes undefined, which the entry check then refuses by name.
    return Array.from(v as unknown[]);
  }

  int(field: string, v: unknown, min: number, max: number): number {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) this.fail(field, v, `is not an integer in ${min}..${max}`);
    return v;
  }

  string(field: string, v: unknown): string {
    if (typeof v !== 'string' || v === '' || v.length > 64) this.fail(field, v, 'is not a name of 1..64 characters');
    return v;
  }

  oneOf<T extends string>(field: string, v: unknown, allowed: readonly T[]): T {
    if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) this.fail(field, v, `is not one of ${allowed.join(', ')}`);
    return v as T;
  }

  boolean(field: string, v: unknown): boolean {
    if (typeof v !== 'boolean') this.fail(field, v, 'is not a boolean');
    return v;
  }
}

/** The published memories (shm-layout's SHM_FILES without device.json); literal, as shm-layout imports this module. */
const FILE_KEYS: readonly (keyof ManifestFiles)[] = ['arena', 'registers', 'scratch', 'control'];
/** The register layouts an endpoint process can run (legacy is not modelled). */
const MAP_FORMATS: readonly MapFormat[] = ['unroll', 'hdma-compat', 'hdma-native'];

/** Checks a parsed device.json completely; returns it typed, or throws EINVAL naming the field. */
export function checkManifest(raw: unknown, path: string): DeviceManifest {
  const c = new ManifestChecker(path);
  const m = c.object('device.json', raw);
  if (m.format !== MANIFEST_FORMAT) c.fail('format', m.format, `is not ${MANIFEST_FORMAT}`);
  if (m.version !== MANIFEST_VERSION) c.fail('version', m.version, `is not ${MANIFEST_VERSION} (the version this epdma reads)`);
  const mapFormat = c.oneOf<MapFormat>('mapFormat', m.mapFormat, MAP_FORMATS);
  const writeChannels = c.int('writeChannels', m.writeChannels, 1, MAX_CHANNELS);
  const readChannels = c.int('readChannels', m.readChannels, 1, MAX_CHANNELS);
  const epPid = c.int('epPid', m.epPid, 1, 2 ** 31 - 1);
  const generation = c.int('generation', m.generation, 1, 2 ** 31 - 1);

  const filesIn = c.object('files', m.files);
  const files = {} as Record<keyof ManifestFiles, { name: string; bytes: number }>;
  for (const key of FILE_KEYS) {
    const f = c.object(`files.${key}`, filesIn[key]);
    // Only the names the endpoint publishes: a path elsewhere (../, /etc/...) is not its file.
    if (f.name !== SHM_FILES[key]) c.fail(`files.${key}.name`, f.name, `is not ${SHM_FILES[key]}`);
    files[key] = { name: SHM_FILES[key], bytes: c.int(`files.${key}.bytes`, f.bytes, 1, MAX_FILE_BYTES) };
  }
  if (files.control.bytes !== CONTROL_BYTES) c.fail('files.control.bytes', files.control.bytes, `is not ${CONTROL_BYTES}`);
  const regBytes = MmioRegisterFile.bytesFor(mapFormat);
  if (files.registers.bytes !== regBytes) c.fail('files.registers.bytes', files.registers.bytes, `is not ${regBytes} (a ${mapFormat} register block)`);

  const regions = c.array('regions', m.regions, MAX_REGIONS).map((r, i) => checkRegion(c, `regions[${i}]`, r, files, mapFormat));
  const names = new Set<string>();
  for (const r of regions) {
    if (names.has(r.name)) c.fail('regions', r.name, 'names a region twice');
    names.add(r.name);
  }
  for (const need of ['ep-ram', 'host-ram']) {
    const r = regions.find((x) => x.name === need);
    if (r === undefined || r.kind !== 'ram') c.fail('regions', need, 'is missing (a ram region of that name is required)');
  }
  const sorted = [...regions].sort((a, b) => a.base - b.base);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1]!;
    if (sorted[i]!.base < prev.base + prev.size) c.fail('regions', sorted[i]!.name, `overlaps ${prev.name} at ${hex(sorted[i]!.base)}`);
  }

  const fnIn = c.object('function', m.function);
  const msixIn = fnIn.msix;
  const msix = msixIn === null ? null : (() => {
    const x = c.object('function.msix', msixIn);
    return {
      count: c.int('function.msix.count', x.count, 1, 2048),
      bir: c.int('function.msix.bir', x.bir, 0, 5),
      tableOffset: c.int('function.msix.tableOffset', x.tableOffset, 0, 0xffff_fff8),
    };
  })();
  const fn: DeviceManifest['function'] = {
    funcNo: c.int('function.funcNo', fnIn.funcNo, 0, 7),
    bus: c.int('function.bus', fnIn.bus, 0, 255),
    vendorId: c.int('function.vendorId', fnIn.vendorId, 0, 0xffff),
    deviceId: c.int('function.deviceId', fnIn.deviceId, 0, 0xffff),
    revisionId: c.int('function.revisionId', fnIn.revisionId, 0, 0xff),
    classCode: c.int('function.classCode', fnIn.classCode, 0, 0xff_ffff),
    subsysVendorId: c.int('function.subsysVendorId', fnIn.subsysVendorId, 0, 0xffff),
    subsysId: c.int('function.subsysId', fnIn.subsysId, 0, 0xffff),
    interruptPin: c.int('function.interruptPin', fnIn.interruptPin, 0, 4),
    msiVectors: c.int('function.msiVectors', fnIn.msiVectors, 0, 32),
    msix,
  };

  const bars = c.array('bars', m.bars, PCI_STD_NUM_BARS).map((b, i) => checkBar(c, `bars[${i}]`, b));
  const barSeen = new Set<number>();
  for (const b of bars) {
    if (barSeen.has(b.index)) c.fail('bars', b.index, 'lists a BAR index twice');
    barSeen.add(b.index);
  }

  const delegated = c.array('delegated', m.delegated, 2 * MAX_CHANNELS).map((d, i) => {
    const x = c.object(`delegated[${i}]`, d);
    const kind = c.oneOf(`delegated[${i}].kind`, x.kind, ['write', 'read'] as const);
    const hwChannel = c.int(`delegated[${i}].hwChannel`, x.hwChannel, 0, (kind === 'write' ? writeChannels : readChannels) - 1);
    return { kind, hwChannel };
  });
  const chanSeen = new Set<string>();
  for (const d of delegated) {
    const key = `${d.kind}${d.hwChannel}`;
    if (chanSeen.has(key)) c.fail('delegated', key, 'lists a channel twice');
    chanSeen.add(key);
  }

  return { format: MANIFEST_FORMAT, version: MANIFEST_VERSION, mapFormat, writeChannels, readChannels, epPid, generation, files, regions, function: fn, bars, delegated };
}

function checkRegion(c: ManifestChecker, at: string, raw: unknown, files: ManifestFiles, mapFormat: MapFormat): ManifestRegion {
  const r = c.object(at, raw);
  const name = c.string(`${at}.name`, r.name);
  const kind = c.oneOf(`${at}.kind`, r.kind, ['ram', 'mmio'] as const);
  const file = c.oneOf(`${at}.file`, r.file, FILE_KEYS);
  const base = c.int(`${at}.base`, r.base, 0, MAX_ADDR);
  const size = c.int(`${at}.size`, r.size, 1, MAX_FILE_BYTES);
  if (base + size > MAX_ADDR) c.fail(`${at}.size`, size, `runs past the largest exact bus address from ${hex(base)}`);
  const fileOffset = c.int(`${at}.fileOffset`, r.fileOffset, 0, MAX_FILE_BYTES);
  if (kind === 'mmio') {
    // The register block is the only MMIO the host rebuilds: all of regs.mem from offset 0.
    if (file !== 'registers' || fileOffset !== 0) c.fail(at, `${file}+${fileOffset}`, 'is MMIO outside the register block (registers+0)');
    const window = MmioRegisterFile.windowBytesFor(mapFormat);
    if (size !== window) c.fail(`${at}.size`, size, `is not the ${mapFormat} register window (${window} bytes)`);
  } else {
    if (file !== 'arena' && file !== 'scratch') c.fail(`${at}.file`, file, 'holds no RAM (only arena and scratch do)');
    if (fileOffset + size > files[file].bytes) {
      c.fail(at, `${hex(fileOffset)}+${hex(size)}`, `runs past the end of ${files[file].name} (${files[file].bytes} bytes)`);
    }
  }
  return { name, base, size, kind, file, fileOffset };
}

function checkBar(c: ManifestChecker, at: string, raw: unknown): ManifestBar {
  const b = c.object(at, raw);
  const index = c.int(`${at}.index`, b.index, 0, PCI_STD_NUM_BARS - 1);
  const size = c.int(`${at}.size`, b.size, 16, 2 ** 40);
  // PCI BARs are powers of two, naturally aligned.
  if (!Number.isInteger(Math.log2(size))) c.fail(`${at}.size`, size, 'is not a power of two');
  const busAddr = c.int(`${at}.busAddr`, b.busAddr, 0, MAX_ADDR);
  if (busAddr % size !== 0) c.fail(`${at}.busAddr`, busAddr, `is not aligned to the BAR size ${hex(size)}`);
  const is64 = c.boolean(`${at}.is64`, b.is64);
  return { index, size, busAddr, is64 };
}
