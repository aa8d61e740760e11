/**
 * What a demanding user of `epdma` runs into (issue 15's table), one test per row, each with the
 * exit code and the first line of stderr. Every command runs the built CLI in a child process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { LoadReport } from '../../dist/api/loadtest/load-report.js';
import { createTestbed } from '../../dist/api/testbed.js';
import { encodeMetadata } from '../../dist/device/metadata/metadata-encoder.js';
import { EpdmaError } from '../../dist/device/errors.js';
import { nativeAddonUnavailableReason } from '../../dist/native/native-addon.js';
import { CLI, runCli } from '../support/run-cli.js';
import { cleanup as cleanupTwoProcess, makeShmDir, startEndpoint } from '../two-process/two-process-support.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;
const firstLine = (text: string): string => text.split('\n')[0]!;

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'epdma-cli-rows-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** A CLI child whose output the test can wait on; killed in afterEach if still running. */
class CliProcess {
  stdout = '';
  stderr = '';
  readonly exited: Promise<number | null>;
  constructor(readonly proc: ChildProcess) {
    proc.stdout!.on('data', (d: Buffer) => (this.stdout += d.toString()));
    proc.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.exited = new Promise((resolve) => proc.once('close', (code) => resolve(code)));
  }
}
const running = new Set<CliProcess>();
function start(args: string[], env: NodeJS.ProcessEnv = process.env): CliProcess {
  const p = new CliProcess(spawn(process.execPath, [CLI, ...args], { env: { ...env, CI: '1' }, stdio: ['ignore', 'pipe', 'pipe'] }));
  running.add(p);
  return p;
}
afterEach(async () => {
  for (const p of running) if (p.proc.exitCode === null && p.proc.signalCode === null) p.proc.kill('SIGKILL');
  await Promise.all([...running].map((p) => p.exited));
  running.clear();
  await cleanupTwoProcess();
});

/** Resolves once progress on stderr counted a transfer; fails at once if the command ended first. */
async function untilTransfers(p: CliProcess): Promise<void> {
  await vi.waitFor(() => {
    if (p.proc.exitCode !== null) return;
    expect(progressTransfers(p.stderr)).toBeGreaterThan(0);
  }, { timeout: 100_000, interval: 50 });
  expect(p.proc.exitCode, `ended before any transfer: ${p.stderr}`).toBeNull();
}

/** Transfers so far, from the newest progress line on stderr. */
function progressTransfers(stderr: string): number {
  const all = [...stderr.matchAll(/ch {2}([\d,]+) xfers/g)];
  return all.length === 0 ? 0 : Number(all.at(-1)![1]!.replaceAll(',', ''));
}

// Every row starts `epdma` processes (a second or more each on a loaded 2-core machine).
describe('issue 15, row by row', { timeout: 90_000 }, () => {
  it('1: Ctrl-C during --duration 30s --json --html writes the partial JSON and HTML, marked interrupted, exit 130', async () => {
    const html = join(dir, 'interrupted.html');
    const p = start(['loadtest', '--duration', '30s', '--size', '4k', '--depth', '2', '--json', '--html', html]);
    // Progress is on stderr even with --json; interrupt once transfers were counted.
    await untilTransfers(p);
    p.proc.kill('SIGINT');
    expect(await p.exited).toBe(130);
    const report = JSON.parse(p.stdout) as LoadReport;
    expect(report.interrupted).toEqual({ signal: 'SIGINT', reason: 'interrupted by SIGINT' });
    expect(report.transfers).toBeGreaterThan(0);
    expect(report.transfers).toBe(report.channels.reduce((n, c) => n + c.transfers, 0));
    expect(report.bytes).toBe(report.transfers * 4096);
    expect(report.errors).toBe(0); // the stop's own aborts are not the run's errors
    expect(report.mismatches).toBe(0);
    expect(report.elapsedMs).toBeLessThan(30_000);
    expect(p.stderr).toMatch(/^epdma loadtest: interrupted by SIGINT: partial results after [\d.]+ s$/m);
    // The default warm-up ran until the rate settled (or its longest) and says which.
    expect(p.stderr).toMatch(/^epdma loadtest: warm-up [\d.]+ s, excluded from the rates: the rate (settled|had not settled)/m);
    expect(report.warmupMs).toBeGreaterThan(0);
    const page = readFileSync(html, 'utf8');
    expect(page).toContain('INTERRUPTED (interrupted by SIGINT): partial results');
  }, 160_000);

  const noAddon = nativeAddonUnavailableReason();
  it.skipIf(noAddon !== undefined)('2: the attached endpoint process dies: partial report, its aborted transfers counted as errors, exit 1', async () => {
    const shm = makeShmDir();
    const ep = await startEndpoint(shm);
    const env = { ...process.env };
    delete env['EPDMA_NO_NATIVE'];
    // --no-verify: every slot is always waiting on a transfer (no fill step between), so the
    // endpoint's death always finds transfers in flight to abort.
    const p = start(['loadtest', '--attach', shm, '--duration', '60s', '--warmup', '1s', '--size', '64k', '--depth', '4', '--no-verify', '--json'], env);
    await untilTransfers(p);
    ep.proc.kill('SIGKILL');
    expect(await p.exited).toBe(1);
    const report = JSON.parse(p.stdout) as LoadReport;
    expect(report.interrupted?.reason).toMatch(/^endpoint process gone/);
    expect(report.interrupted?.signal).toBeUndefined();
    expect(report.transfers).toBeGreaterThan(0);
    expect(report.errors).toBeGreaterThan(0);
    // stderr: progress lines (each on its own line, not glued to an error), then the note.
    expect(p.stderr).toMatch(/^epdma loadtest: endpoint process gone.*: partial results after [\d.]+ s$/m);
    for (const line of p.stderr.split('\n').filter((l) => l.includes('xfers'))) expect(line).not.toContain('epdma loadtest:');
  }, 120_000);

  it.each([['1m'], ['4k-1m']])('3: --size %s works with the defaults and says what it changed', async (size) => {
    const r = await runCli(['loadtest', '--size', size, '--iterations', '2', '--json'], 90_000);
    expect(r.code, r.stderr).toBe(0);
    expect(firstLine(r.stderr)).toBe('epdma loadtest: depth 7 per channel instead of 16: 8 channels x depth 16 x 1.0 MiB do not fit 64.0 MiB of memory per side (--depth sets it)');
    const report = JSON.parse(r.stdout) as LoadReport;
    expect(report.settings.depth).toBe(7);
    expect(report.transfers).toBe(16);
    expect(report.errors + report.mismatches).toBe(0);
  }, 100_000);

  it('3: a size that cannot fit says what to lower, and to what, in KiB/MiB', async () => {
    const r = await runCli(['loadtest', '--size', '1g', '--depth', '16']);
    expect(r.code).toBe(2);
    expect(firstLine(r.stderr)).toBe('epdma loadtest: 8 channels x depth 16 x 1.0 GiB need 128.0 GiB per side, more than the 2.0 GiB there is: use --size 15m, or fewer --channels (epdma loadtest --help)');
  });

  it('4: --help for every command, epdma --help listing them, --version', async () => {
    for (const command of ['demo', 'loadtest', 'bench', 'inspect', 'endpoint']) {
      const r = await runCli([command, '--help']);
      expect(r.code, command).toBe(0);
      expect(r.stderr).toBe('');
      expect(firstLine(r.stdout)).toMatch(new RegExp(`^usage: epdma ${command} `));
    }
    const all = await runCli(['--help']);
    expect(all.code).toBe(0);
    for (const command of ['demo', 'loadtest', 'bench', 'inspect', 'endpoint']) expect(all.stdout).toMatch(new RegExp(`^ {2}${command} +\\S`, 'm'));
    const v = await runCli(['--version']);
    expect(v.code).toBe(0);
    expect(v.stdout).toBe(`${version}\n`);
  });

  it('5: an unknown option is one style for every command: exit 2, one line', async () => {
    for (const command of ['inspect', 'loadtest', 'bench', 'demo', 'endpoint']) {
      const r = await runCli([command, '--bogus']);
      expect(r.code, command).toBe(2);
      expect(r.stderr).toBe(`epdma ${command}: unknown option --bogus (epdma ${command} --help)\n`);
      expect(r.stdout).toBe('');
    }
  });

  it.each([
    [['loadtest', '--channels', '99'], 'epdma loadtest: --channels 99 is out of range 1..16 (epdma loadtest --help)'],
    [['loadtest', '--channels', '6'], 'epdma loadtest: --channels 6: the host side has 4, the endpoint side has 4 (epdma loadtest --help)'],
    [['loadtest', 'fast'], 'epdma loadtest: unexpected argument "fast" (this command takes none) (epdma loadtest --help)'],
    [['demo', '--bogus'], 'epdma demo: unknown option --bogus (epdma demo --help)'],
    [['demo', 'now'], 'epdma demo: unexpected argument "now" (this command takes none) (epdma demo --help)'],
    [['inspect', 'a', 'b'], 'epdma inspect: unexpected argument "b" (only FILE|DIR) (epdma inspect --help)'],
  ])('6: %j is an error, not silently changed or ignored', async (args, line) => {
    const r = await runCli(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`${line}\n`);
  });

  it('7: inspect FILE | head -1 exits quietly', async () => {
    const bar = join(dir, 'bar0.bin');
    writeFileSync(bar, encodeMetadata({
      revision: 1, length: 0x1c + 0x2c, regBar: 0, regOffset: 0x1000n, regSize: 0x2000, layout: 'dw-edma', mapFormat: 'unroll',
      hostRequest: false, ready: true, entrySize: 0x2c, write: [], read: [{ hwChannel: 0, desc: { bar: 2, offset: 0n, size: 0x800, addr: 0x1000n } }],
    }));
    // Like `| head -1`: take the first line, then close the pipe while output is still coming.
    for (let attempt = 0; attempt < 6; attempt++) {
      const p = start(['inspect', bar]);
      await vi.waitFor(() => expect(p.stdout).toContain('\n'), { timeout: 20_000, interval: 5 });
      p.proc.stdout!.destroy();
      const code = await p.exited;
      expect(p.stderr).toBe('');
      expect(code).toBe(0);
      expect(firstLine(p.stdout)).toBe(`${bar} (0x${statSync(bar).size.toString(16)} bytes)`);
    }
  }, 60_000);

  it('8: a file as --shm and an html path in a missing directory: one line each, before anything runs', async () => {
    const file = join(dir, 'not-a-dir');
    writeFileSync(file, 'x');
    const ep = await runCli(['endpoint', '--shm', file]);
    expect(ep.code).toBe(2);
    expect(ep.stderr).toBe(`epdma endpoint: --shm ${JSON.stringify(file)} is a file, not a directory (epdma endpoint --help)\n`);
    const html = await runCli(['loadtest', '--html', '/nonexistent/dir/r.html']);
    expect(html.code).toBe(2);
    expect(html.stderr).toBe('epdma loadtest: --html "/nonexistent/dir/r.html": directory /nonexistent/dir does not exist (epdma loadtest --help)\n');
    const trace = await runCli(['loadtest', '--trace', dir]);
    expect(trace.code).toBe(2);
    expect(firstLine(trace.stderr)).toBe(`epdma loadtest: --trace ${JSON.stringify(dir)} is a directory, not a file (epdma loadtest --help)`);
    const out = await runCli(['bench', '--out', '/nonexistent/dir/b.json']);
    expect(out.code).toBe(2);
    expect(firstLine(out.stderr)).toBe('epdma bench: --out "/nonexistent/dir/b.json": directory /nonexistent/dir does not exist (epdma bench --help)');
  });

  it('9: --size -5 quotes -5', async () => {
    const r = await runCli(['loadtest', '--size', '-5']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('epdma loadtest: --size "-5" is not a byte count or MIN-MAX range (like 64k, 4k-1m) (epdma loadtest --help)\n');
  });

  it.each([
    [['--size', '0'], 'epdma loadtest: --size "0": a transfer moves at least 1 byte (epdma loadtest --help)'],
    [['--depth', '0'], 'epdma loadtest: --depth 0 is out of range 1..1024 (epdma loadtest --help)'],
    [['--iterations', '0'], 'epdma loadtest: --iterations 0 is out of range 1..9007199254740991 (epdma loadtest --help)'],
    [['--duration', '0s'], 'epdma loadtest: --duration "0s" measures nothing (epdma loadtest --help)'],
    [['--threshold', 'p95<1ms'], 'epdma loadtest: --threshold "p95<1ms": metric "p95" is not one of p50, p99, p999, max, throughput, ops, errors, mismatches (epdma loadtest --help)'],
  ])('10: %j is refused before a testbed starts (nothing else is printed)', async (args, line) => {
    const r = await runCli(['loadtest', ...args]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`${line}\n`);
    expect(r.stdout).toBe('');
  });

  it('11: --json is the LoadReport (settings, timestamps, machine, versions); progress goes to stderr', async () => {
    const r = await runCli(['loadtest', '--side', 'host', '--channels', '2', '--iterations', '10', '--size', '1k-8k', '--depth', '2', '--json'], 60_000);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as LoadReport;
    expect(report.settings).toEqual({ side: 'host', channels: 2, size: [1024, 8192], depth: 2, iterations: 10, verify: true });
    expect(Date.parse(report.startedAt)).toBeGreaterThan(Date.now() - 600_000);
    expect(report.warmupMs).toBe(0);
    expect(report.machine.cores).toBeGreaterThan(0);
    expect(report.machine.memoryBytes).toBeGreaterThan(0);
    expect(typeof report.machine.cpu).toBe('string');
    expect(report.versions).toEqual({ node: process.version, epdma: version });
    expect(report.final).toBe(true);
    expect(report.channels.map((c) => c.name)).toEqual(['host/rd0', 'host/rd1']);
    expect(report.transfers).toBe(20);
    expect(report.interrupted).toBeUndefined();
    expect(report.thresholds).toBeUndefined();
    expect(r.stderr).toMatch(/ 2 ch {2}20 xfers .* done\n/);
  }, 70_000);

  it('11: a duration run warms up first and says how long (bare numbers are seconds, as in fio)', async () => {
    const r = await runCli(['loadtest', '--side', 'endpoint', '--channels', '1', '--duration', '0.6', '--warmup', '0.2', '--size', '4k', '--depth', '2', '--json'], 60_000);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as LoadReport;
    expect(report.warmupMs).toBe(200);
    expect(report.settings.durationMs).toBe(600);
    expect(report.elapsedMs).toBeGreaterThanOrEqual(600);
    expect(report.transfers).toBeGreaterThan(0);
  }, 70_000);

  it('12: the README\'s plain .mjs snippet runs as written on this Node', async () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const snippet = /```js\n\/\/ quick-start\.mjs\n([\s\S]*?)```/.exec(readme);
    expect(snippet, 'README has a ```js block starting with // quick-start.mjs').not.toBeNull();
    // Run it from a folder whose node_modules/epdma is this package, as an installed user would.
    const app = mkdtempSync(join(tmpdir(), 'epdma-readme-'));
    try {
      const { mkdirSync, symlinkSync } = await import('node:fs');
      mkdirSync(join(app, 'node_modules'));
      symlinkSync(root, join(app, 'node_modules', 'epdma'), 'dir');
      writeFileSync(join(app, 'quick-start.mjs'), snippet![1]!);
      const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        const c = spawn(process.execPath, ['quick-start.mjs'], { cwd: app, stdio: ['ignore', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        c.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
        c.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        c.on('close', (code) => resolve({ code, stdout, stderr }));
      });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toBe('host/rd0 ok 65536\n');
    } finally {
      rmSync(app, { recursive: true, force: true });
    }
  }, 60_000);

  it.skipIf(noAddon !== undefined)('13: inspect DIR finds the metadata BAR of an endpoint process and says where it is', async () => {
    const shm = makeShmDir();
    await startEndpoint(shm);
    const r = await runCli(['inspect', shm]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(new RegExp(`^${shm} \\(BAR\\d, 0x[0-9a-f]+ bytes\\)$`));
    expect(lines[1]).toMatch(new RegExp(`^metadata BAR: BAR\\d \\(bus 0x[0-9a-f]+\\), backed by ${shm}/scratch\\.mem at offset 0x[0-9a-f]+$`));
    expect(r.stdout).toContain('magic         0x4d444550 (PEDM)');
    expect(r.stdout).toContain('channels: 4 write, 4 read');
    // No host attached yet: H and R are both clear (the handshake starts when one probes).
    expect(r.stdout).toContain('H host request 0');
    expect(r.stdout).toContain('R ready        0');
  }, 60_000);

  it('14: the README links to docs/ that ship with the package, never to ../shared', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    expect(readme).not.toContain('../shared');
    const links = [...readme.matchAll(/\]\((docs\/[^)#]+)/g)].map((m) => m[1]!);
    for (const doc of ['docs/register-map.md', 'docs/metadata-format.md', 'docs/handshake.md', 'docs/cli.md', 'docs/tracing.md']) expect(links).toContain(doc);
    for (const link of links) expect(existsSync(join(root, link)), link).toBe(true);
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { files: string[] };
    expect(pkg.files).toContain('docs');
  });

  it('15: bench --out FILE writes there and nothing into the current directory', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'epdma-bench-cwd-'));
    try {
      const out = join(dir, 'bench.json');
      const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const c = spawn(process.execPath, [CLI, 'bench', '--smoke', '--reps', '1', '--only', 'idle', '--out', out], { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
        let stderr = '';
        c.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        c.on('close', (code) => resolve({ code, stderr }));
      });
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(readFileSync(out, 'utf8')).scenarios[0].name).toBe('idle');
      expect(readdirSync(cwd)).toEqual([]);
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  }, 60_000);

  it('16 and 17: EIO carries a typed completion; a direction nothing is delegated for is ENODEV with the hint', async () => {
    const bed = await createTestbed();
    try {
      await expect(bed.host.dma.requestChannel({ direction: 'dev-to-mem' })).rejects.toMatchObject({
        code: 'ENODEV',
        message: expect.stringContaining('set function.wrChans'),
      });
      const chan = await bed.host.dma.requestChannel({ direction: 'mem-to-dev' });
      const src = bed.host.memory.alloc(4096);
      const outside = bed.endpoint.memory.base + bed.endpoint.memory.size + 0x10_0000;
      const err = await new Promise<unknown>((resolve) => {
        chan.transfer({ local: src, remote: outside, length: 4096 }).subscribe({ error: resolve, complete: () => resolve(undefined) });
      });
      expect(err).toBeInstanceOf(EpdmaError);
      const e = err as EpdmaError;
      expect(e.code).toBe('EIO');
      expect(e.completion).toMatchObject({ result: 'write-failed', channel: chan.info, bytes: 0, residue: 0 }); // residue: the chunk had started
      expect(e.detail).toBe(e.completion);
      await chan.release();
    } finally {
      await bed.close();
    }
  }, 60_000);

  it('18: the demo explains its first lines, one line of plain words per term', async () => {
    const r = await runCli(['demo', '--seconds', '0.3'], 60_000);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.split('\n');
    const at = lines.indexOf('  what that says:');
    expect(at).toBe(2);
    const terms = lines.slice(at + 1, at + 7).map((l) => l.slice(2, 17).trim());
    expect(terms).toEqual(['0x1234:0x5678', 'class 080100', 'metadata rev 1', 'unroll', '0 wr + 4 rd', 'READY=1']);
    for (const l of lines.slice(at + 1, at + 7)) expect(l.slice(18).length).toBeGreaterThan(20);
  }, 70_000);
});
