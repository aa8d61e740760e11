import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { lastValueFrom, type Subscription } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { openHost, type OpenedHost } from '../../dist/api/two-process/open-host.js';
import { attachTestbed } from '../../dist/api/two-process/attach.js';
import { loadTest } from '../../dist/api/loadtest/loadtest.js';
import type { Completion, RuntimeEvent } from '../../dist/api/types.js';
import {
  CLI, cleanup, CTRL_HOST_REQ, CTRL_READY, FALLBACK_FIXTURE, HOST_FIXTURE, makeShmDir, metadataCtrl, nativeEnv, peek, poke,
  readManifest, startEndpoint, track,
} from './two-process-support.js';
import { nativeAddonOrReport } from '../support/native-gate.js';

const native = nativeAddonOrReport('two-process mode');
const EP_RAM = 0x8000_0000;

/** Hosts opened by a test; closed in afterEach even when the test failed. */
const hosts: { close(): Promise<void> }[] = [];
async function open(dir: string): Promise<OpenedHost> {
  const host = await openHost({ shm: dir });
  hosts.push(host);
  return host;
}

afterEach(async () => {
  await Promise.all(hosts.splice(0).map((h) => h.close()));
  await cleanup();
});

function pattern(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 31 + seed * 7 + (i >>> 8)) & 0xff;
  return out;
}

/** One transfer on `name` between host buffer `local` and EP address `remote`. */
async function transfer(host: OpenedHost, name: string, local: number, remote: number, length: number): Promise<Completion> {
  const chan = await host.dma.requestChannel({ name });
  try {
    chan.configure({ deviceAddr: remote });
    const d = chan.prepSlaveSingle(local, length);
    d.submit();
    chan.issuePending();
    return await d.done;
  } finally {
    await chan.release();
  }
}

describe.skipIf(native === null)('two-process mode', () => {
  it('probes the published function and moves bytes both ways, exactly', async () => {
    const dir = makeShmDir();
    const ep = await startEndpoint(dir);
    const host = await open(dir);

    const md = host.device.metadata;
    expect(md.hostRequest).toBe(true); // H: set by this host's probe
    expect(md.ready).toBe(true); // R: set by the endpoint process
    expect(md.write.length).toBe(4);
    expect(md.read.length).toBe(4);
    expect(host.device.classCode >>> 8).toBe(0x0801);
    expect(host.device.bars.map((b) => b.busAddr)).toEqual(readManifest(dir).bars.map((b) => b.busAddr));
    expect(host.dma.channels.map((c) => c.name).sort()).toEqual(['host/rd0', 'host/rd1', 'host/rd2', 'host/rd3', 'host/wr0', 'host/wr1', 'host/wr2', 'host/wr3']);
    expect((metadataCtrl(dir) & (CTRL_HOST_REQ | CTRL_READY)) >>> 0).toBe((CTRL_HOST_REQ | CTRL_READY) >>> 0);
    await ep.waitFor(new RegExp(`host process ${process.pid} attached`));

    // host/rd0 (mem-to-dev): host memory -> EP memory, checked in the endpoint's file.
    const len = 3 * 65536 + 123;
    const src = host.memory.alloc(len);
    const sent = pattern(len, 1);
    src.bytes.set(sent);
    const epAddr = EP_RAM + 0x10_0000;
    const guard = peek(dir, epAddr + len, 64);
    const up = await transfer(host, 'host/rd0', src.addr, epAddr, len);
    expect(up.result).toBe('ok');
    expect(up.bytes).toBe(len);
    expect(Buffer.compare(peek(dir, epAddr, len), Buffer.from(sent))).toBe(0);
    expect(Buffer.compare(peek(dir, epAddr + len, 64), guard)).toBe(0);

    // host/wr0 (dev-to-mem): EP memory (written into the file) -> host memory.
    const back = pattern(len, 2);
    poke(dir, epAddr, back);
    const dst = host.memory.alloc(len);
    const down = await transfer(host, 'host/wr0', dst.addr, epAddr, len);
    expect(down.result).toBe('ok');
    expect(Buffer.compare(Buffer.from(dst.bytes), Buffer.from(back))).toBe(0);
  });

  it('load-tests both directions across the processes with every byte verified', async () => {
    const dir = makeShmDir();
    await startEndpoint(dir);
    const bed = await attachTestbed({ shm: dir });
    hosts.push(bed);
    expect(bed.endpoint.dma.channels).toHaveLength(0);
    expect(bed.endpoint.delegated.map((c) => c.name).sort()).toEqual(bed.host.dma.channels.map((c) => c.name).sort());
    // The host's verification buffers come from the upper half of EP RAM.
    const probe = bed.endpoint.memory.alloc(4096);
    expect(probe.addr).toBeGreaterThanOrEqual(EP_RAM + 32 * 1024 * 1024);
    bed.endpoint.memory.free(probe);
    await expect(bed.linkDown()).rejects.toMatchObject({ code: 'EOPNOTSUPP' });

    const final = await lastValueFrom(loadTest(bed, { side: 'both', size: [1, 40_000], depth: 4, iterations: 40 }));
    expect(final.final).toBe(true);
    expect(final.errors).toBe(0);
    expect(final.mismatches).toBe(0);
    expect(final.transfers).toBe(8 * 40);
    expect(final.channels.map((c) => c.name).sort()).toEqual(['host/rd0', 'host/rd1', 'host/rd2', 'host/rd3', 'host/wr0', 'host/wr1', 'host/wr2', 'host/wr3']);
    for (const c of final.channels) expect(c.transfers).toBe(40);
  });

  it('kill -9 of the endpoint mid-traffic aborts in-flight and queued work with the reason; a restarted endpoint is probed again', async () => {
    const dir = makeShmDir();
    const ep = await startEndpoint(dir);
    const host = await open(dir);
    const events: RuntimeEvent[] = [];
    const sub: Subscription = host.events$.subscribe((e) => events.push(e));

    const size = 1 << 20;
    const buf = host.memory.alloc(size);
    const rd = await host.dma.requestChannel({ name: 'host/rd0' });
    const wr = await host.dma.requestChannel({ name: 'host/wr0' });
    rd.configure({ deviceAddr: EP_RAM });
    wr.configure({ deviceAddr: EP_RAM + size });
    const per = 256;
    const done: Promise<Completion>[] = [];
    for (let i = 0; i < per; i++) {
      for (const chan of [rd, wr]) {
        const d = chan.prepSlaveSingle(buf.addr, size);
        d.submit();
        done.push(d.done);
      }
    }
    rd.issuePending();
    wr.issuePending();
    await Promise.race(done); // traffic is flowing
    await ep.kill('SIGKILL');

    const results = await Promise.all(done);
    const aborted = results.filter((c) => c.result !== 'ok');
    expect(results).toHaveLength(2 * per);
    expect(aborted.length).toBeGreaterThan(0);
    for (const c of aborted) {
      expect(c.result).toBe('aborted');
      expect(c.reason).toContain(`endpoint process ${ep.pid} died`);
    }
    expect(() => rd.prepSlaveSingle(buf.addr, 4096)).toThrow(expect.objectContaining({ code: 'ESHUTDOWN' }));
    await expect(host.dma.requestChannel({ name: 'host/rd1' })).rejects.toMatchObject({ code: 'ESHUTDOWN' });
    expect(events.some((e) => e.type === 'link-down' && e.reason === `endpoint process ${ep.pid} died`)).toBe(true);
    sub.unsubscribe();
    await host.close();

    // The same DIR, a new endpoint: a new openHost probes it; the old HostSide stays dead.
    const ep2 = await startEndpoint(dir);
    expect(readManifest(dir).generation).toBe(2);
    expect(readManifest(dir).epPid).toBe(ep2.pid);
    const host2 = await open(dir);
    expect(host2.device.metadata.ready).toBe(true);
    const src = host2.memory.alloc(8192);
    const sent = pattern(8192, 3);
    src.bytes.set(sent);
    const c = await transfer(host2, 'host/rd1', src.addr, EP_RAM + 0x4000, 8192);
    expect(c.result).toBe('ok');
    expect(Buffer.compare(peek(dir, EP_RAM + 0x4000, 8192), Buffer.from(sent))).toBe(0);
  });

  it('kill -9 of a host process: the endpoint logs it, clears H, and a new host probes fine', async () => {
    const dir = makeShmDir();
    const ep = await startEndpoint(dir);
    const victim = track(spawn(process.execPath, [HOST_FIXTURE, dir], { env: nativeEnv(), stdio: ['ignore', 'pipe', 'pipe'] }));
    await victim.waitFor(/^attached \d+$/);
    await ep.waitFor(new RegExp(`host process ${victim.pid} attached`));
    expect(metadataCtrl(dir) & CTRL_HOST_REQ).toBe(CTRL_HOST_REQ);

    await victim.kill('SIGKILL');
    await ep.waitFor(new RegExp(`host process ${victim.pid} is gone`));
    const ctrl = metadataCtrl(dir);
    expect(ctrl & CTRL_HOST_REQ).toBe(0); // H cleared, as if dw-edma-pcie was removed
    expect((ctrl & CTRL_READY) >>> 0).toBe(CTRL_READY); // R stays: the endpoint is still up
    expect(ep.running).toBe(true);

    const host = await open(dir);
    expect(host.device.metadata.hostRequest).toBe(true);
    expect(metadataCtrl(dir) & CTRL_HOST_REQ).toBe(CTRL_HOST_REQ);
    // The channel the victim was using works again (the endpoint reset what it left behind).
    const src = host.memory.alloc(65536);
    const sent = pattern(65536, 4);
    src.bytes.set(sent);
    const c = await transfer(host, 'host/rd0', src.addr, EP_RAM + 0x20_0000, 65536);
    expect(c.result).toBe('ok');
    expect(Buffer.compare(peek(dir, EP_RAM + 0x20_0000, 65536), Buffer.from(sent))).toBe(0);
  });

  it('SIGTERM stops the endpoint cleanly: an attached host sees it, every file goes, exit code 0', async () => {
    const parent = makeShmDir();
    const dir = join(parent, 'created-by-endpoint');
    const ep = await startEndpoint(dir);
    expect(readdirSync(dir).sort()).toEqual(['arena.mem', 'control.mem', 'device.json', 'regs.mem', 'scratch.mem']);
    const host = await open(dir);
    const linkDown = new Promise<RuntimeEvent>((resolve) => {
      host.events$.subscribe((e) => {
        // The driver's R watch may report the link-down first; the watchdog says why.
        if (e.type === 'link-down' && e.reason !== undefined) resolve(e);
      });
    });
    const exit = await ep.kill('SIGTERM');
    expect(exit).toEqual({ code: 0, signal: null });
    expect(existsSync(dir)).toBe(false); // it created DIR, so it removed it
    expect(ep.lines.some((l) => /SIGTERM: stopping/.test(l))).toBe(true);
    expect((await linkDown).reason).toMatch(new RegExp(`endpoint process ${ep.pid} (stopped|died)`));
    await host.close();
  });

  it('SIGTERM in a DIR it did not create removes only its own files', async () => {
    const dir = makeShmDir();
    const ep = await startEndpoint(dir);
    expect(await ep.kill('SIGTERM')).toEqual({ code: 0, signal: null });
    expect(existsSync(dir)).toBe(true);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('a second endpoint on a live DIR refuses (exit 1) and leaves the first one untouched', async () => {
    const dir = makeShmDir();
    const first = await startEndpoint(dir);
    const second = track(spawn(process.execPath, [CLI, 'endpoint', '--shm', dir], { env: nativeEnv(), stdio: ['ignore', 'pipe', 'pipe'] }));
    expect((await second.exited).code).toBe(1);
    expect(second.stderr).toContain(`endpoint process ${first.pid} already publishes`);
    expect(readManifest(dir).epPid).toBe(first.pid);
    const host = await open(dir);
    expect(host.device.metadata.ready).toBe(true);
  });

  it("openHost({ driver: { quirks: 'dw-edma' } }) drives the delegated channels with the kernel driver's semantics; a bad value is EINVAL", async () => {
    await expect(openHost({ shm: makeShmDir(), driver: { quirks: 'linux' as 'contract' } })).rejects.toMatchObject({ code: 'EINVAL' });
    const dir = makeShmDir();
    await startEndpoint(dir);
    const host = await openHost({ shm: dir, driver: { quirks: 'dw-edma' } });
    hosts.push(host);
    const chan = await host.dma.requestChannel({ direction: 'mem-to-dev' });
    const buf = host.memory.alloc(4096);
    buf.bytes.set(pattern(4096, 3));
    chan.configure({ deviceAddr: EP_RAM });
    const d = chan.prepSlaveSingle(buf.addr, 4096);
    const cookie = d.submit();
    // Submitted, not issued: dw-edma's tx_status searches only the issued list.
    expect(chan.txStatus(cookie)).toEqual({ status: 'in-progress', residue: 0 });
    chan.issuePending();
    expect(await d.done).toMatchObject({ result: 'ok', bytes: 4096 });
    await chan.release();
  });

  it('refuses a second host while one is attached, and a DIR with nothing published', async () => {
    const empty = makeShmDir();
    await expect(openHost({ shm: empty })).rejects.toMatchObject({ code: 'ENODEV' });
    const dir = makeShmDir();
    await startEndpoint(dir);
    const host = await open(dir);
    await expect(openHost({ shm: dir })).rejects.toMatchObject({ code: 'EBUSY' });
    await host.close();
    // After close the endpoint finishes the detach and the next host gets in.
    const again = await open(dir);
    expect(again.device.metadata.ready).toBe(true);
  });
});

describe('two-process mode without the native addon', () => {
  it('openHost rejects EOPNOTSUPP naming the reason; createTestbed still works in-process', async () => {
    const child = track(spawn(process.execPath, [FALLBACK_FIXTURE, makeShmDir()], { env: { ...process.env, EPDMA_NO_NATIVE: '1' }, stdio: ['ignore', 'pipe', 'pipe'] }));
    const exit = await child.exited;
    expect(exit.code, child.stderr).toBe(0);
    const [open, bed] = child.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(open).toMatchObject({ check: 'openHost', code: 'EOPNOTSUPP' });
    expect(open!.message).toContain('EPDMA_NO_NATIVE=1');
    expect(bed).toEqual({ check: 'testbed', result: 'ok', same: true });
  });
});
