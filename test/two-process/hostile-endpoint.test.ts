/**
 * A host process facing a broken or hostile endpoint (issue 14, items 3 and 4), run as a child
 * (test/fixtures/two-process-hostile-host.mjs) so its exit status and its report can be checked:
 * the endpoint's files cannot be shrunk under the host's mappings (sealed memfds), replaced
 * files and corrupt descriptions are refused with a clear EpdmaError at probe, withdrawn files
 * end the host side with ESHUTDOWN, a zeroed CTRL word holds transfers only linkDownTimeoutMs,
 * and a spoofed host-pid word no longer makes the endpoint drop a live host. Never a signal,
 * never a TypeError, never a transfer that does not settle.
 */
import { spawn } from 'node:child_process';
import { openSync, closeSync, ftruncateSync, readFileSync, readlinkSync, rmSync, symlinkSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { nativeAddonUnavailableReason } from '../../dist/native/native-addon.js';
import { startEndpointProcess, type EndpointProcess } from '../../dist/api/two-process/endpoint-process.js';
import { type Child, cleanup, CTRL_READY, makeShmDir, metadataCtrl, nativeEnv, startEndpoint, track, writeMetadataCtrl } from './two-process-support.js';

const reason = nativeAddonUnavailableReason();
const HOSTILE_HOST = fileURLToPath(new URL('../fixtures/two-process-hostile-host.mjs', import.meta.url));
const MEMORIES = ['arena.mem', 'regs.mem', 'scratch.mem', 'control.mem'] as const;
/** control.mem word 5: the attached host's pid (shm-layout CTL.HOST_PID). */
const HOST_PID_BYTE_OFFSET = 5 * 4;

const endpoints: EndpointProcess[] = [];
afterEach(async () => {
  await cleanup();
  await Promise.all(endpoints.splice(0).map((e) => e.close()));
});

interface Report {
  type: 'report';
  phase?: 'probe';
  error?: { name: string; code?: string; message: string };
  ok: number;
  aborted: Record<string, number>;
  submitErrors: Record<string, number>;
  events: { type: string; reason?: string }[];
  stuck: number;
}

function startHost(dir: string, linkDownTimeoutMs = 5000): Child {
  return track(spawn(process.execPath, [HOSTILE_HOST, dir, String(linkDownTimeoutMs)], { env: nativeEnv(), stdio: ['pipe', 'pipe', 'pipe'] }));
}

/** The host's final report, and how it exited. */
async function finalReport(host: Child, stop = true): Promise<{ report: Report; code: number | null; signal: string | null }> {
  if (stop && host.running) host.proc.stdin?.write('stop\n');
  const line = await host.waitFor(/"type":"report"/, 30_000);
  const { code, signal } = await host.exited;
  return { report: JSON.parse(line) as Report, code, signal };
}

/** Waits until the host has completed more than `than` transfers ok (traffic flows). */
async function okBeyond(host: Child, than: number): Promise<number> {
  let ok = than;
  await vi.waitFor(async () => {
    const from = host.lines.length;
    host.proc.stdin?.write('mark\n');
    const line = await vi.waitFor(() => {
      const l = host.lines.slice(from).find((x) => x.includes('"type":"mark"'));
      if (l === undefined) throw new Error('no mark yet');
      return l;
    }, { timeout: 5000, interval: 5 });
    ok = (JSON.parse(line) as { ok: number }).ok;
    if (ok <= than) throw new Error(`still ${ok} ok transfers`);
  }, { timeout: 20_000, interval: 20 });
  return ok;
}

function errnoOf(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code;
  }
}

/** Expects a clean end: exit 0, no signal, no stuck transfer. */
function expectClean(r: { report: Report; code: number | null; signal: string | null }): void {
  expect(r.signal).toBeNull();
  expect(r.code).toBe(0);
  expect(r.report.stuck).toBe(0);
}

// Each test runs several processes; on a loaded 2-core machine that takes a while.
describe.skipIf(reason !== undefined)(`a hostile endpoint cannot take the host down${reason !== undefined ? ` (skipped: ${reason})` : ''}`, { timeout: 120_000 }, () => {
  it('truncating each published memory (through its link and through /proc) fails EPERM, mid-probe and mid-traffic; a rewritten device.json mid-traffic changes nothing', async () => {
    const dir = makeShmDir();
    const ep = await startEndpoint(dir);
    const tryShrinkAll = (): string[] => MEMORIES.flatMap((f) => {
      const link = join(dir, f);
      const fd = openSync(link, 'r+');
      try {
        return [errnoOf(() => truncateSync(link, 0)), errnoOf(() => truncateSync(readlinkSync(link), 1)), errnoOf(() => ftruncateSync(fd, 64))].map(String);
      } finally {
        closeSync(fd);
      }
    });
    // Mid-probe: a host starts probing while every file is being cut.
    const host = startHost(dir);
    const attached = host.waitFor(/"type":"attached"/);
    const during: string[] = [];
    while (during.length < 200 && !host.lines.some((l) => l.includes('"type":"attached"'))) during.push(...tryShrinkAll());
    await attached;
    expect(new Set(during)).toEqual(new Set(['EPERM']));
    const before = await okBeyond(host, 0);

    // Mid-traffic: the same again, and a garbage description.
    expect(new Set(tryShrinkAll())).toEqual(new Set(['EPERM']));
    writeFileSync(join(dir, 'device.json'), '{"format":"epdma-shm-device","regions":5,"bars":"x"');
    await okBeyond(host, before);

    const r = await finalReport(host);
    expectClean(r);
    expect(r.report.aborted).toEqual({});
    expect(r.report.submitErrors).toEqual({});
    expect(r.report.ok).toBeGreaterThan(before);
    expect(ep.running).toBe(true);
  });

  it('at probe: a memory replaced by a plain (shrinkable) file is refused EPERM, a corrupt description EINVAL; each named, never a TypeError', async () => {
    const dir = makeShmDir();
    await startEndpoint(dir);
    for (const f of MEMORIES) {
      const link = join(dir, f);
      const target = readlinkSync(link);
      const bytes = readFileSync(link);
      rmSync(link);
      writeFileSync(link, bytes); // same size, same bytes, but anyone may truncate it
      const r = await finalReport(startHost(dir), false);
      expectClean(r);
      expect(r.report.phase).toBe('probe');
      expect(r.report.error).toMatchObject({ name: 'EpdmaError', code: 'EPERM' });
      expect(r.report.error!.message).toContain(link);
      expect(r.report.error!.message).toMatch(/not sealed against shrinking/);
      rmSync(link);
      symlinkSync(target, link);
    }
    const manifestPath = join(dir, 'device.json');
    const good = readFileSync(manifestPath, 'utf8');
    const m = JSON.parse(good) as Record<string, unknown>;
    const corrupt: [string, string][] = [
      [JSON.stringify({ ...m, regions: 5 }), 'regions 5 is not an array'],
      [JSON.stringify({ ...m, bars: 'x' }), 'bars "x" is not an array'],
      [JSON.stringify({ ...m, files: { ...(m.files as object), arena: { name: 'arena.mem', bytes: 335577088 + 4096 } } }), 'has 335577088 bytes, device.json says 335581184'],
      [JSON.stringify({ ...m, delegated: [{ kind: 'write', hwChannel: 99 }] }), 'delegated[0].hwChannel 99'],
      [good.slice(0, good.length / 2), 'is not JSON'],
      ['', 'is not JSON'],
    ];
    for (const [text, message] of corrupt) {
      writeFileSync(manifestPath, text);
      const r = await finalReport(startHost(dir), false);
      expectClean(r);
      expect(r.report.error).toMatchObject({ name: 'EpdmaError', code: 'EINVAL' });
      expect(r.report.error!.message).toContain(message);
    }
    // Everything restored: a host probes and moves data.
    writeFileSync(manifestPath, good);
    const host = startHost(dir);
    await host.waitFor(/"type":"attached"/);
    await okBeyond(host, 0);
    expectClean(await finalReport(host));
  });

  it('the endpoint withdrawing its files mid-traffic ends the host side: transfers settle, later work gets ESHUTDOWN', async () => {
    const dir = makeShmDir();
    const ep = await startEndpoint(dir);
    const host = startHost(dir);
    await host.waitFor(/"type":"attached"/);
    await okBeyond(host, 0);
    for (const f of [...MEMORIES, 'device.json']) rmSync(join(dir, f));
    const r = await finalReport(host, false); // it ends by itself
    expectClean(r);
    expect(r.report.events).toContainEqual({ type: 'link-down', reason: expect.stringMatching(/withdrew .*device\.json/) as unknown as string });
    expect(r.report.submitErrors).toEqual({ ESHUTDOWN: 8 }); // every lane of both channels
    for (const why of Object.keys(r.report.aborted)) expect(why).toMatch(/withdrew/);
    expect(ep.running).toBe(true);
  });

  it('a zeroed CTRL word mid-traffic: transfers complete aborted "link down" within linkDownTimeoutMs; READY back, traffic resumes', async () => {
    const dir = makeShmDir();
    await startEndpoint(dir);
    const host = startHost(dir, 400);
    await host.waitFor(/"type":"attached"/);
    await okBeyond(host, 0);
    const ctrl = metadataCtrl(dir);
    expect((ctrl & CTRL_READY) >>> 0).toBe(CTRL_READY);
    writeMetadataCtrl(dir, 0);
    await host.waitFor(/"event":"link-down"/);
    // Every lane's transfer gives up on the link: 2 channels x 4 lanes at least.
    await vi.waitFor(async () => {
      const from = host.lines.length;
      host.proc.stdin?.write('mark\n');
      const line = await vi.waitFor(() => {
        const l = host.lines.slice(from).find((x) => x.includes('"type":"mark"'));
        if (l === undefined) throw new Error('no mark yet');
        return l;
      }, { timeout: 5000, interval: 5 });
      const aborted = (JSON.parse(line) as { aborted: Record<string, number> }).aborted['link down: READY clear'] ?? 0;
      if (aborted < 8) throw new Error(`${aborted} link-down aborts so far`);
    }, { timeout: 15_000, interval: 50 });
    writeMetadataCtrl(dir, ctrl);
    await host.waitFor(/"event":"link-up"/);
    const mark = (JSON.parse(host.lines.filter((l) => l.includes('"type":"mark"')).at(-1)!) as { ok: number }).ok;
    await okBeyond(host, mark);
    const r = await finalReport(host);
    expectClean(r);
    expect(Object.keys(r.report.aborted)).toEqual(['link down: READY clear']);
    expect(r.report.submitErrors).toEqual({});
  });

  it('overwriting the host-pid word (a dead pid, then the host leaving) does not make the endpoint drop a live host', async () => {
    const dir = makeShmDir();
    const ep = await startEndpoint(dir);
    const host = startHost(dir);
    await host.waitFor(/"type":"attached"/);
    await ep.waitFor(new RegExp(`host process ${host.pid} attached`));
    let ok = await okBeyond(host, 0);
    const word = Buffer.alloc(4);
    const fd = openSync(join(dir, 'control.mem'), 'r+');
    try {
      word.writeInt32LE(0x7fff_fff0, 0); // a pid nobody has
      writeSync(fd, word, 0, 4, HOST_PID_BYTE_OFFSET);
      await ep.waitFor(/host slot holds 2147483632 while host process \d+ is attached and alive: ignored/);
      ok = await okBeyond(host, ok);
      word.writeInt32LE(-host.pid, 0); // "that host is leaving"
      writeSync(fd, word, 0, 4, HOST_PID_BYTE_OFFSET);
      ok = await okBeyond(host, ok);
      ok = await okBeyond(host, ok);
      word.writeInt32LE(host.pid, 0);
      writeSync(fd, word, 0, 4, HOST_PID_BYTE_OFFSET);
    } finally {
      closeSync(fd);
    }
    expect(ep.lines.some((l) => /is gone|detached/.test(l) && l.includes(String(host.pid)))).toBe(false);
    const r = await finalReport(host);
    expectClean(r);
    expect(r.report.aborted).toEqual({});
    expect(r.report.ok).toBeGreaterThanOrEqual(ok);
    expect(r.report.events.filter((e) => e.type === 'link-down')).toEqual([]);
    // The host closed for real: now the endpoint lets it go.
    await ep.waitFor(new RegExp(`host process ${host.pid} detached`));
  });

  it('an endpoint that stops responding (SIGSTOP) is given up on after linkDownTimeoutMs: transfers settle, later work gets ESHUTDOWN', async () => {
    const dir = makeShmDir();
    const ep = await startEndpoint(dir);
    const host = startHost(dir, 500);
    await host.waitFor(/"type":"attached"/);
    await okBeyond(host, 0);
    ep.proc.kill('SIGSTOP');
    try {
      const r = await finalReport(host, false);
      expectClean(r);
      expect(r.report.events).toContainEqual({ type: 'link-down', reason: expect.stringMatching(new RegExp(`endpoint process ${ep.pid} stopped responding \\(no heartbeat for \\d+ ms\\)`)) as unknown as string });
      expect(r.report.submitErrors).toEqual({ ESHUTDOWN: 8 });
    } finally {
      ep.proc.kill('SIGCONT');
    }
  });

  it('the endpoint resetting the delegated channels under traffic: the host gets an event, no transfer stays stuck, traffic goes on', async () => {
    const dir = makeShmDir();
    const ep = await startEndpointProcess({ shm: dir, wrChans: 4, rdChans: 4 });
    endpoints.push(ep);
    const host = startHost(dir, 300);
    await host.waitFor(/"type":"attached"/);
    let ok = await okBeyond(host, 0);
    const engines = (ep as unknown as { engines: { reset(): Promise<void> } }).engines;
    for (let k = 0; k < 5; k++) {
      await engines.reset();
      ok = await okBeyond(host, ok);
    }
    const r = await finalReport(host);
    expectClean(r);
    const resets = r.report.events.filter((e) => e.type === 'link-down');
    expect(resets.length).toBeGreaterThanOrEqual(1);
    for (const e of resets) expect(e.reason).toMatch(new RegExp(`endpoint process ${process.pid} reset the delegated channels`));
    // A chunk the reset swallowed is given up on with the reason; everything else completed ok.
    for (const why of Object.keys(r.report.aborted)) expect(why).toBe('link down: the endpoint reset the channel under a transfer');
    expect(r.report.submitErrors).toEqual({});
  });
});
