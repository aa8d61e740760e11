/**
 * Loader for the optional native addon (build/Release/epdma_native.node, built at install by
 * scripts/build-native.mjs) and the typed wrappers the rest of epdma uses instead of calling it
 * directly.
 *
 * The addon is what makes two-process mode possible: file-backed MAP_SHARED memory and futex
 * wakeups that cross processes. Without it (not built, not Linux, or EPDMA_NO_NATIVE=1)
 * everything still runs in one process: Atomics.wait/notify stand in for the futex, and
 * file-backed mapping is unavailable.
 *
 * Call loadNativeAddon() once on the main thread at startup, before workers start, so the
 * decision (and the reason when it is "no") is made once and reported once; workers that call it
 * later reach the same decision from the same file and environment.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { EpdmaError } from '../device/errors.js';

export type WaitResult = 'ok' | 'not-equal' | 'timed-out';

/** The addon's exports, exactly as src/native/epdma_native.cc defines them. */
export interface NativeAddon {
  /**
   * Creates or opens `path` (absolute), grows it to `bytes` if smaller (never shrinks), maps it
   * MAP_SHARED and returns a SharedArrayBuffer over the mapping; unmapped when the last
   * reference in any thread is gone. Throws Error with `code` = errno name ('ENOENT', 'EACCES',
   * 'EINVAL' for size 0 or > 2^40), `syscall` and `path`; the message names the path.
   */
  mapShared(path: string, bytes: number): SharedArrayBuffer;
  /** Linux futex wait (shared, not private). Blocks the calling thread; timeoutMs < 0 = forever. */
  futexWait(view: Int32Array, index: number, expected: number, timeoutMs: number): WaitResult;
  /** Wakes up to `count` futex waiters (negative or Infinity = all); returns how many woke. */
  futexWake(view: Int32Array, index: number, count: number): number;
  /** memmove of `len` bytes; bounds-checked. */
  copy(dst: Uint8Array, dstOff: number, src: Uint8Array, srcOff: number, len: number): void;
  /**
   * A memfd named `name` of exactly `bytes`, sealed against shrinking, growing and further
   * sealing, mapped MAP_SHARED. `fd` stays open (the caller closes it with fs.closeSync): it is
   * what keeps /proc/<pid>/fd/<fd> openable by another process.
   */
  createSealed(name: string, bytes: number): { buffer: SharedArrayBuffer; fd: number };
  /**
   * Opens an existing file (never creates) and maps `bytes` of it, refusing (code 'EPERM') a
   * file not sealed with F_SEAL_SHRINK and F_SEAL_SEAL or sealed against writes, and (code
   * 'EIO') one shorter than `bytes`. Other errors as mapShared.
   */
  mapSealed(path: string, bytes: number): SharedArrayBuffer;
  /** Largest size mapShared accepts (2^40). */
  readonly maxMapBytes: number;
}

/** dist/native/native-addon.js -> <package root>/build/Release/epdma_native.node */
export const NATIVE_ADDON_PATH = fileURLToPath(
  new URL('../../build/Release/epdma_native.node', import.meta.url),
);

const EXPORTED_FUNCTIONS = ['mapShared', 'createSealed', 'mapSealed', 'futexWait', 'futexWake', 'copy'] as const;

// undefined = not tried yet; null = tried and unavailable (see unavailableReason).
let cachedAddon: NativeAddon | null | undefined;
let unavailableReason: string | undefined;

function describe(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  const firstLine = text.split('\n', 1)[0] ?? text;
  return firstLine.length > 200 ? `${firstLine.slice(0, 197)}...` : firstLine;
}

function tryLoad(): NativeAddon | string {
  if (process.env.EPDMA_NO_NATIVE === '1') return 'EPDMA_NO_NATIVE=1 forces the in-process path';
  if (process.platform !== 'linux') return `platform ${process.platform} is not supported (Linux only)`;
  if (!existsSync(NATIVE_ADDON_PATH)) {
    return `${NATIVE_ADDON_PATH} not found (build it with: node scripts/build-native.mjs)`;
  }
  let loaded: unknown;
  try {
    loaded = createRequire(import.meta.url)(NATIVE_ADDON_PATH);
  } catch (err) {
    return `loading ${NATIVE_ADDON_PATH} failed: ${describe(err)}`;
  }
  const exports = loaded as Record<string, unknown>;
  for (const name of EXPORTED_FUNCTIONS) {
    if (typeof exports[name] !== 'function') {
      return `${NATIVE_ADDON_PATH} does not export ${name}() (built from older sources? rebuild it with: node scripts/build-native.mjs)`;
    }
  }
  return loaded as NativeAddon;
}

/**
 * The native addon, or null when it is unavailable (the reason is kept for
 * nativeAddonUnavailableReason()). Cached per thread; never throws.
 */
export function loadNativeAddon(): NativeAddon | null {
  if (cachedAddon !== undefined) return cachedAddon;
  let result: NativeAddon | string;
  try {
    result = tryLoad();
  } catch (err) {
    result = `unexpected failure loading the addon: ${describe(err)}`;
  }
  if (typeof result === 'string') {
    unavailableReason = result;
    cachedAddon = null;
  } else {
    cachedAddon = result;
  }
  return cachedAddon;
}

/** Why loadNativeAddon() returns null; undefined when the addon is loaded. */
export function nativeAddonUnavailableReason(): string | undefined {
  loadNativeAddon();
  return unavailableReason;
}

/** True when waits and wakes reach other processes (the addon's futex is in use). */
export function crossProcessWakeupsAvailable(): boolean {
  return loadNativeAddon() !== null;
}

/**
 * File-backed shared memory (two-process mode: BARs and memories as files in /dev/shm, or
 * /sys/bus/pci/devices/<bdf>/resourceN on real hardware). Needs the addon: without it there is
 * no way to map a file, so this throws EpdmaError EOPNOTSUPP naming the reason. Errors from the
 * mapping itself are the addon's (code = errno name, message names the path).
 */
export function mapSharedFile(path: string, bytes: number): SharedArrayBuffer {
  const addon = loadNativeAddon();
  if (addon === null) {
    throw new EpdmaError(
      'EOPNOTSUPP',
      `mapSharedFile ${path}: file-backed shared memory needs the native addon (${unavailableReason})`,
    );
  }
  return addon.mapShared(path, bytes);
}

function requireAddon(what: string): NativeAddon {
  const addon = loadNativeAddon();
  if (addon === null) throw new EpdmaError('EOPNOTSUPP', `${what}: shared memory between processes needs the native addon (${unavailableReason})`);
  return addon;
}

/** Error codes of the addon that name what a peer did to the memory (EPERM, EIO); the rest are ENODEV. */
function sealedMappingError(path: string, err: unknown): EpdmaError {
  const code = (err as NodeJS.ErrnoException).code;
  const message = err instanceof Error ? err.message : String(err);
  if (code === 'EPERM' || code === 'EIO' || code === 'EINVAL') return new EpdmaError(code, `mapSealedFile ${path}: ${message}`);
  return new EpdmaError('ENODEV', `mapSealedFile ${path}: ${message}`);
}

/**
 * Publisher side of two-process mode: memory no other process can shrink under a mapping (a
 * shrunk file turns every access past its new end into SIGBUS). Returns the buffer and the
 * descriptor that keeps it reachable as /proc/<pid>/fd/<fd>; EOPNOTSUPP without the addon.
 */
export function createSealedMemory(name: string, bytes: number): { buffer: SharedArrayBuffer; fd: number; path: string } {
  const addon = requireAddon(`createSealedMemory ${name}`);
  let made: { buffer: SharedArrayBuffer; fd: number };
  try {
    made = addon.createSealed(name, bytes);
  } catch (err) {
    throw new EpdmaError('ENOMEM', `createSealedMemory ${name} (${bytes} bytes): ${err instanceof Error ? err.message : String(err)}`);
  }
  return { ...made, path: `/proc/${process.pid}/fd/${made.fd}` };
}

/**
 * Reader side: maps `bytes` of the published file at `path` only if nobody can shrink it (EPERM
 * otherwise, EIO when it is shorter than `bytes`, ENODEV when it cannot be opened: the
 * publisher is gone or withdrew it). EOPNOTSUPP without the addon.
 */
export function mapSealedFile(path: string, bytes: number): SharedArrayBuffer {
  const addon = requireAddon(`mapSealedFile ${path}`);
  try {
    return addon.mapSealed(path, bytes);
  } catch (err) {
    throw sealedMappingError(path, err);
  }
}

/**
 * Longest single native futex wait. A thread blocked inside a native call cannot be terminated
 * (worker.terminate() and process exit wait for it), so long waits are cut into slices and
 * termination takes effect between two slices. An idle waiter costs one wakeup per slice.
 */
const WAIT_SLICE_MS = 100;

function slicedFutexWait(
  addon: NativeAddon,
  view: Int32Array,
  index: number,
  expected: number,
  timeoutMs: number,
): WaitResult {
  if (timeoutMs >= 0 && timeoutMs <= WAIT_SLICE_MS) {
    return addon.futexWait(view, index, expected, timeoutMs);
  }
  const deadline = timeoutMs < 0 ? Infinity : performance.now() + timeoutMs;
  for (;;) {
    const left = deadline - performance.now();
    if (left <= 0) return 'timed-out';
    const result = addon.futexWait(view, index, expected, Math.min(left, WAIT_SLICE_MS));
    if (result !== 'timed-out') return result;
  }
}

/**
 * Blocks the calling thread while `view[index] === expected`, like Atomics.wait: 'ok' when woken
 * (callers re-check their condition: a wake is a hint, not a guarantee), 'not-equal' when the
 * word already differs, 'timed-out'. timeoutMs < 0 waits forever. Meant for worker threads.
 *
 * With the addon this is a shared futex and crossProcessWake from ANOTHER PROCESS wakes it (the
 * view must then lie in memory from mapSharedFile). Without the addon it is Atomics.wait, which
 * only other threads of THIS process can wake. Pair it only with crossProcessWake: a futex wake
 * does not reach Atomics.wait waiters and Atomics.notify does not reach futex waiters.
 */
export function crossProcessWait(
  view: Int32Array,
  index: number,
  expected: number,
  timeoutMs: number,
): WaitResult {
  const addon = loadNativeAddon();
  if (addon !== null) return slicedFutexWait(addon, view, index, expected, timeoutMs);
  return Atomics.wait(view, index, expected, timeoutMs < 0 ? Infinity : timeoutMs);
}

/**
 * Wakes up to `count` (default: all) threads blocked in crossProcessWait on `view[index]` and
 * returns how many woke. Store the new value (Atomics.store) before waking. Crosses processes
 * only with the addon (futex); the fallback is Atomics.notify, in-process only.
 */
export function crossProcessWake(view: Int32Array, index: number, count = Infinity): number {
  const addon = loadNativeAddon();
  if (addon !== null) return addon.futexWake(view, index, count);
  return Atomics.notify(view, index, count);
}
