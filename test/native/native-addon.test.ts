import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import {
  NATIVE_ADDON_PATH,
  crossProcessWait,
  crossProcessWake,
  crossProcessWakeupsAvailable,
  loadNativeAddon,
  mapSharedFile,
  nativeAddonUnavailableReason,
} from '../../dist/native/native-addon.js';
import {
  FALLBACK_FIXTURE,
  LOADER_URL,
  cleanupNativeTestResources,
  makeShmDir,
  procSyscallReadable,
  runFixture,
  startPeer,
  titleNeedingProcSyscall,
  waitUntilBlockedInSharedFutexWait,
} from './native-test-support.js';
import { nativeAddonOrReport } from '../support/native-gate.js';
import { within } from '../support/wait.js';

const addon = nativeAddonOrReport('native addon loader');
const canSeeBlockedWaiters = procSyscallReadable();

afterEach(cleanupNativeTestResources);


describe('in-process fallback (EPDMA_NO_NATIVE=1 in a child process)', () => {
  it('loadNativeAddon() is null with the reason, and wait/wake still work between threads', async () => {
    const env = { ...process.env, EPDMA_NO_NATIVE: '1' };
    const out = await runFixture(FALLBACK_FIXTURE, [LOADER_URL], { env });
    const report = JSON.parse(out.trim());
    expect(report).toMatchObject({
      env: '1',
      addonIsNull: true,
      crossProcessWakeupsAvailable: false,
      notEqual: 'not-equal',
      timedOut: 'timed-out',
      wakeWoken: 1,
      worker: { result: 'ok', addonIsNull: true },
    });
    expect(report.reason).toContain('EPDMA_NO_NATIVE=1');
    expect(report.mapError).toMatchObject({ name: 'EpdmaError', code: 'EOPNOTSUPP' });
    expect(report.mapError.message).toContain('EPDMA_NO_NATIVE=1');
  });
});

describe.skipIf(!addon)('native addon loader', () => {
  it('loads build/Release/epdma_native.node once and remembers it', () => {
    expect(NATIVE_ADDON_PATH.endsWith(join('build', 'Release', 'epdma_native.node'))).toBe(true);
    expect(existsSync(NATIVE_ADDON_PATH)).toBe(true);
    expect(loadNativeAddon()).toBe(addon);
    expect(nativeAddonUnavailableReason()).toBeUndefined();
    expect(crossProcessWakeupsAvailable()).toBe(true);
    expect(addon?.maxMapBytes).toBe(2 ** 40);
  });

  it('mapSharedFile maps through the addon and passes its errno errors through', () => {
    const dir = makeShmDir();
    const sab = mapSharedFile(join(dir, 'bar2'), 8192);
    expect(sab.byteLength).toBe(8192);
    expect(() => mapSharedFile(join(dir, 'missing', 'bar2'), 8192)).toThrow(
      expect.objectContaining({ code: 'ENOENT', message: expect.stringContaining(join(dir, 'missing', 'bar2')) }),
    );
  });

  it('crossProcessWait reports not-equal and timed-out, also past one wait slice', () => {
    const words = new Int32Array(mapSharedFile(join(makeShmDir(), 'w'), 4096));
    expect(crossProcessWait(words, 0, 1, 60_000)).toBe('not-equal');
    expect(crossProcessWait(words, 0, 0, 5)).toBe('timed-out');
    expect(crossProcessWait(words, 0, 0, 250)).toBe('timed-out');
    expect(crossProcessWake(words, 0)).toBe(0);
  });

  it('crossProcessWait in the parent is woken by a futex wake from another process', async () => {
    const path = join(makeShmDir(), 'doorbell');
    const words = new Int32Array(mapSharedFile(path, 4096));
    const peer = await startPeer(NATIVE_ADDON_PATH);
    await peer.callOk({ op: 'map', path, bytes: 4096 });
    const waker = peer.callOk({ op: 'wakeUntilWoken', index: 2 });
    // Longer than one slice, so a wake in a later slice is what ends it.
    expect(crossProcessWait(words, 2, 0, 20_000)).toBe('ok');
    expect((await waker).woken).toBe(1);
  });

  // Terminating before the worker is inside the native wait would prove nothing, and only
  // /proc/<pid>/task/<tid>/syscall shows that it is.
  it.skipIf(!canSeeBlockedWaiters)(titleNeedingProcSyscall('a worker blocked in a long crossProcessWait can still be terminated'), async () => {
    const words = new Int32Array(new SharedArrayBuffer(8));
    const worker = new Worker(
      `const { parentPort, workerData } = require('node:worker_threads');
       import(${JSON.stringify(LOADER_URL)}).then((m) => {
         parentPort.postMessage('waiting');
         m.crossProcessWait(new Int32Array(workerData), 0, 0, 120000);
         parentPort.postMessage('returned');
       });`,
      { eval: true, workerData: words.buffer },
    );
    const messages: string[] = [];
    worker.on('message', (m: string) => messages.push(m));
    await new Promise((resolve) => worker.once('message', resolve));
    await waitUntilBlockedInSharedFutexWait(process.pid, true);
    // Without slicing, terminate() would wait for the native wait (120 s) to return.
    await within(worker.terminate(), 'terminate() of a worker in the native wait');
    expect(messages).toEqual(['waiting']);
  });
});
