/**
 * `epdma bench` (and `npm run bench`): epdma against its peers in one process run, medians over
 * repetitions, printed as a table (and written as JSON with --out FILE).
 *
 *   --quick          2 repetitions of 250 ms: the whole run, epdma included, stays under 90 s
 *   --reps N         repetitions per measurement (default 5, quick 2)
 *   --only A,B       only these scenarios (copy-bandwidth, small-ops, latency, ntb, idle)
 *   --out FILE       also write the JSON report there (npm run bench: bench/results/latest.json)
 *   --json           print the JSON report instead of the table
 *   --smoke          every duration about 100 ms, for tests (also EPDMA_BENCH_SMOKE=1)
 *
 * epdma's measurements come from dist/bench/epdma-hooks.js, loaded on demand: when it is missing
 * or fails to load, every entry keeps its peers and records epdma as null with a note.
 */
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatTable, type BenchReport } from '../bench/harness.js';
import { machineInfo } from '../api/machine-info.js';
import {
  FULL_SETTINGS,
  QUICK_SETTINGS,
  SCENARIO_NAMES,
  SMOKE_SETTINGS,
  runScenarios,
  type BenchSettings,
  type EpdmaBenchHooks,
  type ScenarioName,
} from '../bench/scenarios.js';
import { parseCountIn } from './args.js';
import { optionValue, parseCommand, UsageError } from './command.js';
import { checkOutputFile } from './output-files.js';

const HOOKS_URL = new URL('../bench/epdma-hooks.js', import.meta.url);

const HELP = `usage: epdma bench [--quick] [--reps N] [--only SCENARIO,...] [--out FILE] [--json]
Runs every scenario for epdma and its peers (piscina, comlink, postMessage, main-thread copies)
in this process, repeats it and prints medians and the ratio to the best peer.

  --quick        2 repetitions of 250 ms (the whole run stays under 90 s)
  --reps N       repetitions per measurement, 1..100 (default 5, --quick 2)
  --only LIST    only these scenarios: ${SCENARIO_NAMES.join(', ')}
  --out FILE     also write the JSON report to FILE (checked before the run)
  --json         print the JSON report instead of the table
  --smoke        every duration about 100 ms, for tests (also EPDMA_BENCH_SMOKE=1)`;

const SPEC = {
  name: 'bench',
  summary: 'epdma against its peers',
  help: HELP,
  options: {
    quick: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    smoke: { type: 'boolean', default: false },
    out: { type: 'string' },
    only: { type: 'string' },
    reps: { type: 'string' },
  },
} as const;

function parseOnly(text: string | undefined): ScenarioName[] {
  if (text === undefined) return [...SCENARIO_NAMES];
  const names = text.split(',').map((n) => n.trim()).filter((n) => n !== '');
  for (const name of names) {
    if (!(SCENARIO_NAMES as readonly string[]).includes(name)) {
      throw new UsageError(`--only: unknown scenario ${JSON.stringify(name)} (one of ${SCENARIO_NAMES.join(', ')})`);
    }
  }
  if (names.length === 0) throw new UsageError(`--only: ${JSON.stringify(text)} names no scenario`);
  return names as ScenarioName[];
}

/** Loads epdma's hooks, or says in one line why there are none. */
export async function loadEpdmaHooks(url: URL = HOOKS_URL): Promise<{ hooks: EpdmaBenchHooks | null; note?: string }> {
  if (!existsSync(fileURLToPath(url))) return { hooks: null, note: 'no hooks (src/bench/epdma-hooks.ts is not built)' };
  let mod: { createEpdmaBenchHooks?: unknown };
  try {
    mod = (await import(url.href)) as { createEpdmaBenchHooks?: unknown };
  } catch (err) {
    return { hooks: null, note: `hooks failed to load: ${err instanceof Error ? err.message : String(err)}` };
  }
  if (typeof mod.createEpdmaBenchHooks !== 'function') {
    return { hooks: null, note: 'epdma-hooks.js does not export createEpdmaBenchHooks()' };
  }
  try {
    return { hooks: (await (mod.createEpdmaBenchHooks as () => EpdmaBenchHooks | Promise<EpdmaBenchHooks>)()) };
  } catch (err) {
    return { hooks: null, note: `createEpdmaBenchHooks() failed: ${err instanceof Error ? err.message : String(err)}` };
  }
}

export async function runBench(args: string[]): Promise<number> {
  const parsed = parseCommand(SPEC, args);
  if (parsed === null) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const flags = parsed.values;
  const only = parseOnly(flags.only);
  const out = flags.out === undefined ? undefined : resolve(flags.out);
  if (out !== undefined) await checkOutputFile('--out', out);
  const smoke = flags.smoke || process.env['EPDMA_BENCH_SMOKE'] === '1';
  const base = smoke ? SMOKE_SETTINGS : flags.quick ? QUICK_SETTINGS : FULL_SETTINGS;
  const settings: BenchSettings = { ...base };
  if (flags.reps !== undefined) settings.reps = optionValue('--reps', () => parseCountIn(flags.reps!, '--reps', 1, 100));

  const log = (line: string): void => {
    process.stderr.write(`bench: ${line}\n`);
  };
  const loaded = await loadEpdmaHooks();
  if (loaded.hooks === null) log(`epdma values will be null: ${loaded.note}`);
  const failures: string[] = [];
  const date = new Date().toISOString();
  let scenarios;
  try {
    scenarios = await runScenarios(
      { settings, hooks: loaded.hooks, ...(loaded.note !== undefined && { hooksNote: loaded.note }), log, failures },
      only,
    );
  } finally {
    await loaded.hooks?.close?.();
  }

  const report: BenchReport = { machine: machineInfo(), node: process.version, date, scenarios };
  if (out !== undefined) await writeFile(out, `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(flags.json ? `${JSON.stringify(report, null, 2)}\n` : formatTable(report));
  if (!flags.json && out !== undefined) process.stdout.write(`written to ${out}\n`);
  for (const failure of failures) process.stderr.write(`bench: peer failed: ${failure}\n`);
  return failures.length === 0 ? 0 : 1;
}
