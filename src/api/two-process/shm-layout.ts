import { readFileSync, renameSync, statSync, writeFileSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { EpdmaError } from '../../device/errors.js';
import type { MapFormat } from '../../device/regs/map-format.js';
import { checkManifest } from './manifest-check.js';

/**
 * What an endpoint process publishes under its DIR (two-process mode), and how both
 * processes read it. Each memory is a memfd the endpoint sealed against shrinking (addon
 * createSealed), published as a symlink DIR/<name> -> /proc/<ep pid>/fd/<fd>: the host opens
 * the very same file through it and refuses anything unsealed (mapSealed), so nothing the
 * endpoint or anyone else does to the files can turn a host access into SIGBUS. `cat`,
 * `epdma inspect` and pread/pwrite see the same bytes through the links. The links go when
 * the endpoint stops (and dangle if it dies); device.json is written last (tmp + rename), so
 * a host that can read it finds every other file complete.
 */
export const SHM_FILES = {
  arena: 'arena.mem',
  registers: 'regs.mem',
  scratch: 'scratch.mem',
  control: 'control.mem',
  manifest: 'device.json',
} as const;

/** Every file the endpoint creates (for cleanup). */
export const ALL_SHM_FILES: readonly string[] = Object.values(SHM_FILES);

export const MANIFEST_FORMAT = 'epdma-shm-device';
export const MANIFEST_VERSION = 1;
/** device.json is a few KiB; anything much larger is not one. */
const MANIFEST_MAX_BYTES = 64 * 1024;

/** Scratch pool (BAR backing) size in this mode: metadata and window BARs fit many times. */
export const SHM_SCRATCH_BYTES = 16 * 1024 * 1024;

// ---- control.mem: Int32 words ----

export const CONTROL_BYTES = 4096;
export const CONTROL_MAGIC = 0x4550_4443; // 'EPDC'
export const CTL = {
  MAGIC: 0,
  VERSION: 1,
  EP_PID: 2,
  /** Bumped at every endpoint start in this DIR. */
  EP_GENERATION: 3,
  /** Bumped every ~50 ms by the endpoint's main thread: a host gives up on one that stops (liveness.ts). */
  EP_HEARTBEAT: 4,
  /** The attached host's pid: 0 = none, > 0 attached, < 0 = that host is leaving (see liveness.ts). */
  HOST_PID: 5,
  EP_STATE: 6,
  /** Bumped every ~20 ms by the attached host: the endpoint believes it gone only once this stops. */
  HOST_HEARTBEAT: 7,
  /**
   * Delegated-channel resets by the endpoint, bumped after each. The host reports every change
   * and its channel workers watch it under a chunk in flight: a reset can swallow the chunk,
   * whose DONE then never comes (it gets linkDownTimeoutMs, see ChannelCore).
   */
  EP_RESETS: 8,
} as const;
export const EP_STATE_RUNNING = 1;
export const EP_STATE_STOPPING = 2;
/** Word index where the iATU mirror starts (see iatu-mirror.ts). */
export const MIRROR_WORD_BASE = 64;

// ---- device.json ----

export interface ManifestRegion {
  readonly name: string;
  readonly base: number;
  readonly size: number;
  readonly kind: 'ram' | 'mmio';
  /** A key of `files`. */
  readonly file: keyof ManifestFiles;
  readonly fileOffset: number;
}

export interface ManifestFiles {
  readonly arena: { readonly name: string; readonly bytes: number };
  readonly registers: { readonly name: string; readonly bytes: number };
  readonly scratch: { readonly name: string; readonly bytes: number };
  readonly control: { readonly name: string; readonly bytes: number };
}

export interface ManifestBar {
  readonly index: number;
  readonly size: number;
  readonly busAddr: number;
  readonly is64: boolean;
}

/** device.json: everything a host needs to rebuild the function and its address spaces. */
export interface DeviceManifest {
  readonly format: typeof MANIFEST_FORMAT;
  readonly version: number;
  readonly mapFormat: MapFormat;
  readonly writeChannels: number;
  readonly readChannels: number;
  readonly epPid: number;
  readonly generation: number;
  readonly files: ManifestFiles;
  /** The EP-local regions the host's BAR windows can reach, and host RAM ('host-ram'). */
  readonly regions: readonly ManifestRegion[];
  readonly function: {
    readonly funcNo: number;
    readonly bus: number;
    readonly vendorId: number;
    readonly deviceId: number;
    readonly revisionId: number;
    readonly classCode: number;
    readonly subsysVendorId: number;
    readonly subsysId: number;
    readonly interruptPin: number;
    readonly msiVectors: number;
    readonly msix: { readonly count: number; readonly bir: number; readonly tableOffset: number } | null;
  };
  readonly bars: readonly ManifestBar[];
  readonly delegated: readonly { readonly kind: 'write' | 'read'; readonly hwChannel: number }[];
}

export function shmPath(dir: string, file: string): string {
  return join(dir, file);
}

/** Writes device.json atomically: a reader sees the old file, no file, or the whole new one. */
export function writeManifest(dir: string, manifest: DeviceManifest): void {
  const final = shmPath(dir, SHM_FILES.manifest);
  const tmp = `${final}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(manifest, null, 2)}\n`);
  renameSync(tmp, final);
}

/** Reads and checks device.json; ENODEV when nothing is published in `dir`. */
export function readManifest(dir: string): DeviceManifest {
  const path = shmPath(dir, SHM_FILES.manifest);
  let st: Stats;
  try {
    st = statSync(path);
  } catch {
    throw new EpdmaError('ENODEV', `openHost: no endpoint published in ${dir} (${SHM_FILES.manifest} missing; start it with: epdma endpoint --shm ${dir})`);
  }
  // A FIFO would block the read forever, a huge file would fill the heap: neither is a description.
  if (!st.isFile()) throw new EpdmaError('EINVAL', `openHost: ${path} is not a regular file`);
  if (st.size > MANIFEST_MAX_BYTES) throw new EpdmaError('EINVAL', `openHost: ${path} has ${st.size} bytes, a description has at most ${MANIFEST_MAX_BYTES}`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new EpdmaError('ENODEV', `openHost: ${path} vanished while being read (the endpoint process stopped?)`);
    throw new EpdmaError('EINVAL', `openHost: ${path} is not JSON: ${(err as Error).message}`);
  }
  return checkManifest(raw, path);
}

/** Size of a published file, checked against the manifest (a stale or foreign file is EINVAL). */
export function checkFile(dir: string, file: { name: string; bytes: number }): string {
  const path = shmPath(dir, file.name);
  let size: number;
  try {
    size = statSync(path).size;
  } catch {
    throw new EpdmaError('ENODEV', `openHost: ${path} is missing (the endpoint process stopped?)`);
  }
  if (size !== file.bytes) throw new EpdmaError('EINVAL', `openHost: ${path} has ${size} bytes, device.json says ${file.bytes}`);
  return path;
}
