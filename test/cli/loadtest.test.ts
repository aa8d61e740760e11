/**
 * `epdma loadtest` as a user runs it: the built CLI in a child process on an in-process
 * testbed. --json prints the LoadReport, --html writes a report with its charts, thresholds
 * pass or fail (exit 3), --trace writes a trace-event file whose spans match the run, and bad
 * options are usage errors (exit 2) before any worker starts.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LoadReport } from '../../dist/api/loadtest/load-report.js';
import { runLoadtest } from '../../dist/cli/loadtest.js';
import { expectRejects } from '../api/testbed-support.js';
import { runCli } from '../support/run-cli.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'epdma-loadtest-cli-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface TraceEvent { ph: string; name: string; pid: number; tid: number; ts: number; dur?: number; cat?: string; s?: string; args?: Record<string, unknown> }

describe('epdma loadtest', () => {
  it('--json prints the report: every transfer done and verified, exit 0', async () => {
    const r = await runCli(['loadtest', '--iterations', '20', '--size', '4k', '--depth', '2', '--json'], 60_000);
    expect(r.code, r.stderr).toBe(0);
    const p = JSON.parse(r.stdout) as LoadReport;
    expect(p.final).toBe(true);
    expect(p.errors).toBe(0);
    expect(p.mismatches).toBe(0);
    // Default testbed: host/rd0..3 and endpoint/wr0..3, 20 transfers each.
    expect(p.channels.map((c) => c.name)).toEqual(['host/rd0', 'host/rd1', 'host/rd2', 'host/rd3', 'endpoint/wr0', 'endpoint/wr1', 'endpoint/wr2', 'endpoint/wr3']);
    expect(p.transfers).toBe(8 * 20);
    expect(p.bytes).toBe(8 * 20 * 4096);
    for (const c of p.channels) expect(c).toMatchObject({ transfers: 20, bytes: 20 * 4096, errors: 0, mismatches: 0 });
    expect(r.stderr).not.toMatch(/mismatch:|error:/);
  }, 70_000);

  it('--html FILE writes one report with its SVG charts; the table goes to stdout', async () => {
    const file = join(dir, 'report.html');
    const r = await runCli(['loadtest', '--side', 'host', '--iterations', '10', '--size', '1k-8k', '--depth', '2', '--html', file], 60_000);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`epdma loadtest: report written to ${file}`);
    expect(r.stdout).toContain('host/rd0');
    expect(r.stdout).not.toContain('endpoint/wr0');
    const html = await readFile(file, 'utf8');
    expect(html.match(/<svg /g)).toHaveLength(3);
    expect(html).toContain('host/rd3');
    expect(html).toContain('side host, channels all, size 1.0 KiB - 8.0 KiB (random), depth 2, 10 iterations per channel, verify on');
    expect(html).toMatch(/<line class="mark"/);
  }, 70_000);

  it('thresholds that hold: exit 0, each printed with its actual value, in the JSON too', async () => {
    const r = await runCli(['loadtest', '--side', 'host', '--channels', '1', '--iterations', '8', '--size', '4k', '--depth', '2',
      '--threshold', 'errors==0', '--threshold', 'mismatches==0', '--threshold', 'p99<60s', '--threshold', 'ops>0'], 60_000);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('threshold errors==0: ok (actual 0)');
    expect(r.stdout).toMatch(/threshold p99<60s: ok \(actual [\d.]+ us\)/);
    expect(r.stderr).not.toContain('threshold');
  }, 70_000);

  it('a threshold that fails is named, in the JSON and on stderr, exit 3', async () => {
    const r = await runCli(['loadtest', '--side', 'host', '--channels', '1', '--iterations', '8', '--size', '4k', '--depth', '2', '--json',
      '--threshold', 'errors==0', '--threshold', 'p50<1ns', '--threshold', 'throughput>1000GB/s'], 60_000);
    expect(r.code, r.stderr).toBe(3);
    const report = JSON.parse(r.stdout) as LoadReport;
    expect(report.thresholds!.map((t) => [t.expr, t.ok])).toEqual([['errors==0', true], ['p50<1ns', false], ['throughput>1000GB/s', false]]);
    expect(report.thresholds![1]!.actual).toBe(report.p50Us);
    expect(report.thresholds![2]!.actual).toBe(report.throughputBytesPerSec);
    const failed = r.stderr.split('\n').filter((l) => l.startsWith('epdma loadtest: threshold'));
    expect(failed).toEqual([
      expect.stringMatching(/^epdma loadtest: threshold p50<1ns: FAILED \(actual [\d.]+ us\)$/),
      expect.stringMatching(/^epdma loadtest: threshold throughput>1000GB\/s: FAILED \(actual [\d.]+ MB\/s\)$/),
    ]);
  }, 70_000);

  it('--trace FILE: a span per completed descriptor, chunk spans and DONE instants, nested per track, time going forward', async () => {
    const file = join(dir, 'trace.json');
    const r = await runCli(['loadtest', '--iterations', '12', '--size', '4k-64k', '--depth', '3', '--json', '--trace', file], 60_000);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as LoadReport;
    const trace = JSON.parse(await readFile(file, 'utf8')) as { traceEvents: TraceEvent[]; otherData: Record<string, number> };
    const events = trace.traceEvents;

    // One process track per channel, named.
    const names = new Map(events.filter((e) => e.ph === 'M' && e.name === 'process_name').map((e) => [e.pid, e.args!['name'] as string]));
    for (const c of report.channels) expect([...names.values()]).toContain(c.name);

    // Every completed descriptor has a span named by its cookie with its bytes.
    const spans = events.filter((e) => e.ph === 'X' && e.cat === 'descriptor');
    expect(spans).toHaveLength(report.transfers);
    for (const c of report.channels) {
      const mine = spans.filter((s) => names.get(s.pid) === c.name);
      expect(mine).toHaveLength(c.transfers);
      expect(mine.reduce((n, s) => n + (s.args!['bytes'] as number), 0)).toBe(c.bytes);
      expect(new Set(mine.map((s) => s.name)).size).toBe(c.transfers);
      for (const s of mine) expect(s.name).toBe(`cookie ${s.args!['cookie'] as number}`);
    }
    // Each transfer here fits one chunk: one chunk span and one DONE per descriptor.
    const chunks = events.filter((e) => e.ph === 'X' && e.cat === 'chunk');
    expect(chunks).toHaveLength(report.transfers);
    expect(events.filter((e) => e.ph === 'i' && e.name === 'DONE')).toHaveLength(report.transfers);
    expect(trace.otherData).toMatchObject({ chunks: report.transfers, descriptors: report.transfers, droppedChunkRecords: 0 });
    // A chunk lies inside its descriptor's span.
    for (const ch of chunks) {
      const d = spans.find((s) => s.pid === ch.pid && s.args!['cookie'] === ch.args!['cookie'])!;
      expect(ch.ts).toBeGreaterThanOrEqual(d.ts - 1);
      expect(ch.ts + ch.dur!).toBeLessThanOrEqual(d.ts + d.dur! + 1);
    }

    // Per track: spans never overlap partially, and timestamps only go forward.
    const tracks = new Map<string, TraceEvent[]>();
    for (const e of events.filter((x) => x.ph === 'X' || x.ph === 'i')) {
      const key = `${e.pid}/${e.tid}/${e.ph}`;
      tracks.set(key, [...(tracks.get(key) ?? []), e]);
    }
    for (const [key, list] of tracks) {
      for (let i = 1; i < list.length; i++) expect(list[i]!.ts, key).toBeGreaterThanOrEqual(list[i - 1]!.ts);
      if (key.endsWith('/X')) {
        for (let i = 1; i < list.length; i++) {
          const prev = list[i - 1]!;
          const cur = list[i]!;
          const nested = cur.ts + cur.dur! <= prev.ts + prev.dur!;
          const disjoint = cur.ts >= prev.ts + prev.dur! - 2e-3; // ts and dur are rounded to the ns
          expect(nested || disjoint, `${key}: ${JSON.stringify(prev)} vs ${JSON.stringify(cur)}`).toBe(true);
        }
      }
    }
    // Lifecycle: every channel started; the link came up (ready).
    expect(events.filter((e) => e.name === 'channel-started')).toHaveLength(8);
    expect(events.some((e) => e.name === 'ready' && e.s === 'g')).toBe(true);
  }, 70_000);

  // The same checks in-process (each spawn costs a Node start): the error the CLI prints.
  it.each([
    [['--iterations', 'many'], '--iterations'],
    [['--channels', 'x'], '--channels'],
    [['--size', '4q'], '--size'],
    [['--size', '8k-4k'], '--size'],
    [['--duration', 'forever'], '--duration'],
    [['--side', 'left'], '--side'],
    [['--map-format', 'legacy'], '--map-format'],
    [['--quirks', 'linux'], '--quirks'],
    [['--depth'], '--depth'],
    [['--json=maybe'], '--json'],
    [['--iterations', '5', '--duration', '1s'], '--duration'],
    [['--iterations', '5', '--warmup', '1s'], '--warmup'],
    [['--attach', '/tmp/x', '--trace', '/tmp/t.json'], '--trace'],
    [['--threshold', 'throughput>2GB'], '--threshold'],
  ])('%j is EINVAL naming %s', async (args, name) => {
    await expectRejects(runLoadtest(args), 'EINVAL', name);
  });

  it('--quirks dw-edma: the kernel driver\'s semantics, every transfer verified', async () => {
    const r = await runCli(['loadtest', '--side', 'endpoint', '--iterations', '10', '--size', '4k', '--depth', '2', '--quirks', 'dw-edma', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const p = JSON.parse(r.stdout) as LoadProgress;
    expect(p).toMatchObject({ final: true, errors: 0, mismatches: 0, transfers: 4 * 10 });
  });
});
