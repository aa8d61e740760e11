/**
 * Who is alive across the files, as state machines on a control block: HostWatch (endpoint
 * side) drops a host only when the process it recorded is gone, or when that host said goodbye
 * and its heartbeat stopped, never because of what one word says; EndpointWatch (host side)
 * reports channel resets, a silent endpoint and withdrawn files; claimHostSlot (host side) waits
 * for the endpoint to free the slot (BACKOFF.hostSlotRelease). Timers and the clock are fake,
 * except where a real wait is under test.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { claimHostSlot, EndpointWatch, HOST_HEARTBEAT_MS, HOST_HEARTBEAT_STALL_MS, HostWatch, processStartTime } from '../../dist/api/two-process/liveness.js';
import { CONTROL_BYTES, CTL } from '../../dist/api/two-process/shm-layout.js';

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'performance'] });
});
afterEach(() => {
  vi.useRealTimers();
});

function hostWatch(ctl: Int32Array) {
  const seen = { attached: [] as number[], gone: [] as [number, string][], bogus: [] as number[] };
  const watch = new HostWatch(ctl, {
    onAttached: (pid) => seen.attached.push(pid),
    onGone: async (pid, how) => {
      seen.gone.push([pid, how]);
    },
    onBogusSlot: (word) => seen.bogus.push(word),
  });
  return { seen, watch };
}

/** Lets the watch's onGone promise settle (the slot is freed after it). */
const settle = (): Promise<void> => Promise.resolve().then(() => undefined);

describe('HostWatch (endpoint side)', () => {
  it('no sequence of words written into the host slot drops a live host whose heartbeat runs', async () => {
    await fc.assert(fc.asyncProperty(fc.array(fc.oneof(fc.integer(), fc.constant(-process.pid), fc.constant(0), fc.constant(0x7fff_fff0)), { minLength: 1, maxLength: 40 }), async (words) => {
      const ctl = new Int32Array(new SharedArrayBuffer(CONTROL_BYTES));
      Atomics.store(ctl, CTL.HOST_PID, process.pid);
      const { seen, watch } = hostWatch(ctl);
      try {
        vi.advanceTimersByTime(20);
        expect(seen.attached).toEqual([process.pid]);
        for (const w of words) {
          Atomics.store(ctl, CTL.HOST_PID, w);
          for (let t = 0; t < HOST_HEARTBEAT_STALL_MS * 2; t += HOST_HEARTBEAT_MS) {
            Atomics.add(ctl, CTL.HOST_HEARTBEAT, 1);
            vi.advanceTimersByTime(HOST_HEARTBEAT_MS);
          }
          await settle();
        }
        expect(seen.gone).toEqual([]);
        expect(seen.bogus.length).toBeLessThanOrEqual(1);
      } finally {
        watch.stop();
      }
    }), { numRuns: 25 });
  });

  it('the recorded host saying goodbye (-pid) is detached once its heartbeat stops, and the slot is freed', async () => {
    const ctl = new Int32Array(new SharedArrayBuffer(CONTROL_BYTES));
    Atomics.store(ctl, CTL.HOST_PID, process.pid);
    const { seen, watch } = hostWatch(ctl);
    try {
      vi.advanceTimersByTime(20);
      Atomics.store(ctl, CTL.HOST_PID, -process.pid);
      vi.advanceTimersByTime(HOST_HEARTBEAT_STALL_MS - 40);
      expect(seen.gone).toEqual([]);
      vi.advanceTimersByTime(60);
      expect(seen.gone).toEqual([[process.pid, 'detached']]);
      await settle();
      await settle();
      expect(Atomics.load(ctl, CTL.HOST_PID)).toBe(0);
      vi.advanceTimersByTime(200);
      expect(seen.gone).toHaveLength(1);
    } finally {
      watch.stop();
    }
  });

  it('a host process that died is gone at once, whatever the word says', async () => {
    vi.useRealTimers();
    const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    try {
      const pid = child.pid!;
      await vi.waitFor(() => expect(processStartTime(pid)).toBeTypeOf('number'));
      vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'performance'] });
      const ctl = new Int32Array(new SharedArrayBuffer(CONTROL_BYTES));
      Atomics.store(ctl, CTL.HOST_PID, pid);
      const { seen, watch } = hostWatch(ctl);
      try {
        vi.advanceTimersByTime(20);
        expect(seen.attached).toEqual([pid]);
        child.kill('SIGKILL');
        await exited;
        // The heartbeat "runs" (someone bumps the word): the process record decides.
        Atomics.add(ctl, CTL.HOST_HEARTBEAT, 1);
        vi.advanceTimersByTime(20);
        expect(seen.gone).toEqual([[pid, 'died']]);
      } finally {
        watch.stop();
      }
    } finally {
      child.kill('SIGKILL');
    }
  });
});

describe('EndpointWatch (host side)', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'epdma-liveness-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  function endpointWatch(stallMs: number) {
    const ctl = new Int32Array(new SharedArrayBuffer(CONTROL_BYTES));
    Atomics.store(ctl, CTL.EP_PID, process.pid);
    Atomics.store(ctl, CTL.EP_GENERATION, 3);
    Atomics.store(ctl, CTL.EP_STATE, 1);
    const manifestPath = join(dir, 'device.json');
    writeFileSync(manifestPath, '{}');
    const seen = { dead: [] as string[], resets: [] as number[] };
    const watch = new EndpointWatch(ctl, { pid: process.pid, generation: 3, manifestPath, stallMs }, {
      onDead: (why) => seen.dead.push(why),
      onReset: (n) => seen.resets.push(n),
    });
    return { ctl, seen, watch, manifestPath };
  }

  it('reports each reset of the delegated channels, and a heartbeat that stands still for stallMs as death, once', () => {
    const { ctl, seen, watch } = endpointWatch(500);
    try {
      for (let t = 0; t < 2000; t += 50) {
        Atomics.add(ctl, CTL.EP_HEARTBEAT, 1);
        if (t === 500 || t === 1000) Atomics.add(ctl, CTL.EP_RESETS, 1);
        vi.advanceTimersByTime(50);
      }
      expect(seen).toEqual({ dead: [], resets: [1, 2] });
      vi.advanceTimersByTime(450);
      expect(seen.dead).toEqual([]);
      vi.advanceTimersByTime(100);
      expect(seen.dead).toHaveLength(1);
      expect(seen.dead[0]).toMatch(new RegExp(`endpoint process ${process.pid} stopped responding \\(no heartbeat for \\d+ ms\\)`));
      vi.advanceTimersByTime(1000);
      expect(seen.dead).toHaveLength(1);
    } finally {
      watch.stop();
    }
  });

  it('withdrawn files and a replaced endpoint end it with the reason', () => {
    const a = endpointWatch(10_000);
    try {
      rmSync(a.manifestPath);
      vi.advanceTimersByTime(50);
      expect(a.seen.dead).toEqual([`endpoint process ${process.pid} withdrew ${a.manifestPath}`]);
    } finally {
      a.watch.stop();
    }
    const b = endpointWatch(10_000);
    try {
      Atomics.store(b.ctl, CTL.EP_GENERATION, 4);
      vi.advanceTimersByTime(50);
      expect(b.seen.dead).toEqual([`endpoint process ${process.pid} was replaced`]);
    } finally {
      b.watch.stop();
    }
  });
});

describe('claimHostSlot (host side)', () => {
  beforeEach(() => {
    vi.useRealTimers(); // a real wait: its parks and deadline run on the real clock
  });

  const LEAVING = -0x7fff_0001; // a previous host's "leaving" word (-pid)
  const slot = (word: number): Int32Array => {
    const ctl = new Int32Array(new SharedArrayBuffer(CONTROL_BYTES));
    Atomics.store(ctl, CTL.HOST_PID, word);
    return ctl;
  };

  it('takes a free slot at once', async () => {
    const ctl = slot(0);
    await claimHostSlot(ctl, { dir: '/dev/shm/x', timeoutMs: 0, endpointAlive: () => true });
    expect(Atomics.load(ctl, CTL.HOST_PID)).toBe(process.pid);
  });

  it('EBUSY for a live host in the slot, and for a second host of this process', async () => {
    await expect(claimHostSlot(slot(process.ppid), { dir: 'd', timeoutMs: 1000, endpointAlive: () => true }))
      .rejects.toThrow(`EBUSY: openHost: host process ${process.ppid} is attached to d; one host at a time`);
    await expect(claimHostSlot(slot(process.pid), { dir: 'd', timeoutMs: 1000, endpointAlive: () => true }))
      .rejects.toThrow(`EBUSY: openHost: this process (${process.pid}) already has a host open on d`);
  });

  it('waits while the endpoint cleans up after the previous host, and takes the slot once it is freed', async () => {
    const ctl = slot(LEAVING);
    const order: string[] = [];
    let finishCleanup!: () => void;
    const cleanup = new Promise<void>((resolve) => (finishCleanup = resolve));
    const watch = new HostWatch(ctl, {
      onAttached: (pid) => order.push(`attached ${pid}`),
      onGone: async (pid, how) => {
        order.push(`gone ${pid} ${how}`);
        await cleanup;
      },
    }, 5);
    try {
      const claimed = claimHostSlot(ctl, { dir: 'd', timeoutMs: 60_000, endpointAlive: () => true }).then(() => order.push('claimed'));
      await vi.waitFor(() => expect(order).toEqual([`gone ${-LEAVING} detached`]));
      // The endpoint has not freed the slot yet: the previous host's word is still there.
      expect(Atomics.load(ctl, CTL.HOST_PID)).toBe(LEAVING);
      finishCleanup();
      await claimed;
      expect(Atomics.load(ctl, CTL.HOST_PID)).toBe(process.pid);
      // The watch then records this host; the claim came strictly after the cleanup.
      await vi.waitFor(() => expect(order).toEqual([`gone ${-LEAVING} detached`, 'claimed', `attached ${process.pid}`]));
    } finally {
      watch.stop();
    }
  });

  it('ENODEV once the endpoint is gone while the slot is still held', async () => {
    let checks = 0;
    await expect(claimHostSlot(slot(LEAVING), { dir: 'd', timeoutMs: 60_000, endpointAlive: () => ++checks < 3 }))
      .rejects.toThrow('ENODEV: openHost: the endpoint process of d is not running');
    expect(checks).toBe(3);
  });

  it('ETIMEDOUT naming the directory when the endpoint never frees the slot', async () => {
    const ctl = slot(LEAVING);
    await expect(claimHostSlot(ctl, { dir: '/dev/shm/epdma-x', timeoutMs: 15, endpointAlive: () => true }))
      .rejects.toThrow('ETIMEDOUT: openHost: waiting for the endpoint of /dev/shm/epdma-x to release the previous host: not within 15 ms');
    expect(Atomics.load(ctl, CTL.HOST_PID)).toBe(LEAVING);
  });
});
