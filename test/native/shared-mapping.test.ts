import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  NATIVE_ADDON_PATH,
  type NativeAddon,
} from '../../dist/native/native-addon.js';
import {
  UNMAP_FIXTURE,
  cleanupNativeTestResources,
  makeShmDir,
  patternBytes,
  runFixture,
  startPeer,
} from './native-test-support.js';
import { nativeAddonOrReport } from '../support/native-gate.js';

const addon = nativeAddonOrReport('mapShared');
/** The overflow uid/gid ("nobody"): an id that owns nothing here. */
const NOBODY = 65534;
const native = addon as NativeAddon;

afterEach(cleanupNativeTestResources);


function errorOf(fn: () => unknown): NodeJS.ErrnoException {
  try {
    fn();
  } catch (err) {
    return err as NodeJS.ErrnoException;
  }
  throw new Error('expected an error');
}

describe.skipIf(!addon)('mapShared: one file, two processes', () => {
  it('a child sees the parent writes and the parent sees the child writes', async () => {
    const path = join(makeShmDir(), 'bar0');
    const mine = new Uint8Array(native.mapShared(path, 64 * 1024));
    const peer = await startPeer(NATIVE_ADDON_PATH);
    expect(await peer.callOk({ op: 'map', path, bytes: 64 * 1024 })).toEqual({ byteLength: 65536 });

    await peer.callOk({ op: 'fill', offset: 4096, length: 8192, seed: 3 });
    expect(Buffer.from(mine.subarray(4096, 4096 + 8192))).toEqual(patternBytes(8192, 3));
    expect(mine[4095]).toBe(0);
    expect(mine[4096 + 8192]).toBe(0);

    mine.set(patternBytes(1000, 9), 50_000);
    const seen = await peer.callOk({ op: 'read', offset: 50_000, length: 1000 });
    expect(Buffer.from(seen.base64 as string, 'base64')).toEqual(patternBytes(1000, 9));
  });

  it('a larger mapping in the child grows the file; the parent remaps and sees the new tail', async () => {
    const path = join(makeShmDir(), 'mem');
    const small = new Uint8Array(native.mapShared(path, 8192));
    small[0] = 0x5a;
    const peer = await startPeer(NATIVE_ADDON_PATH);
    await peer.callOk({ op: 'map', path, bytes: 3 * 8192 });
    expect(statSync(path).size).toBe(3 * 8192);
    await peer.callOk({ op: 'fill', offset: 2 * 8192, length: 8192, seed: 5 });

    const large = new Uint8Array(native.mapShared(path, 3 * 8192));
    expect(large[0]).toBe(0x5a);
    expect(Buffer.from(large.subarray(2 * 8192))).toEqual(patternBytes(8192, 5));
    expect(small.length).toBe(8192);
  });
});

describe.skipIf(!addon)('mapShared: sizing', () => {
  it('creates a missing file at the requested size before mapping, so the last byte is usable', () => {
    const path = join(makeShmDir(), 'fresh');
    const sab = native.mapShared(path, 10_000);
    expect(sab).toBeInstanceOf(SharedArrayBuffer);
    expect(sab.byteLength).toBe(10_000);
    expect(statSync(path).size).toBe(10_000);
    new Uint8Array(sab)[9999] = 0xa5;
    expect(readFileSync(path)[9999]).toBe(0xa5);
  });

  it('grows a smaller existing file and keeps its contents', () => {
    const path = join(makeShmDir(), 'existing');
    writeFileSync(path, patternBytes(100, 1));
    const bytes = new Uint8Array(native.mapShared(path, 8192));
    expect(statSync(path).size).toBe(8192);
    expect(Buffer.from(bytes.subarray(0, 100))).toEqual(patternBytes(100, 1));
    expect(bytes.subarray(100).every((b) => b === 0)).toBe(true);
  });

  it('never shrinks a larger file: a smaller mapping is a prefix of it', () => {
    const path = join(makeShmDir(), 'big');
    const big = new Uint8Array(native.mapShared(path, 65_536));
    const prefix = new Uint8Array(native.mapShared(path, 4096));
    expect(statSync(path).size).toBe(65_536);
    expect(prefix.length).toBe(4096);
    prefix[4095] = 7;
    expect(big[4095]).toBe(7);
    big[65_535] = 9;
    expect(readFileSync(path)[65_535]).toBe(9);
  });
});

describe.skipIf(!addon)('mapShared: errors carry the errno code and the path', () => {
  it('ENOENT when the directory does not exist', () => {
    const path = join(makeShmDir(), 'no-such-dir', 'bar0');
    const err = errorOf(() => native.mapShared(path, 4096));
    expect(err.code).toBe('ENOENT');
    expect(err.syscall).toBe('open');
    expect(err.path).toBe(path);
    expect(err.message).toContain(path);
  });

  it.each([
    ['0', 0],
    ['2^40 + 1', 2 ** 40 + 1],
    ['2^41', 2 ** 41],
    ['-1', -1],
    ['1.5', 1.5],
  ])('EINVAL for size %s, and no file is created', (_label, size) => {
    const path = join(makeShmDir(), 'sized');
    const err = errorOf(() => native.mapShared(path, size));
    expect(err.code).toBe('EINVAL');
    expect(err.message).toContain(path);
    expect(() => statSync(path)).toThrow(/ENOENT/);
  });

  it('EINVAL for a relative path, TypeError with EINVAL for arguments of the wrong type', () => {
    const rel = errorOf(() => native.mapShared('relative/bar0', 4096));
    expect(rel.code).toBe('EINVAL');
    expect(rel.message).toContain('relative/bar0');
    const wrong = errorOf(() => (native.mapShared as (p: unknown, b: unknown) => unknown)(42, 4096));
    expect(wrong).toBeInstanceOf(TypeError);
    expect(wrong.code).toBe('EINVAL');
  });

  it('EACCES where the caller may not create the file', async () => {
    const dir = makeShmDir(); // mkdtemp: 0700, owned by whoever runs the tests
    const path = join(dir, 'bar0');
    if (process.getuid?.() === 0) {
      // Root bypasses permission checks, so the peer (loaded as root, wherever the checkout
      // lives) makes this one call with its effective ids switched to nobody's.
      const peer = await startPeer(NATIVE_ADDON_PATH);
      const reply = await peer.call({ op: 'mapAs', uid: NOBODY, gid: NOBODY, path, bytes: 4096 });
      expect(reply).toMatchObject({ euid: NOBODY, egid: NOBODY });
      expect(reply.error?.code).toBe('EACCES');
      expect(reply.error?.message).toContain(path);
    } else {
      chmodSync(dir, 0o500);
      let err: NodeJS.ErrnoException;
      try {
        err = errorOf(() => native.mapShared(path, 4096));
      } finally {
        chmodSync(dir, 0o700);
      }
      expect(err.code).toBe('EACCES');
      expect(err.message).toContain(path);
    }
    expect(() => statSync(path)).toThrow(/ENOENT/); // nothing was created
  });
});

describe.skipIf(!addon)('mapShared: lifetime', () => {
  it('stays mapped while a worker holds the buffer after the main thread dropped it, unmaps after', async () => {
    const path = join(makeShmDir(), 'lifetime');
    const out = await runFixture(UNMAP_FIXTURE, [NATIVE_ADDON_PATH, path], { execArgv: ['--expose-gc'] });
    const report = JSON.parse(out.trim()) as Record<string, number | boolean>;
    // The control mapping, dropped at the same moment, was unmapped by the GC rounds...
    expect(report.controlGcRoundsToUnmap).toBeGreaterThan(0);
    // ...and this one survived them and holdGcRounds more: the worker's reference kept it.
    expect(report.mappedAtStart).toBe(true);
    expect(report.workerSaw).toBe(42);
    expect(report.mappedWhileWorkerHolds).toBe(true);
    expect(report.gcRoundsToUnmap).toBeGreaterThan(0);
    expect([...readFileSync(path).subarray(0, 2)]).toEqual([42, 99]);
  });
});
