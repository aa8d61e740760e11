import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  NATIVE_ADDON_PATH,
  type NativeAddon,
} from '../../dist/native/native-addon.js';
import {
  blockedInSharedFutexWait,
  cleanupNativeTestResources,
  makeShmDir,
  procSyscallReadable,
  startPeer,
  titleNeedingProcSyscall,
  waitUntilBlockedInSharedFutexWait,
  type ShmPeer,
} from './native-test-support.js';
import { nativeAddonOrReport } from '../support/native-gate.js';
import { WAIT_DEADLINE_MS } from '../support/wait.js';

const addon = nativeAddonOrReport('futex');
const native = addon as NativeAddon;
const canSeeBlockedWaiters = procSyscallReadable();

afterEach(cleanupNativeTestResources);


/** The parent's view of a fresh mapped file, and a peer process mapping the same file. */
async function sharedWords(peers = 1): Promise<{ words: Int32Array; peers: ShmPeer[] }> {
  const path = join(makeShmDir(), 'doorbells');
  const words = new Int32Array(native.mapShared(path, 4096));
  const started: ShmPeer[] = [];
  for (let i = 0; i < peers; i++) {
    const peer = await startPeer(NATIVE_ADDON_PATH);
    await peer.callOk({ op: 'map', path, bytes: 4096 });
    started.push(peer);
  }
  return { words, peers: started };
}

describe.skipIf(!addon)('futexWait / futexWake in one process', () => {
  it("returns 'not-equal' at once when the word differs, 'timed-out' when nobody wakes", () => {
    const words = new Int32Array(native.mapShared(join(makeShmDir(), 'w'), 4096));
    Atomics.store(words, 1, 5);
    expect(native.futexWait(words, 1, 4, 10_000)).toBe('not-equal');
    expect(native.futexWait(words, 1, 5, 20)).toBe('timed-out');
    expect(native.futexWait(words, 1, 5, 0)).toBe('timed-out');
    expect(native.futexWake(words, 1, 1)).toBe(0);
  });

  it('compares the expected value as int32, like Atomics.wait', () => {
    const words = new Int32Array(new SharedArrayBuffer(16));
    Atomics.store(words, 0, -1);
    expect(native.futexWait(words, 0, 0xffff_ffff, 5)).toBe('timed-out');
    expect(native.futexWait(words, 0, 0, 5)).toBe('not-equal');
  });

  it('rejects views that are not a shared Int32Array and indexes out of range', () => {
    const shared = new Int32Array(new SharedArrayBuffer(16));
    const cases: Array<[() => unknown, ErrorConstructor]> = [
      [() => native.futexWait(new Int32Array(4), 0, 0, 0), TypeError],
      [() => native.futexWake(new Int32Array(4), 0, 1), TypeError],
      [() => native.futexWait(new Uint32Array(new SharedArrayBuffer(16)) as unknown as Int32Array, 0, 0, 0), TypeError],
      [() => native.futexWait(shared, 4, 0, 0), RangeError],
      [() => native.futexWake(shared, -1, 1), RangeError],
      [() => native.futexWait(shared, 1.5, 0, 0), RangeError],
      [() => native.futexWait(shared, 0, 0, Number.NaN), RangeError],
    ];
    for (const [call, type] of cases) {
      let caught: unknown;
      try {
        call();
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(type);
      expect((caught as NodeJS.ErrnoException).code).toBe('EINVAL');
    }
  });
});

describe.skipIf(!addon)('futex across processes', () => {
  it.skipIf(!canSeeBlockedWaiters)(
    titleNeedingProcSyscall("a child blocked on a word is woken by the parent's store + wake and reports 'ok'"),
    async () => {
      const { words, peers } = await sharedWords();
      const [child] = peers as [ShmPeer];
      const waited = child.callOk({ op: 'wait', index: 3, expected: 0, timeoutMs: 20_000 });
      await waitUntilBlockedInSharedFutexWait(child.pid);
      Atomics.store(words, 3, 1);
      expect(native.futexWake(words, 3, 1)).toBe(1);
      expect(await waited).toEqual({ result: 'ok', value: 1 });
    },
  );

  it("a wake from the parent reaches the child's wait (wake count proves the child was waiting)", async () => {
    const { words, peers } = await sharedWords();
    const [child] = peers as [ShmPeer];
    const waited = child.callOk({ op: 'wait', index: 5, expected: 0, timeoutMs: 20_000 });
    // Wake one waiter until one wakes: whoever gets there first, the count proves a waiter.
    await expect.poll(() => native.futexWake(words, 5, 1), { timeout: WAIT_DEADLINE_MS, interval: 2 }).toBe(1);
    expect(await waited).toEqual({ result: 'ok', value: 0 });
  });

  it("a wake from the child reaches the parent's wait", async () => {
    const { words, peers } = await sharedWords();
    const [child] = peers as [ShmPeer];
    // The child retries until a waiter wakes, so it does not matter who gets there first.
    const waker = child.callOk({ op: 'wakeUntilWoken', index: 7 });
    expect(native.futexWait(words, 7, 0, 20_000)).toBe('ok');
    expect((await waker).woken).toBe(1);
  });

  it.skipIf(!canSeeBlockedWaiters)(titleNeedingProcSyscall('wakes exactly `count` of two waiting processes'), async () => {
    const { words, peers } = await sharedWords(2);
    const replies = peers.map((peer) => peer.callOk({ op: 'wait', index: 9, expected: 0, timeoutMs: 20_000 }));
    for (const peer of peers) await waitUntilBlockedInSharedFutexWait(peer.pid);

    expect(native.futexWake(words, 9, 1)).toBe(1);
    const first = await Promise.race(replies.map((reply, i) => reply.then(() => i)));
    expect(await replies[first]).toEqual({ result: 'ok', value: 0 });
    const other = 1 - first;
    expect(blockedInSharedFutexWait((peers[other] as ShmPeer).pid)).toBe(true);

    expect(native.futexWake(words, 9, Infinity)).toBe(1);
    expect(await replies[other]).toEqual({ result: 'ok', value: 0 });
  });

  it("a child's own wait on the mapped word times out or sees a different value", async () => {
    const { words, peers } = await sharedWords();
    const [child] = peers as [ShmPeer];
    Atomics.store(words, 11, 42);
    expect(await child.callOk({ op: 'wait', index: 11, expected: 41, timeoutMs: 10_000 })).toEqual({
      result: 'not-equal',
      value: 42,
    });
    expect(await child.callOk({ op: 'wait', index: 11, expected: 42, timeoutMs: 10 })).toEqual({
      result: 'timed-out',
      value: 42,
    });
  });
});
