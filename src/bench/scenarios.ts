/**
 * The bench scenarios. Each one measures its peers (started for the scenario, closed after
 * it) and then epdma through a pluggable hook, with the same sizes, depth and delivery, in the
 * same process run, and returns report entries with medians over the repetitions.
 *
 * epdma's side lives in src/bench/epdma-hooks.ts, which exports
 * `createEpdmaBenchHooks(): EpdmaBenchHooks | Promise<EpdmaBenchHooks>`. Without it (or when a
 * hook throws) the entry keeps its peers and records epdma as null with a note.
 */
import { medianOf, latencyPercentiles, median, repeat, type BenchEntry } from './harness.js';
import { CPU_COPY, MAIN_THREAD_SET, MainThreadCopier } from './peers/main-thread-set.js';
import { PARKED_WORKERS, WorkerCopyGroup, measureParkedWorkersCpu, workerSetName } from './peers/worker-set.js';
import { PISCINA, PISCINA_CONCURRENCY, createPiscinaPeer } from './peers/piscina-peer.js';
import { COMLINK, createComlinkPeer } from './peers/comlink-peer.js';
import { POST_MESSAGE, createPostMessagePeer } from './peers/postmessage-peer.js';
import { measurePipelined, measureRoundTrips, type SmallCopyPeer } from './peers/small-copy-peer.js';

export interface NtbBenchOptions {
  /** Bytes per payload (64 KiB). */
  payload: number;
  /** Payloads in flight through the queue pair. */
  depth: number;
  durationMs: number;
  /** false: the same transport moving payload with CPU copies in the piscina pool (default true). */
  useDma?: boolean;
}

export interface NtbBenchResult {
  /** Payload bytes delivered per second. */
  bytesPerSec: number;
  /** Main-thread CPU time per GiB moved, in ms (harness.threadCpuTimeNs() measures it). */
  mainThreadCpuMsPerGiB: number;
}

/** epdma's measurement per scenario; one call is one repetition, the harness takes medians. */
export interface EpdmaBenchHooks {
  /** `size`-byte transfers, `depth` in flight per channel, for about durationMs; bytes/s. */
  copyBandwidth(opts: { channels: 1 | 'all'; size: number; depth: number; durationMs: number }): Promise<number>;
  /** 64-byte transfers on one channel, `depth` in flight, delivered to an RxJS subscriber; ops/s. */
  smallOps(opts: { depth: number; durationMs: number }): Promise<number>;
  /** small-ops consumed through the side's `completionBatches$`, one issuePending per batch; ops/s. */
  smallOpsBatch?(opts: { depth: number; durationMs: number }): Promise<number>;
  /** `epdma loadtest` with its default settings for durationMs; verified (or not) bytes/s. */
  loadTest?(opts: { verify: boolean; durationMs: number }): Promise<number>;
  /** One 64-byte transfer in flight, submit -> subscriber, `samples` times. */
  latency(opts: { samples: number }): Promise<{ p50Us: number; p99Us: number }>;
  /** 64 KiB payloads through an NTB queue pair moved by DMA. */
  ntb?(opts: NtbBenchOptions): Promise<NtbBenchResult>;
  /** CPU % of one core used by an idle testbed with `channels` channels over durationMs. */
  idle(opts: { durationMs: number; channels: number }): Promise<number>;
  /**
   * Called after epdma's measurements of each scenario: close the testbed (or whatever the
   * scenario started) here, so that the next scenario's peers (and the idle floor, which
   * measures the whole process's CPU) do not run beside epdma's channel workers.
   */
  afterScenario?(name: ScenarioName): Promise<void>;
  /** Called once after the last scenario. */
  close?(): Promise<void>;
}

export const SCENARIO_NAMES = ['copy-bandwidth', 'small-ops', 'small-ops-batch', 'latency', 'ntb', 'loadtest', 'idle'] as const;
export type ScenarioName = (typeof SCENARIO_NAMES)[number];

export interface BenchSettings {
  /** Repetitions per measurement (the median is reported). */
  reps: number;
  /** Whether each measurement is preceded by a discarded warmup run. */
  warmup: boolean;
  /** Duration of one bandwidth / small-ops / ntb repetition. */
  durationMs: number;
  /** Round trips per latency repetition. */
  latencySamples: number;
  /** Duration of one idle repetition. */
  idleMs: number;
  /**
   * Least duration of the all-channels copy's warmup run (fio's ramp_time): each of the 8
   * channel workers' JIT gets an eighth of a core, so their rate climbs for ~2.5 s on this
   * project's 2-core machine, and a warmup as short as one repetition left the first measured
   * ones cold.
   */
  allChannelsRampMs: number;
}

export const FULL_SETTINGS: BenchSettings = { reps: 5, warmup: true, durationMs: 1000, latencySamples: 5000, idleMs: 2000, allChannelsRampMs: 3000 };
/** About 25 s of peers on 2 cores, leaving the rest of the 90 s budget to epdma. */
export const QUICK_SETTINGS: BenchSettings = { reps: 2, warmup: true, durationMs: 250, latencySamples: 1000, idleMs: 2000, allChannelsRampMs: 1000 };
/** Every duration about 100 ms: for tests of the harness, the numbers mean nothing. */
export const SMOKE_SETTINGS: BenchSettings = { reps: 1, warmup: false, durationMs: 100, latencySamples: 200, idleMs: 100, allChannelsRampMs: 0 };

const COPY_SIZES = [64 * 1024, 1024 * 1024] as const;
const COPY_DEPTH = 16;
const SMALL_OPS_DEPTH = 32;
const NTB_PAYLOAD = 64 * 1024;
const NTB_DEPTH = 16;
const IDLE_CHANNELS = 8;

export interface ScenarioContext {
  settings: BenchSettings;
  /** null when the hooks could not be loaded; `hooksNote` says why. */
  hooks: EpdmaBenchHooks | null;
  hooksNote?: string;
  /** Progress lines (stderr in the CLI). */
  log(line: string): void;
  /** Filled with one line per peer measurement that failed (its value is left out). */
  failures: string[];
}

/** Base deadline of one epdma hook call (plus 10x the scenario's duration). */
const EPDMA_CALL_TIMEOUT_MS = 30_000;

const sizeLabel = (bytes: number): string => (bytes >= 1 << 20 ? `${bytes / (1 << 20)}MiB` : `${bytes / 1024}KiB`);
const errorText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** The median of epdma's repetitions, or null and why. Results that are not finite count as failures. */
async function epdma<T>(
  ctx: ScenarioContext,
  what: string,
  pick: (hooks: EpdmaBenchHooks) => ((rep: number) => Promise<T>) | undefined,
): Promise<{ values: T[] | null; note?: string }> {
  if (ctx.hooks === null) return { values: null, note: `epdma: ${ctx.hooksNote ?? 'no hooks'}` };
  const measure = pick(ctx.hooks);
  if (measure === undefined) return { values: null, note: `epdma: the hooks define no ${what}()` };
  ctx.log(`epdma ${what}`);
  // A hook that never settles must not hang the whole run: each call gets a generous deadline.
  const limitMs = EPDMA_CALL_TIMEOUT_MS + 10 * Math.max(ctx.settings.durationMs, ctx.settings.idleMs);
  const bounded = (rep: number): Promise<T> => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`did not finish within ${limitMs} ms`)), limitMs);
    });
    return Promise.race([measure(rep), timeout]).finally(() => clearTimeout(timer));
  };
  try {
    return { values: await repeat(ctx.settings, bounded) };
  } catch (err) {
    return { values: null, note: `epdma ${what}: ${errorText(err)}` };
  }
}

function finiteMedian(values: number[] | null, what: string): { value: number | null; note?: string } {
  if (values === null) return { value: null };
  if (!values.every(Number.isFinite)) return { value: null, note: `epdma ${what}: returned ${values.join(', ')}` };
  return { value: median(values) };
}

/** Runs one peer measurement; a failure is logged, recorded in ctx.failures and leaves the peer out. */
async function peer(ctx: ScenarioContext, peers: Record<string, number>, name: string, measure: () => Promise<number>): Promise<void> {
  ctx.log(`peer ${name}`);
  try {
    peers[name] = await measure();
  } catch (err) {
    ctx.failures.push(`${name}: ${errorText(err)}`);
    ctx.log(`peer ${name} FAILED: ${errorText(err)}`);
  }
}

function entry(fields: Omit<BenchEntry, 'note'>, ...notes: Array<string | undefined>): BenchEntry {
  const text = notes.filter((n): n is string => n !== undefined).join('; ');
  return text === '' ? fields : { ...fields, note: text };
}

/** 1. Bulk copies: epdma with 1 and all channels against the JS copy limit (main thread, 1 and 2 workers). */
async function copyBandwidth(ctx: ScenarioContext): Promise<BenchEntry[]> {
  const { settings } = ctx;
  const entries: BenchEntry[] = [];
  for (const size of COPY_SIZES) {
    const peers: Record<string, number> = {};
    ctx.log(`copy-bandwidth ${sizeLabel(size)}`);
    await peer(ctx, peers, MAIN_THREAD_SET, () => {
      const copier = new MainThreadCopier(size, COPY_DEPTH);
      return medianOf(settings, async () => copier.bandwidth(settings.durationMs));
    });
    for (const workers of [1, 2]) {
      await peer(ctx, peers, workerSetName(workers), async () => {
        const group = await WorkerCopyGroup.start(workers);
        try {
          await group.configure(size, COPY_DEPTH);
          return await medianOf(settings, () => group.bandwidth(settings.durationMs));
        } finally {
          await group.close();
        }
      });
    }
    const values = Object.values(peers);
    const limit = values.length > 0 ? Math.max(...values) : undefined;
    for (const channels of [1, 'all'] as const) {
      const what = `copyBandwidth(${channels === 1 ? '1 channel' : 'all channels'}, ${sizeLabel(size)})`;
      // The warmup run (rep -1) of all channels lasts at least the ramp.
      const rampMs = channels === 'all' && settings.warmup ? Math.max(settings.durationMs, settings.allChannelsRampMs) : 0;
      const run = await epdma(ctx, what, (h) => (rep) =>
        h.copyBandwidth({ channels, size, depth: COPY_DEPTH, durationMs: rep < 0 && rampMs > 0 ? rampMs : settings.durationMs }));
      const result = finiteMedian(run.values, what);
      const fields: Omit<BenchEntry, 'note'> = {
        name: `copy-bandwidth/${channels === 1 ? '1ch' : 'all-ch'}/${sizeLabel(size)}`,
        metric: 'bandwidth',
        unit: 'bytes/s',
        epdma: result.value,
        peers: { ...peers },
      };
      if (limit !== undefined) fields.limit = limit;
      entries.push(entry(fields, run.note, result.note, rampMs > 0 ? `warmup ${rampMs} ms` : undefined));
    }
  }
  return entries;
}

/** The small-ops and latency peers, each created for one measurement and closed after it. */
const smallCopyPeers: Array<{ name: string; create: () => SmallCopyPeer; depth: number }> = [
  { name: PISCINA, create: () => createPiscinaPeer({ slots: PISCINA_CONCURRENCY }), depth: PISCINA_CONCURRENCY },
  { name: COMLINK, create: () => createComlinkPeer(SMALL_OPS_DEPTH), depth: SMALL_OPS_DEPTH },
  { name: POST_MESSAGE, create: () => createPostMessagePeer(SMALL_OPS_DEPTH), depth: SMALL_OPS_DEPTH },
];

/** Creates the peer, runs `use` on it and closes it, whatever happens. */
async function withPeer<T>(create: () => SmallCopyPeer, use: (p: SmallCopyPeer) => Promise<T>): Promise<T> {
  const p = create();
  try {
    return await use(p);
  } finally {
    await p.close();
  }
}

/** 2. 64-byte transfers, depth 32, to a subscriber: epdma against piscina, comlink and postMessage. */
async function smallOps(ctx: ScenarioContext): Promise<BenchEntry[]> {
  const { settings } = ctx;
  const peers: Record<string, number> = {};
  for (const { name, create, depth } of smallCopyPeers) {
    await peer(ctx, peers, name, () =>
      withPeer(create, (p) => medianOf(settings, () => measurePipelined(p, depth, settings.durationMs))));
  }
  const what = 'smallOps';
  const run = await epdma(ctx, what, (h) => () => h.smallOps({ depth: SMALL_OPS_DEPTH, durationMs: settings.durationMs }));
  const result = finiteMedian(run.values, what);
  return [entry({ name: 'small-ops', metric: 'ops', unit: 'ops/s', epdma: result.value, peers }, run.note, result.note)];
}

/** 2b. small-ops through the batch stream a high-rate client would use, against the same peers. */
async function smallOpsBatch(ctx: ScenarioContext): Promise<BenchEntry[]> {
  const { settings } = ctx;
  const peers: Record<string, number> = {};
  for (const { name, create, depth } of smallCopyPeers) {
    await peer(ctx, peers, name, () =>
      withPeer(create, (p) => medianOf(settings, () => measurePipelined(p, depth, settings.durationMs))));
  }
  const what = 'smallOpsBatch';
  const run = await epdma(ctx, what, (h) => h.smallOpsBatch ? () => h.smallOpsBatch!({ depth: SMALL_OPS_DEPTH, durationMs: settings.durationMs }) : undefined);
  const result = finiteMedian(run.values, what);
  return [entry({ name: 'small-ops-batch', metric: 'ops', unit: 'ops/s', epdma: result.value, peers }, run.note, result.note)];
}

/** Peer names of the loadtest scenario: the other mode of the same run. */
const LOADTEST_NO_VERIFY = 'loadtest/no-verify';

/**
 * 6. `epdma loadtest` with its defaults (8 channels, 64 KiB, depth 16) for 3 s (a full run; shorter
 * in quick runs), verified and not, in the same run: what verifying every byte costs. The
 * no-verify entry's peer is two workers copying the same size (worker-set-2), the copy limit.
 */
async function loadtest(ctx: ScenarioContext): Promise<BenchEntry[]> {
  const { settings } = ctx;
  const durationMs = 3 * settings.durationMs;
  const limit: Record<string, number> = {};
  await peer(ctx, limit, workerSetName(2), async () => {
    const group = await WorkerCopyGroup.start(2);
    try {
      await group.configure(COPY_SIZES[0], COPY_DEPTH);
      return await medianOf(settings, () => group.bandwidth(settings.durationMs));
    } finally {
      await group.close();
    }
  });
  const results: Record<'verify' | 'no-verify', { value: number | null; notes: Array<string | undefined> }> = {
    verify: { value: null, notes: [] }, 'no-verify': { value: null, notes: [] },
  };
  for (const verify of [false, true]) {
    const what = `loadTest(verify ${verify})`;
    const run = await epdma(ctx, what, (h) => h.loadTest ? () => h.loadTest!({ verify, durationMs }) : undefined);
    const result = finiteMedian(run.values, what);
    results[verify ? 'verify' : 'no-verify'] = { value: result.value, notes: [run.note, result.note] };
  }
  const noVerify = results['no-verify'];
  const verifyPeers: Record<string, number> = noVerify.value !== null ? { [LOADTEST_NO_VERIFY]: noVerify.value } : {};
  return [
    entry({ name: 'loadtest/verify', metric: 'throughput', unit: 'bytes/s', epdma: results.verify.value, peers: verifyPeers }, ...results.verify.notes),
    entry({ name: 'loadtest/no-verify', metric: 'throughput', unit: 'bytes/s', epdma: noVerify.value, peers: limit }, ...noVerify.notes),
  ];
}

/** 3. One 64-byte transfer in flight, submit -> subscriber: p50 and p99 against the peers' round trips. */
async function latency(ctx: ScenarioContext): Promise<BenchEntry[]> {
  const { settings } = ctx;
  const p50: Record<string, number> = {};
  const p99: Record<string, number> = {};
  for (const { name, create } of smallCopyPeers) {
    let p99Us = NaN;
    await peer(ctx, p50, name, async () => {
      const reps = await withPeer(create, (p) =>
        repeat(settings, async () => latencyPercentiles(await measureRoundTrips(p, settings.latencySamples))));
      p99Us = median(reps.map((r) => r.p99Us));
      return median(reps.map((r) => r.p50Us));
    });
    if (Number.isFinite(p99Us)) p99[name] = p99Us;
  }
  const what = 'latency';
  const run = await epdma(ctx, what, (h) => () => h.latency({ samples: settings.latencySamples }));
  const r50 = finiteMedian(run.values?.map((v) => v.p50Us) ?? null, what);
  const r99 = finiteMedian(run.values?.map((v) => v.p99Us) ?? null, what);
  return [
    entry({ name: 'latency', metric: 'p50', unit: 'us', epdma: r50.value, peers: p50 }, run.note, r50.note),
    entry({ name: 'latency', metric: 'p99', unit: 'us', epdma: r99.value, peers: p99 }, run.note, r99.note),
  ];
}

/** Peer name: the NTB transport itself with `useDma: false`. */
const NTB_CPU_COPIES = 'ntb-cpu-copies';

/**
 * 4. 64 KiB payloads through a queue pair by DMA, against the same payload moved by a
 * main-thread copy and through the same transport with CPU copies.
 */
async function ntb(ctx: ScenarioContext): Promise<BenchEntry[]> {
  const { settings } = ctx;
  const throughput: Record<string, number> = {};
  const cpu: Record<string, number> = {};
  let cpuMsPerGiB = NaN;
  await peer(ctx, throughput, CPU_COPY, async () => {
    const copier = new MainThreadCopier(NTB_PAYLOAD, NTB_DEPTH);
    const reps = await repeat(settings, async () => copier.throughputAndCpu(settings.durationMs));
    cpuMsPerGiB = median(reps.map((r) => r.cpuMsPerGiB));
    return median(reps.map((r) => r.bytesPerSec));
  });
  if (Number.isFinite(cpuMsPerGiB)) cpu[CPU_COPY] = cpuMsPerGiB;
  const what = 'ntb';
  const run = await epdma(ctx, what, (h) =>
    h.ntb ? () => h.ntb!({ payload: NTB_PAYLOAD, depth: NTB_DEPTH, durationMs: settings.durationMs }) : undefined);
  const rate = finiteMedian(run.values?.map((v) => v.bytesPerSec) ?? null, what);
  const perGiB = finiteMedian(run.values?.map((v) => v.mainThreadCpuMsPerGiB) ?? null, what);
  // The fair peer: the same queue pair with `useDma: false` (ntb_transport's memcpy path).
  const cpuRun = await epdma(ctx, `${what} (useDma false)`, (h) =>
    h.ntb ? () => h.ntb!({ payload: NTB_PAYLOAD, depth: NTB_DEPTH, durationMs: settings.durationMs, useDma: false }) : undefined);
  const cpuRate = finiteMedian(cpuRun.values?.map((v) => v.bytesPerSec) ?? null, what);
  const cpuPerGiB = finiteMedian(cpuRun.values?.map((v) => v.mainThreadCpuMsPerGiB) ?? null, what);
  if (cpuRate.value !== null) throughput[NTB_CPU_COPIES] = cpuRate.value;
  if (cpuPerGiB.value !== null) cpu[NTB_CPU_COPIES] = cpuPerGiB.value;
  return [
    entry({ name: 'ntb', metric: 'throughput', unit: 'bytes/s', epdma: rate.value, peers: throughput }, run.note, rate.note),
    entry({ name: 'ntb', metric: 'cpu-per-gib', unit: 'ms', epdma: perGiB.value, peers: cpu }, run.note, perGiB.note),
  ];
}

/** 5. CPU of an idle testbed with 8 channels, against 8 plain workers parked in Atomics.wait. */
async function idle(ctx: ScenarioContext): Promise<BenchEntry[]> {
  const { settings } = ctx;
  const peers: Record<string, number> = {};
  await peer(ctx, peers, PARKED_WORKERS, async () =>
    median(await measureParkedWorkersCpu(IDLE_CHANNELS, settings.idleMs, settings.reps)));
  const what = 'idle';
  // An idle measurement has nothing to warm up; the testbed's start is the hook's business.
  const run = await epdma({ ...ctx, settings: { ...settings, warmup: false } }, what, (h) => () =>
    h.idle({ durationMs: settings.idleMs, channels: IDLE_CHANNELS }));
  const result = finiteMedian(run.values, what);
  return [entry({ name: 'idle', metric: 'cpu', unit: '%', epdma: result.value, peers }, run.note, result.note)];
}

const SCENARIOS: Record<ScenarioName, (ctx: ScenarioContext) => Promise<BenchEntry[]>> = {
  'copy-bandwidth': copyBandwidth,
  'small-ops': smallOps,
  'small-ops-batch': smallOpsBatch,
  latency,
  ntb,
  loadtest,
  idle,
};

/** Runs the named scenarios in the canonical order and returns their entries. */
export async function runScenarios(ctx: ScenarioContext, only: readonly ScenarioName[] = SCENARIO_NAMES): Promise<BenchEntry[]> {
  const entries: BenchEntry[] = [];
  for (const name of SCENARIO_NAMES) {
    if (!only.includes(name)) continue;
    ctx.log(`scenario ${name}`);
    entries.push(...(await SCENARIOS[name](ctx)));
    try {
      await ctx.hooks?.afterScenario?.(name);
    } catch (err) {
      ctx.log(`epdma afterScenario(${name}) failed: ${errorText(err)}`);
    }
  }
  return entries;
}
