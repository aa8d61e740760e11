/**
 * `epdma loadtest`: every option checked, memory planned and output paths tried before a
 * testbed starts; live progress on stderr; at the end (or at Ctrl-C, or when the attached
 * endpoint process dies) the report in every requested format: table or --json on stdout,
 * --html FILE, --trace FILE. Exit status: 0, 1 errors or mismatches, 2 usage, 3 a threshold
 * failed, 130 interrupted.
 */
import { resolveTestbedOptions } from '../api/testbed-options.js';
import { createTestbed } from '../api/testbed.js';
import { driverQuirks } from '../api/testbed-options.js';
import { loadTest, STEADY_WARMUP_RULE, type LoadTestOptions, type LoadTestRun } from '../api/loadtest/loadtest.js';
import { writeHtmlReport } from '../api/loadtest/html-report.js';
import { buildLoadReport, type LoadReport, type LoadReportSettings } from '../api/loadtest/load-report.js';
import { formatProgressLine, formatResultTable } from '../api/loadtest/text-report.js';
import { describeThresholdResult, evaluateThresholds, parseThreshold, type Threshold } from '../api/loadtest/thresholds.js';
import type { LoadProgress } from '../api/loadtest/load-stats.js';
import type { Testbed, TestbedOptions } from '../api/types.js';
import { EpdmaError } from '../device/errors.js';
import { parseCountIn, parseDuration, parseSizeRange } from './args.js';
import { EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_THRESHOLD, oneOf, optionValue, parseCommand, UsageError } from './command.js';
import { planMemory, type MemoryPlan } from './loadtest-plan.js';
import { checkOutputFile } from './output-files.js';
import { epdmaVersion } from './version.js';

const HELP = `usage: epdma loadtest [--side host|endpoint|both] [--channels N|all] [--size 64k|4k-1m]
                      [--depth N] [--duration 10s | --iterations N] [--warmup 1s] [--no-verify]
                      [--json] [--html FILE] [--trace FILE] [--threshold EXPR]...
                      [--map-format unroll|hdma-compat|hdma-native] [--attach DIR]
                      [--quirks contract|dw-edma]

Saturates the channels of an in-process testbed (or, with --attach, the host side of an
endpoint process started with 'epdma endpoint --shm DIR'), verifies every byte dmatest-style
(the window and guard bytes around it), and prints a result table.

  --side S          host, endpoint or both (default both)
  --channels N      channels per side, 1..16 or all (default all)
  --size S          bytes per transfer: 64k, or a random size in a range: 4k-1m (default 64k)
  --depth N         transfers in flight per channel, 1..1024 (default 16, lowered to fit
                    memory for big sizes, which is said on stderr)
  --duration D      how long to measure: 500ms, 10s, 2m, a bare 10 is seconds (default 5s); or
  --iterations N    transfers per channel
  --warmup D        run this long before measuring, excluded from the rates (default: until
                    the rate is steady, as fio's steadystate=bw:10% over four 250ms windows; at
                    least a tenth of the duration, at most twice it and 10s; said on stderr)
  --no-verify       skip filling and checking the data
  --json            print the report as JSON on stdout (settings, startedAt, warmupMs, machine,
                    versions, totals, per channel; 'interrupted' when it did not finish)
  --html FILE       write a self-contained HTML report with charts
  --trace FILE      write a Chrome trace-event JSON (open it in ui.perfetto.dev)
  --threshold EXPR  fail (exit 3) unless METRIC OP VALUE holds; repeatable. METRIC: p50 p99
                    p999 max (a time: 500us, 2ms), throughput (2GB/s, 500MB/s), ops (per s),
                    errors, mismatches; OP: < <= > >= ==. Example:
                    --threshold 'p99<500us' --threshold 'throughput>2GB/s' --threshold 'errors==0'
  --map-format F    the engine's register map (in-process only, default unroll)
  --attach DIR      load-test the endpoint process publishing under DIR
  --quirks Q        the host's channel core semantics: contract (default) or dw-edma (the
                    kernel driver exactly; with --attach the endpoint's are its own choice)

Progress goes to stderr (redrawn on a terminal). Ctrl-C (SIGINT) or SIGTERM stops the run and
still writes every requested report, marked interrupted.

exit status: 0 passed; 1 a transfer failed or a byte mismatched, or the run failed;
2 usage error; 3 a --threshold failed; 130 interrupted`;

const SPEC = {
  name: 'loadtest',
  summary: 'saturate channels and verify every byte',
  help: HELP,
  options: {
    side: { type: 'string', default: 'both' },
    channels: { type: 'string', default: 'all' },
    size: { type: 'string', default: '64k' },
    depth: { type: 'string' },
    duration: { type: 'string' },
    iterations: { type: 'string' },
    warmup: { type: 'string' },
    verify: { type: 'boolean', default: true },
    json: { type: 'boolean', default: false },
    html: { type: 'string' },
    trace: { type: 'string' },
    threshold: { type: 'string', multiple: true },
    'map-format': { type: 'string', default: 'unroll' },
    quirks: { type: 'string', default: 'contract' },
    attach: { type: 'string' },
  },
} as const;

/** Channels one side can have: 8 write + 8 read engine channels. */
const MAX_CHANNELS = 16;
/** Non-TTY progress: one line per second is enough for a log. */
const LOG_PROGRESS_MS = 1000;

interface Plan {
  side: 'host' | 'endpoint' | 'both';
  channels: number | 'all';
  size: [number, number];
  depth: number | undefined;
  iterations: number | undefined;
  durationMs: number | undefined;
  /** A fixed warm-up; undefined: until the rate is steady (or none with --iterations). */
  warmupMs: number | undefined;
  verify: boolean;
  thresholds: Threshold[];
  json: boolean;
  html: string | undefined;
  trace: string | undefined;
  attach: string | undefined;
  testbed: TestbedOptions;
}

/** Every option, checked; nothing has started yet. */
async function readOptions(argv: string[]): Promise<Plan | null> {
  const parsed = parseCommand(SPEC, argv);
  if (parsed === null) return null;
  const v = parsed.values;
  const side = oneOf('--side', v.side, ['host', 'endpoint', 'both'] as const);
  const mapFormat = oneOf('--map-format', v['map-format'], ['unroll', 'hdma-compat', 'hdma-native'] as const);
  const quirks = optionValue('--quirks', () => driverQuirks('--quirks', v.quirks));
  if (v.iterations !== undefined && v.duration !== undefined) {
    throw new UsageError(`--duration ${v.duration} and --iterations ${v.iterations}: give one of them`);
  }
  const channels = v.channels === 'all' ? 'all' : optionValue('--channels', () => parseCountIn(v.channels, '--channels', 1, MAX_CHANNELS));
  const size = optionValue('--size', () => parseSizeRange(v.size));
  if (size[0] < 1) throw new UsageError(`--size ${JSON.stringify(v.size)}: a transfer moves at least 1 byte`);
  if (size[1] > 0xffff_ffff) throw new UsageError(`--size ${JSON.stringify(v.size)}: a transfer moves at most 4 GiB - 1`);
  const depth = v.depth === undefined ? undefined : optionValue('--depth', () => parseCountIn(v.depth!, '--depth', 1, 1024));
  const iterations = v.iterations === undefined ? undefined : optionValue('--iterations', () => parseCountIn(v.iterations!, '--iterations', 1, Number.MAX_SAFE_INTEGER));
  const durationMs = iterations !== undefined ? undefined : optionValue('--duration', () => parseDuration(v.duration ?? '5s'));
  if (durationMs !== undefined && durationMs < 1) throw new UsageError(`--duration ${JSON.stringify(v.duration)} measures nothing`);
  if (v.warmup !== undefined && iterations !== undefined) throw new UsageError(`--warmup ${v.warmup}: only with --duration (--iterations counts every transfer)`);
  const warmupMs = v.warmup !== undefined ? optionValue('--warmup', () => parseDuration(v.warmup!)) : undefined;
  const thresholds = (v.threshold ?? []).map((expr) => optionValue('--threshold', () => parseThreshold(expr)));
  if (v.trace !== undefined && v.attach !== undefined) {
    throw new UsageError('--trace records the in-process testbed; with --attach the channels run in the endpoint process');
  }
  if (v.attach !== undefined && v['map-format'] !== 'unroll') throw new UsageError('--map-format is the endpoint process\'s choice with --attach (epdma endpoint --map-format)');
  if (v.html !== undefined) await checkOutputFile('--html', v.html);
  if (v.trace !== undefined) await checkOutputFile('--trace', v.trace);
  return {
    side, channels, size, depth, iterations, durationMs, warmupMs, verify: v.verify, thresholds, json: v.json,
    html: v.html, trace: v.trace, attach: v.attach,
    testbed: { endpoint: { mapFormat }, driver: { quirks }, ...(v.trace !== undefined ? { trace: v.trace } : {}) },
  };
}

/** Channels the run will use on each selected side of a default in-process testbed. */
function inProcessLanes(plan: Plan): number {
  const o = resolveTestbedOptions(plan.testbed);
  const perSide = { host: o.wrChans + o.rdChans, endpoint: o.writeChannels - o.wrChans + o.readChannels - o.rdChans };
  const sides: ('host' | 'endpoint')[] = plan.side === 'both' ? ['host', 'endpoint'] : [plan.side];
  const want = plan.channels;
  if (want !== 'all' && sides.some((s) => perSide[s] < want)) {
    throw new UsageError(`--channels ${want}: the ${sides.map((s) => `${s} side has ${perSide[s]}`).join(', the ')}`);
  }
  return sides.reduce((n, s) => n + (want === 'all' ? perSide[s] : Math.min(want, perSide[s])), 0);
}

function lanesOf(bed: Testbed, plan: Plan): number {
  const sides = plan.side === 'both' ? [bed.host, bed.endpoint] : [plan.side === 'host' ? bed.host : bed.endpoint];
  return sides.reduce((n, s) => n + (plan.channels === 'all' ? s.dma.channels.length : Math.min(plan.channels, s.dma.channels.length)), 0);
}

const note = (text: string): void => {
  process.stderr.write(`epdma loadtest: ${text}\n`);
};

/**
 * SIGINT/SIGTERM from the moment options are read: while the testbed builds, a signal ends the
 * command once it is up (nothing measured, nothing to write); while measuring, it stops the run.
 */
class SignalLatch {
  signal: NodeJS.Signals | undefined;
  private listener: ((signal: NodeJS.Signals) => void) | undefined;
  private readonly onSignal = (signal: NodeJS.Signals): void => {
    this.signal ??= signal;
    this.listener?.(signal);
  };

  constructor() {
    process.on('SIGINT', this.onSignal);
    process.on('SIGTERM', this.onSignal);
  }

  /** Calls `listener` on the next signal, or now if one already came. */
  listen(listener: (signal: NodeJS.Signals) => void): void {
    this.listener = listener;
    if (this.signal !== undefined) listener(this.signal);
  }

  release(): void {
    process.off('SIGINT', this.onSignal);
    process.off('SIGTERM', this.onSignal);
  }
}

export async function runLoadtest(argv: string[]): Promise<number> {
  const plan = await readOptions(argv);
  if (plan === null) {
    process.stdout.write(`${HELP}\n`);
    return EXIT_OK;
  }
  const signals = new SignalLatch();
  try {
    return await runPlan(plan, signals);
  } finally {
    signals.release();
  }
}

async function runPlan(plan: Plan, signals: SignalLatch): Promise<number> {
  let bed: Testbed;
  let memory: MemoryPlan;
  if (plan.attach === undefined) {
    const o = resolveTestbedOptions(plan.testbed);
    const planned = planMemory({ lanes: inProcessLanes(plan), maxSize: plan.size[1], depth: plan.depth, endpointBytes: o.epMemoryBytes, hostBytes: o.hostMemoryBytes, canGrowMemory: true });
    if (planned instanceof Error) throw new UsageError(planned.message);
    memory = planned;
    if (memory.note !== undefined) note(memory.note);
    bed = await createTestbed({
      ...plan.testbed,
      endpoint: { ...plan.testbed.endpoint, memoryBytes: memory.endpointBytes },
      host: { memoryBytes: memory.hostBytes },
    });
  } else {
    bed = await (await import('../api/two-process/attach.js')).attachTestbed({ shm: plan.attach, driver: { quirks: plan.testbed.driver?.quirks ?? 'contract' } });
    const planned = planMemory({ lanes: lanesOf(bed, plan), maxSize: plan.size[1], depth: plan.depth, endpointBytes: bed.endpoint.memory.size, hostBytes: bed.host.memory.size, canGrowMemory: false });
    if (planned instanceof Error) {
      await bed.close();
      throw new EpdmaError('ENOMEM', planned.message);
    }
    memory = planned;
    if (memory.note !== undefined) note(memory.note);
  }

  const options: LoadTestOptions = {
    side: plan.side,
    channels: plan.channels,
    size: plan.size[0] === plan.size[1] ? plan.size[0] : plan.size,
    depth: memory.depth,
    verify: plan.verify,
    ...(plan.iterations !== undefined ? { iterations: plan.iterations } : { durationMs: plan.durationMs!, ...(plan.warmupMs !== undefined ? { warmupMs: plan.warmupMs } : {}) }),
  };
  const settings: LoadReportSettings = {
    side: plan.side,
    channels: plan.channels,
    size: options.size!,
    depth: memory.depth,
    ...(plan.iterations !== undefined ? { iterations: plan.iterations } : { durationMs: plan.durationMs! }),
    verify: plan.verify,
  };

  const startedAt = new Date();
  let outcome: Outcome;
  try {
    if (signals.signal !== undefined) {
      note(`interrupted by ${signals.signal} before the run started: nothing measured`);
      return EXIT_INTERRUPTED;
    }
    outcome = await measure(bed, options, plan.attach !== undefined, signals);
  } finally {
    await bed.close();
  }
  return report(plan, settings, startedAt, outcome);
}

interface Outcome {
  final: LoadProgress;
  run: LoadTestRun | undefined;
  interrupted?: { signal?: string; reason: string };
}

/** How long a run may take to notice its endpoint process died before it is cut short. */
const PEER_GONE_SETTLE_MS = 5000;

/**
 * Runs the load and resolves with the last numbers: the final progress, or, on SIGINT/SIGTERM
 * or a dead endpoint process, a snapshot taken at that moment (transfers the stop aborts are
 * not counted; the ones the dead peer aborted are, as errors).
 */
function measure(bed: Testbed, options: LoadTestOptions, attached: boolean, signals: SignalLatch): Promise<Outcome> {
  const tty = process.stderr.isTTY === true;
  return new Promise<Outcome>((resolve, reject) => {
    let run: LoadTestRun | undefined;
    let last: LoadProgress | undefined;
    let runStart = performance.now();
    let lastLogged = -Infinity;
    let finished = false;
    let peerGone: string | undefined;

    const finish = (outcome: Outcome | Error): void => {
      if (finished) return;
      finished = true;
      clearTimeout(peerGoneTimer);
      events.unsubscribe();
      sub.unsubscribe();
      if (tty && last !== undefined) process.stderr.write('\n');
      if (outcome instanceof Error) reject(outcome);
      else resolve(outcome);
    };
    const stopNow = (interrupted: { signal?: string; reason: string }): void => {
      if (finished) return;
      const elapsed = performance.now() - runStart;
      const snapshot = run !== undefined ? run.accumulator.snapshot(elapsed, true) : last;
      if (snapshot === undefined) {
        finish(new EpdmaError('ESHUTDOWN', `loadtest: ${interrupted.reason} before any transfer`));
        return;
      }
      finish({ final: snapshot, run, interrupted });
    };

    // An attached endpoint process that dies says so as link-down with the reason, then fails
    // every transfer in flight (each counted as an error) and refuses new ones: the run ends
    // by itself and the partial report is taken then. A link-down that a link-up follows (the
    // endpoint reset its channels) is a flap the run rides out. The deadline only guards
    // against a run that never notices.
    let peerGoneTimer: NodeJS.Timeout | undefined;
    const events = bed.events$.subscribe((e) => {
      if (!attached) return;
      if (e.type === 'link-down' && peerGone === undefined) {
        peerGone = `endpoint process gone${e.reason !== undefined ? `: ${e.reason}` : ''}`;
        peerGoneTimer = setTimeout(() => stopNow({ reason: peerGone! }), PEER_GONE_SETTLE_MS);
        peerGoneTimer.unref();
      } else if (e.type === 'link-up' && peerGone !== undefined) {
        clearTimeout(peerGoneTimer);
        peerGone = undefined;
      }
    });

    const sub = loadTest(bed, options, (r) => {
      run = r;
      runStart = performance.now();
    }).subscribe({
      next: (p) => {
        last = p;
        runStart = performance.now() - p.elapsedMs;
        const now = performance.now();
        if (tty) process.stderr.write(formatProgressLine(p, true));
        else if (p.final || now - lastLogged >= LOG_PROGRESS_MS) {
          lastLogged = now;
          process.stderr.write(formatProgressLine(p, false));
        }
      },
      error: (err: unknown) => {
        if (peerGone !== undefined) stopNow({ reason: peerGone });
        else finish(err instanceof Error ? err : new Error(String(err)));
      },
      complete: () => {
        // The run may end (its testbed shut down) before the link-down event names why.
        const gone = peerGone ?? (attached && run?.shutdown !== undefined ? `endpoint process gone: ${run.shutdown}` : undefined);
        if (gone !== undefined) stopNow({ reason: gone });
        else finish({ final: last!, run });
      },
    });
    signals.listen((signal) => stopNow({ signal, reason: `interrupted by ${signal}` }));
  });
}

async function report(plan: Plan, settings: LoadReportSettings, startedAt: Date, outcome: Outcome): Promise<number> {
  const { final, run, interrupted } = outcome;
  const p999Us = run?.accumulator.percentileUs(99.9) ?? final.maxUs;
  const thresholds = plan.thresholds.length > 0 ? evaluateThresholds(plan.thresholds, { ...final, p999Us }) : undefined;
  const loadReport: LoadReport = buildLoadReport(final, {
    settings, startedAt, warmupMs: run?.warmupMs ?? 0, epdmaVersion: epdmaVersion(),
    ...(interrupted !== undefined ? { interrupted } : {}),
    ...(thresholds !== undefined ? { thresholds } : {}),
  });

  if (run?.warmupSettled !== undefined && run.warmupMs > 0) {
    note(`warm-up ${(run.warmupMs / 1000).toFixed(2)} s, excluded from the rates: ${run.warmupSettled
      ? `the rate settled (${STEADY_WARMUP_RULE})`
      : 'the rate had not settled by the longest warm-up; measured anyway'}`);
  }
  if (interrupted !== undefined) note(`${interrupted.reason}: partial results after ${(final.elapsedMs / 1000).toFixed(1)} s`);
  if (plan.json) process.stdout.write(`${JSON.stringify(loadReport, null, 2)}\n`);
  else {
    process.stdout.write(`${interrupted !== undefined ? `INTERRUPTED (${interrupted.reason}): partial results\n` : ''}${formatResultTable(final)}\n`);
    for (const [i, t] of (thresholds ?? []).entries()) process.stdout.write(`threshold ${describeThresholdResult(t, plan.thresholds[i]!.metric)}\n`);
  }
  for (const line of run?.firstMismatches ?? []) process.stderr.write(`mismatch: ${line}\n`);
  for (const line of run?.errorReasons ?? []) process.stderr.write(`error: ${line}\n`);
  if (plan.html !== undefined) {
    await writeHtmlReport(plan.html, loadReport, {
      title: `epdma loadtest ${loadReport.startedAt}`,
      timelines: run?.accumulator.timelines() ?? [],
      latencyBuckets: run?.accumulator.latencyBuckets() ?? [],
      p999Us,
    });
    note(`report written to ${plan.html}`);
  }
  if (plan.trace !== undefined) note(`trace written to ${plan.trace} (open it in ui.perfetto.dev)`);

  const failed = (thresholds ?? []).flatMap((t, i) => (t.ok ? [] : [describeThresholdResult(t, plan.thresholds[i]!.metric)]));
  for (const line of failed) note(`threshold ${line}`);
  if (interrupted?.signal !== undefined) return EXIT_INTERRUPTED;
  if (failed.length > 0) return EXIT_THRESHOLD;
  if (interrupted !== undefined || final.errors > 0 || final.mismatches > 0) return EXIT_FAILED;
  return EXIT_OK;
}
