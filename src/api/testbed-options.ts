import { EpdmaError } from '../device/errors.js';
import { DEFAULT_LINK_DOWN_TIMEOUT_MS } from '../protocol/channel-worker-data.js';
import type { TestbedOptions } from './types.js';
import { DRIVER_QUIRKS, type DriverQuirks } from '../protocol/driver-quirks.js';

export const HOST_RAM_BASE = 0x1_0000_0000;

export interface ResolvedTestbedOptions {
  mapFormat: 'unroll' | 'hdma-compat' | 'hdma-native';
  writeChannels: number;
  readChannels: number;
  epMemoryBytes: number;
  linkBytesPerSec: number;
  vendorId: number;
  deviceId: number;
  metadataBar: number | 'auto';
  dmaWindowBar: number | 'auto';
  wrChans: number;
  rdChans: number;
  msiInterrupts: number;
  hostMemoryBytes: number;
  iommu: boolean;
  hostRequestPollMs: number;
  readyPollMs: number;
  readyTimeoutMs: number;
  linkDownTimeoutMs: number;
  idle: 'adaptive' | 'spin' | 'sleep';
  quirks: DriverQuirks;
  supervision: { maxRestarts?: number; withinMs?: number; backoffMs?: number };
  trace: string | undefined;
}

/** 'fast' keeps tests and demos snappy; 'kernel' uses the kernel's 500 ms / 1 ms / 2 s. */
const PRESETS = {
  fast: { hostRequestPollMs: 2, readyPollMs: 1, readyTimeoutMs: 2000 },
  kernel: { hostRequestPollMs: 500, readyPollMs: 1, readyTimeoutMs: 2000 },
} as const;

function count(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) throw new EpdmaError('EINVAL', `testbed: ${name} ${String(value)} out of range ${min}..${max}`);
  return value;
}

function bytes(name: string, value: number, min: number, max: number): number {
  if (!Number.isSafeInteger(value) || value < min || value > max || value % 4096 !== 0) {
    throw new EpdmaError('EINVAL', `testbed: ${name} ${String(value)} must be a multiple of 4096 in ${min}..${max}`);
  }
  return value;
}

function ms(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0) throw new EpdmaError('EINVAL', `testbed: ${name} ${String(value)} must be a positive number of ms`);
  return value;
}

function supervision(s: NonNullable<TestbedOptions['supervision']>): ResolvedTestbedOptions['supervision'] {
  if (s === null || typeof s !== 'object') throw new EpdmaError('EINVAL', `testbed: supervision ${String(s)} is not an object`);
  if (s.maxRestarts !== undefined) count('supervision.maxRestarts', s.maxRestarts, 0, 1000);
  if (s.withinMs !== undefined) ms('supervision.withinMs', s.withinMs);
  if (s.backoffMs !== undefined) ms('supervision.backoffMs', s.backoffMs);
  return s;
}

function iommu(value: unknown): boolean {
  if (typeof value !== 'boolean') throw new EpdmaError('EINVAL', `testbed: host.iommu ${String(value)} is not a boolean`);
  return value;
}

/** The channel core's semantics, default 'contract'; `what` names the option in the error. */
export function driverQuirks(what: string, value: unknown): DriverQuirks {
  if (value === undefined) return 'contract';
  if (!(DRIVER_QUIRKS as readonly unknown[]).includes(value)) throw new EpdmaError('EINVAL', `${what} '${String(value)}' is not ${DRIVER_QUIRKS.join(' or ')}`);
  return value as DriverQuirks;
}

function traceFile(file: unknown): string | undefined {
  if (file === undefined) return undefined;
  if (typeof file !== 'string' || file === '') throw new EpdmaError('EINVAL', `testbed: trace ${JSON.stringify(file)} is not a file name`);
  return file;
}

/** Defaults of API.md, every value checked with the offending value in the message. */
export function resolveTestbedOptions(options: TestbedOptions): ResolvedTestbedOptions {
  // From JavaScript anything can arrive here; a TypeError would break the EpdmaError promise.
  const isObject = (v: unknown): boolean => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObject(options)) throw new EpdmaError('EINVAL', `testbed: options ${String(options)} is not an object`);
  for (const key of ['endpoint', 'function', 'host', 'timing', 'driver', 'supervision'] as const) {
    const v: unknown = options[key];
    if (v !== undefined && !isObject(v)) throw new EpdmaError('EINVAL', `testbed: ${key} ${JSON.stringify(v)} is not an object`);
  }
  const ep = options.endpoint ?? {};
  const fn = options.function ?? {};
  const timing = options.timing ?? {};
  const mapFormat = ep.mapFormat ?? 'unroll';
  if (mapFormat !== 'unroll' && mapFormat !== 'hdma-compat' && mapFormat !== 'hdma-native') {
    throw new EpdmaError('EINVAL', `testbed: endpoint.mapFormat '${String(mapFormat)}' is not unroll, hdma-compat or hdma-native`);
  }
  const preset = timing.preset ?? 'fast';
  if (preset !== 'fast' && preset !== 'kernel') throw new EpdmaError('EINVAL', `testbed: timing.preset '${String(preset)}' is not fast or kernel`);
  const writeChannels = count('endpoint.writeChannels', ep.writeChannels ?? 4, 1, 8);
  const readChannels = count('endpoint.readChannels', ep.readChannels ?? 4, 1, 8);
  const idle = options.idle ?? 'adaptive';
  if (idle !== 'adaptive' && idle !== 'spin' && idle !== 'sleep') throw new EpdmaError('EINVAL', `testbed: idle '${String(idle)}' is not adaptive, spin or sleep`);
  const quirks = driverQuirks('testbed: driver.quirks', options.driver?.quirks);
  const link = ep.linkBytesPerSec ?? Infinity;
  if (!(link > 0)) throw new EpdmaError('EINVAL', `testbed: endpoint.linkBytesPerSec ${String(link)} must be positive`);
  return {
    mapFormat,
    writeChannels,
    readChannels,
    epMemoryBytes: bytes('endpoint.memoryBytes', ep.memoryBytes ?? 64 * 1024 * 1024, 1 << 16, 2 ** 31),
    linkBytesPerSec: link,
    vendorId: count('function.vendorId', fn.vendorId ?? 0x1234, 0, 0xffff),
    deviceId: count('function.deviceId', fn.deviceId ?? 0x5678, 0, 0xffff),
    metadataBar: fn.metadataBar ?? 'auto',
    dmaWindowBar: fn.dmaWindowBar ?? 'auto',
    wrChans: count('function.wrChans', fn.wrChans ?? 0, 0, writeChannels),
    rdChans: count('function.rdChans', fn.rdChans ?? readChannels, 0, readChannels),
    msiInterrupts: count('function.msiInterrupts', fn.msiInterrupts ?? 1, 0, 32),
    hostMemoryBytes: bytes('host.memoryBytes', options.host?.memoryBytes ?? 256 * 1024 * 1024, 1 << 16, 2 ** 31),
    iommu: iommu(options.host?.iommu ?? false),
    hostRequestPollMs: ms('timing.hostRequestPollMs', timing.hostRequestPollMs ?? PRESETS[preset].hostRequestPollMs),
    readyPollMs: ms('timing.readyPollMs', timing.readyPollMs ?? PRESETS[preset].readyPollMs),
    readyTimeoutMs: ms('timing.readyTimeoutMs', timing.readyTimeoutMs ?? PRESETS[preset].readyTimeoutMs),
    linkDownTimeoutMs: ms('timing.linkDownTimeoutMs', timing.linkDownTimeoutMs ?? DEFAULT_LINK_DOWN_TIMEOUT_MS),
    idle,
    quirks,
    supervision: supervision(options.supervision ?? {}),
    trace: traceFile(options.trace),
  };
}
