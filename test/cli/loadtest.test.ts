/**
 * `epdma loadtest` as a user runs it: the built CLI in a child process on an in-process
 * testbed. --json prints the final LoadProgress, --html writes a report with its charts, and a
 * bad flag exits non-zero with the flag named (before any worker starts).
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LoadProgress } from '../../dist/api/index.js';
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

describe('epdma loadtest', () => {
  it('--json prints the final progress: every transfer done and verified, exit 0', async () => {
    const r = await runCli(['loadtest', '--iterations', '20', '--size', '4k', '--depth', '2', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const p = JSON.parse(r.stdout) as LoadProgress;
    expect(p.final).toBe(true);
    expect(p.errors).toBe(0);
    expect(p.mismatches).toBe(0);
    // Default testbed: host/rd0..3 and endpoint/wr0..3, 20 transfers each.
    expect(p.channels.map((c) => c.name)).toEqual(['host/rd0', 'host/rd1', 'host/rd2', 'host/rd3', 'endpoint/wr0', 'endpoint/wr1', 'endpoint/wr2', 'endpoint/wr3']);
    expect(p.transfers).toBe(8 * 20);
    expect(p.bytes).toBe(8 * 20 * 4096);
    for (const c of p.channels) expect(c).toMatchObject({ transfers: 20, bytes: 20 * 4096, errors: 0, mismatches: 0 });
    expect(r.stderr).not.toMatch(/mismatch:|error:/);
  });

  it('--html FILE writes one report with its SVG charts; the table goes to stdout', async () => {
    const file = join(dir, 'report.html');
    const r = await runCli(['loadtest', '--side', 'host', '--iterations', '10', '--size', '1k-8k', '--depth', '2', '--html', file]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`report written to ${file}`);
    expect(r.stdout).toContain('host/rd0');
    expect(r.stdout).not.toContain('endpoint/wr0');
    const html = await readFile(file, 'utf8');
    expect(html).toContain('<svg');
    expect(html).toContain('host/rd3');
  });

  it.each([
    [['--bogus'], '--bogus'],
    [['--depth', 'deep'], '--depth'],
    [['--iterations', '5', '--duration', '1s'], '--duration'],
  ])('%j exits non-zero naming %s, before any output', async (args, name) => {
    const r = await runCli(['loadtest', ...args]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(name);
    expect(r.stderr).toMatch(/^epdma: EINVAL: /);
    expect(r.stdout).toBe('');
  });

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
  ])('%j is EINVAL naming %s', async (args, name) => {
    await expectRejects(runLoadtest(args), 'EINVAL', name, args.at(-1)!.replace(/^--json=/, ''));
  });

  it('--quirks dw-edma: the kernel driver\'s semantics, every transfer verified', async () => {
    const r = await runCli(['loadtest', '--side', 'endpoint', '--iterations', '10', '--size', '4k', '--depth', '2', '--quirks', 'dw-edma', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const p = JSON.parse(r.stdout) as LoadProgress;
    expect(p).toMatchObject({ final: true, errors: 0, mismatches: 0, transfers: 4 * 10 });
  });

  it('a value loadTest refuses (depth 0) exits non-zero naming it', async () => {
    const r = await runCli(['loadtest', '--depth', '0', '--iterations', '1']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/depth 0/);
  });
});
