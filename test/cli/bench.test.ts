import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadEpdmaHooks, runBench } from '../../dist/cli/bench.js';

// A smoke run: every duration about 100 ms. It checks the report's shape, never a speed.
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'epdma-bench-'));
  vi.stubEnv('EPDMA_BENCH_SMOKE', '1');
});
afterAll(async () => {
  vi.unstubAllEnvs();
  await rm(dir, { recursive: true, force: true });
});

/** Runs runBench with stdout and stderr captured, so the table does not flood the test output. */
async function quietly(args: string[]): Promise<{ code: number; stdout: string }> {
  let stdout = '';
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout += String(chunk);
    return true;
  });
  const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    return { code: await runBench(args), stdout };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}

// Each run starts the bench's worker peers: seconds alone, far more on a loaded 2-core machine.
describe('runBench (smoke)', { timeout: 120_000 }, () => {
  it('writes small-ops and latency entries with every peer, and prints the table', async () => {
    const file = join(dir, 'latest.json');
    const { code, stdout } = await quietly(['--quick', '--reps', '1', '--out', file, '--only', 'small-ops,latency']);
    expect(code).toBe(0);

    const report = JSON.parse(await readFile(file, 'utf8'));
    expect(Object.keys(report).sort()).toEqual(['date', 'machine', 'node', 'scenarios']);
    expect(report.node).toBe(process.version);
    expect(Number.isNaN(Date.parse(report.date))).toBe(false);
    expect(typeof report.machine.cpu).toBe('string');
    expect(report.machine.cores).toBeGreaterThan(0);
    expect(report.machine.memoryBytes).toBeGreaterThan(0);

    expect(report.scenarios.map((e: { name: string; metric: string; unit: string }) => [e.name, e.metric, e.unit])).toEqual([
      ['small-ops', 'ops', 'ops/s'],
      ['latency', 'p50', 'us'],
      ['latency', 'p99', 'us'],
    ]);
    for (const entry of report.scenarios) {
      expect(Object.keys(entry.peers).sort()).toEqual(['comlink', 'piscina', 'postMessage']);
      for (const value of Object.values(entry.peers)) {
        expect(typeof value).toBe('number');
        expect(value as number).toBeGreaterThan(0);
      }
      // epdma's hooks are the lead's: a number when they exist, else null with the reason.
      if (entry.epdma === null) expect(entry.note).toMatch(/epdma/);
      else expect(typeof entry.epdma).toBe('number');
      expect(entry).not.toHaveProperty('limit');
    }

    for (const column of ['scenario', 'metric', 'unit', 'epdma', 'piscina', 'comlink', 'postMessage', 'ratio', 'limit']) {
      expect(stdout).toContain(column);
    }
    expect(stdout).toContain(`written to ${file}`);
  });

  it('prints the JSON report with --json', async () => {
    const file = join(dir, 'json.json');
    const { code, stdout } = await quietly(['--reps', '1', '--json', '--out', file, '--only', 'idle']);
    expect(code).toBe(0);
    const printed = JSON.parse(stdout);
    expect(printed).toEqual(JSON.parse(await readFile(file, 'utf8')));
    expect(printed.scenarios).toHaveLength(1);
    expect(printed.scenarios[0]).toMatchObject({ name: 'idle', metric: 'cpu', unit: '%' });
    expect(typeof printed.scenarios[0].peers['parked-workers']).toBe('number');
  });

  it('rejects unknown scenarios, bad repetition counts and stray arguments', async () => {
    await expect(runBench(['--only', 'small-ops,bogus'])).rejects.toThrow(/--only: unknown scenario "bogus"/);
    await expect(runBench(['--reps', '0'])).rejects.toThrow(/--reps/);
    await expect(runBench(['--reps', 'many'])).rejects.toThrow(/--reps "many" is not a whole number/);
    await expect(runBench(['--reps', '101'])).rejects.toThrow(/--reps 101 is out of range 1..100/);
    await expect(runBench(['fast'])).rejects.toThrow(/unexpected argument "fast"/);
  });
});

describe('loadEpdmaHooks', () => {
  async function module(name: string, text: string): Promise<URL> {
    const file = join(dir, name);
    await writeFile(file, text);
    return pathToFileURL(file);
  }

  it('says why there are no hooks instead of throwing', async () => {
    expect(await loadEpdmaHooks(pathToFileURL(join(dir, 'absent.mjs')))).toEqual({
      hooks: null,
      note: 'no hooks (src/bench/epdma-hooks.ts is not built)',
    });
    const broken = await module('broken.mjs', "import { nothing } from './absent.mjs';\n");
    expect((await loadEpdmaHooks(broken)).note).toMatch(/^hooks failed to load: .*absent\.mjs/);
    const noFactory = await module('no-factory.mjs', 'export const hooks = {};\n');
    expect(await loadEpdmaHooks(noFactory)).toEqual({ hooks: null, note: 'epdma-hooks.js does not export createEpdmaBenchHooks()' });
    const throwing = await module('throwing.mjs', "export async function createEpdmaBenchHooks() { throw new Error('no memory'); }\n");
    expect(await loadEpdmaHooks(throwing)).toEqual({ hooks: null, note: 'createEpdmaBenchHooks() failed: no memory' });
  });

  it('returns what createEpdmaBenchHooks() resolves to', async () => {
    const good = await module('good.mjs', 'export async function createEpdmaBenchHooks() { return { smallOps: async () => 42 }; }\n');
    const { hooks, note } = await loadEpdmaHooks(good);
    expect(note).toBeUndefined();
    expect(await hooks!.smallOps({ depth: 32, durationMs: 1 })).toBe(42);
  });
});
