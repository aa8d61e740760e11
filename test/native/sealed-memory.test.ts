/**
 * Sealed shared memory (two-process mode's backing): createSealed makes a memfd nobody can
 * shrink, another process maps the very same file through /proc/<pid>/fd/<fd>, and mapSealed
 * refuses any backing that could be shrunk under a mapping (the SIGBUS a hostile endpoint could
 * otherwise cause), or that is too short.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, ftruncateSync, openSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EpdmaError } from '../../dist/device/errors.js';
import { createSealedMemory, loadNativeAddon, mapSealedFile, NATIVE_ADDON_PATH, nativeAddonUnavailableReason } from '../../dist/native/native-addon.js';
import { cleanupNativeTestResources, envWithNative, makeShmDir, patternBytes } from './native-test-support.js';

const addon = loadNativeAddon();
const fds: number[] = [];
afterEach(() => {
  for (const fd of fds.splice(0)) closeSync(fd);
  cleanupNativeTestResources();
});

function sealed(bytes: number): ReturnType<typeof createSealedMemory> {
  const made = createSealedMemory('epdma-test', bytes);
  fds.push(made.fd);
  return made;
}

function errorOf(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('did not throw');
}

/** What another process sees: maps `path`, writes a pattern, tries to shrink it, reports. */
const PEER = `
const a = require(process.argv[1]);
const fs = require('fs');
const [path, bytes, seed] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])];
const view = new Uint8Array(a.mapSealed(path, bytes));
const seen = Buffer.from(view.subarray(0, 16)).toString('hex');
for (let i = 0; i < bytes; i++) view[i] = (i * 31 + seed * 7 + (i >>> 8)) & 0xff;
let shrink = 'allowed';
try { fs.truncateSync(path, 0); } catch (e) { shrink = e.code; }
process.stdout.write(JSON.stringify({ seen, shrink, last: view[bytes - 1] }));
`;

describe.skipIf(addon === null)(`sealed shared memory${addon === null ? ` (skipped: ${nativeAddonUnavailableReason()})` : ''}`, () => {
  it('another process maps the same memfd through /proc/<pid>/fd/<fd>: both see every byte, and it cannot shrink it', () => {
    const bytes = 64 * 1024;
    const mem = sealed(bytes);
    expect(mem.path).toBe(`/proc/${process.pid}/fd/${mem.fd}`);
    const mine = new Uint8Array(mem.buffer);
    expect(mine.length).toBe(bytes);
    mine.set(patternBytes(16, 9));
    const r = spawnSync(process.execPath, ['-e', PEER, NATIVE_ADDON_PATH, mem.path, String(bytes), '5'], { env: envWithNative(), encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as { seen: string; shrink: string; last: number };
    expect(report.seen).toBe(patternBytes(16, 9).toString('hex'));
    expect(report.shrink).toBe('EPERM');
    expect(Buffer.compare(Buffer.from(mine), patternBytes(bytes, 5))).toBe(0);
    expect(report.last).toBe(patternBytes(bytes, 5)[bytes - 1]);
  });

  it('the seals hold against every way of changing the size: truncate through a link, ftruncate of a fresh descriptor', () => {
    const mem = sealed(8192);
    const dir = makeShmDir();
    const link = join(dir, 'regs.mem');
    symlinkSync(mem.path, link);
    expect((errorOf(() => truncateSync(link, 0)) as NodeJS.ErrnoException).code).toBe('EPERM');
    expect((errorOf(() => truncateSync(link, 4096)) as NodeJS.ErrnoException).code).toBe('EPERM');
    expect((errorOf(() => truncateSync(link, 16384)) as NodeJS.ErrnoException).code).toBe('EPERM'); // F_SEAL_GROW
    const fd = openSync(link, 'r+');
    try {
      expect((errorOf(() => ftruncateSync(fd, 0)) as NodeJS.ErrnoException).code).toBe('EPERM');
    } finally {
      closeSync(fd);
    }
    // Still whole, still mapped: a read at the very end is fine.
    const view = new Uint8Array(mapSealedFile(link, 8192));
    view[8191] = 0x5a;
    expect(new Uint8Array(mem.buffer)[8191]).toBe(0x5a);
  });

  it('refuses a plain file (shrinkable) with EPERM, a short one with EIO, a missing one with ENODEV, a size out of range with EINVAL', () => {
    const dir = makeShmDir();
    const plain = join(dir, 'plain.mem');
    writeFileSync(plain, Buffer.alloc(8192));
    const notSealed = errorOf(() => mapSealedFile(plain, 8192));
    expect(notSealed).toBeInstanceOf(EpdmaError);
    expect(notSealed).toMatchObject({ code: 'EPERM' });
    expect((notSealed as Error).message).toMatch(/not sealed against shrinking/);
    expect((notSealed as Error).message).toContain(plain);

    const mem = sealed(4096);
    const short = errorOf(() => mapSealedFile(mem.path, 8192));
    expect(short).toMatchObject({ code: 'EIO' });
    expect((short as Error).message).toMatch(/holds 4096 bytes, 8192 needed/);

    expect(errorOf(() => mapSealedFile(join(dir, 'missing.mem'), 4096))).toMatchObject({ code: 'ENODEV' });
    expect(errorOf(() => mapSealedFile(mem.path, 0))).toMatchObject({ code: 'EINVAL' });
    expect(errorOf(() => mapSealedFile('relative/path', 4096))).toMatchObject({ code: 'EINVAL' });
    // A FIFO or a directory is not memory either.
    expect(errorOf(() => mapSealedFile(dir, 4096))).toBeInstanceOf(EpdmaError);
  });
});
