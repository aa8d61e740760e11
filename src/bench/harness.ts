/**
 * The bench harness: repetitions with a warmup and a median, the result entry written to
 * bench/results/latest.json, the machine description, CPU clocks and the table printer.
 *
 * Medians, not means: on a 2-core machine one repetition that shares its cores with a GC pause or
 * a late worker start is an outlier in one direction only, and a median ignores it.
 */
import { readFileSync } from 'node:fs';

/** One row of the report: epdma against its peers for one metric of one scenario. */
export interface BenchEntry {
  /** The scenario, with its variant after a slash: 'copy-bandwidth/1ch/64KiB', 'latency'. */
  name: string;
  /** 'bandwidth', 'ops', 'p50', 'p99', 'throughput', 'cpu-per-gib', 'cpu'. */
  metric: string;
  /** 'bytes/s', 'ops/s', 'us', 'ms', '%'. */
  unit: string;
  /** null when epdma's measurement is missing or failed; `note` says why. */
  epdma: number | null;
  /** Peer name (what it is: 'piscina', 'main-thread-set', ...) -> median value. */
  peers: Record<string, number>;
  /** Bandwidth entries: the JS copy limit on shared memory measured in the same run. */
  limit?: number;
  /** Why a value is missing, or what a peer's setup was, in one line. */
  note?: string;
}


import type { MachineInfo } from '../api/machine-info.js';

export interface BenchReport {
  machine: MachineInfo;
  node: string;
  date: string;
  scenarios: BenchEntry[];
}


export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  // A typed array sorts -0 before +0, so equal values in another order give the same median.
  const sorted = Float64Array.from(values).sort();
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Nearest-rank percentile (0 < p <= 100) of values already sorted ascending. */
export function percentileSorted(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

/** p50 and p99 in microseconds of latency samples given in milliseconds (performance.now()). */
export function latencyPercentiles(samplesMs: Float64Array): { p50Us: number; p99Us: number } {
  const sorted = Float64Array.from(samplesMs).sort();
  return { p50Us: percentileSorted(sorted, 50) * 1000, p99Us: percentileSorted(sorted, 99) * 1000 };
}

export interface RepeatOptions {
  reps: number;
  /** Runs once before the measured repetitions and is thrown away (JIT, thread start, caches). */
  warmup?: boolean;
}

/** Runs `measure` reps times (plus a warmup run) and returns every repetition's value. */
export async function repeat<T>(options: RepeatOptions, measure: (rep: number) => Promise<T>): Promise<T[]> {
  if (options.warmup ?? true) await measure(-1);
  const values: T[] = [];
  for (let rep = 0; rep < options.reps; rep++) values.push(await measure(rep));
  return values;
}

/** The median of `reps` repetitions of `measure`, after a warmup run. */
export async function medianOf(options: RepeatOptions, measure: (rep: number) => Promise<number>): Promise<number> {
  return median(await repeat(options, measure));
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * CPU time of the calling thread in ns. Linux: /proc/thread-self/schedstat (ns resolution; read
 * synchronously, so it is this JS thread, not a libuv pool thread). Elsewhere the process-wide
 * process.cpuUsage(), which also counts worker threads; `threadCpuIsExact` says which one it is.
 */
export function threadCpuTimeNs(): number {
  if (threadCpuIsExact) {
    const text = readFileSync('/proc/thread-self/schedstat', 'latin1');
    return Number(text.slice(0, text.indexOf(' ')));
  }
  const usage = process.cpuUsage();
  return (usage.user + usage.system) * 1000;
}

const threadCpuIsExact: boolean = (() => {
  try {
    const text = readFileSync('/proc/thread-self/schedstat', 'latin1');
    return Number(text.slice(0, text.indexOf(' '))) > 0;
  } catch {
    return false;
  }
})();

/** CPU time of the whole process (every thread) in microseconds. */
export function processCpuTimeUs(): number {
  const usage = process.cpuUsage();
  return usage.user + usage.system;
}

/** Metrics where smaller is better: the table's ratio is then best-peer/epdma. */
const LOWER_IS_BETTER: ReadonlySet<string> = new Set(['p50', 'p99', 'cpu-per-gib', 'cpu']);

function lowerIsBetter(entry: Pick<BenchEntry, 'metric'>): boolean {
  return LOWER_IS_BETTER.has(entry.metric);
}

/**
 * epdma against the best peer, oriented so that > 1 always means epdma is better:
 * epdma/best-peer for rates, best-peer/epdma for latency and CPU. null without both values.
 */
export function ratioToBestPeer(entry: BenchEntry): { ratio: number; formula: string } | null {
  const values = Object.values(entry.peers).filter(Number.isFinite);
  if (entry.epdma === null || !Number.isFinite(entry.epdma) || values.length === 0) return null;
  if (lowerIsBetter(entry)) {
    const best = Math.min(...values);
    return { ratio: entry.epdma === 0 ? (best === 0 ? 1 : Infinity) : best / entry.epdma, formula: 'best-peer/epdma' };
  }
  const best = Math.max(...values);
  return { ratio: best === 0 ? Infinity : entry.epdma / best, formula: 'epdma/best-peer' };
}

/** 3 significant digits with an SI prefix: 5.21G, 812k, 43.1, 0.120. */
export function formatValue(value: number | null | undefined): string {
  if (value === null || value === undefined) return '-';
  if (!Number.isFinite(value)) return String(value);
  const abs = Math.abs(value);
  const prefixes: Array<[number, string]> = [[1e12, 'T'], [1e9, 'G'], [1e6, 'M'], [1e3, 'k']];
  for (const [scale, prefix] of prefixes) {
    if (abs >= scale) return `${(value / scale).toPrecision(3)}${prefix}`;
  }
  return abs === 0 ? '0' : value.toPrecision(3);
}

/**
 * The report as a text table: one row per entry, one column per peer name seen anywhere (a peer
 * that does not take part in an entry shows '-'), the ratio to the best peer with its direction,
 * and the copy limit. Notes follow the table, numbered.
 */
export function formatTable(report: BenchReport): string {
  const peerNames: string[] = [];
  for (const entry of report.scenarios) {
    for (const name of Object.keys(entry.peers)) if (!peerNames.includes(name)) peerNames.push(name);
  }
  const header = ['scenario', 'metric', 'unit', 'epdma', ...peerNames, 'ratio', 'limit'];
  const notes: string[] = [];
  const rows = report.scenarios.map((entry) => {
    const ratio = ratioToBestPeer(entry);
    let name = entry.name;
    if (entry.note !== undefined) {
      // The same note on several rows (no hooks at all, say) is printed once.
      if (!notes.includes(entry.note)) notes.push(entry.note);
      name += ` [${notes.indexOf(entry.note) + 1}]`;
    }
    return [
      name,
      entry.metric,
      entry.unit,
      formatValue(entry.epdma),
      ...peerNames.map((peer) => formatValue(entry.peers[peer])),
      ratio === null ? '-' : `${ratio.ratio.toFixed(2)}x ${ratio.formula === 'epdma/best-peer' ? '(e/p)' : '(p/e)'}`,
      formatValue(entry.limit),
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string =>
    cells.map((c, i) => (i < 3 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  const m = report.machine;
  const out = [
    `epdma bench  ${report.date}  node ${report.node}  ${m.cpu}, ${m.cores} cores, ${(m.memoryBytes / 2 ** 30).toFixed(1)} GiB`,
    '',
    line(header),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.map(line),
    '',
    'ratio: > 1 means epdma is better; (e/p) = epdma/best-peer for rates, (p/e) = best-peer/epdma for latency and CPU.',
    'limit: the best JS copy (TypedArray.set on shared memory: main thread, 1 or 2 workers) in this run.',
    ...notes.map((note, i) => `[${i + 1}] ${note}`),
  ];
  return `${out.join('\n')}\n`;
}
