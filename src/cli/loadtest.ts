import os from 'node:os';
import { lastValueFrom, tap } from 'rxjs';
import { createTestbed } from '../api/testbed.js';
import { loadTest, type LoadTestOptions, type LoadTestRun } from '../api/loadtest/loadtest.js';
import { writeHtmlReport } from '../api/loadtest/html-report.js';
import { formatProgressLine, formatResultTable } from '../api/loadtest/text-report.js';
import type { LoadProgress } from '../api/loadtest/load-stats.js';
import type { Testbed } from '../api/types.js';
import { EpdmaError } from '../device/errors.js';
import { parseArgs, parseCount, parseDuration, parseSizeRange } from './args.js';
import { DRIVER_QUIRKS } from '../workers/driver/driver-quirks.js';

const HELP = `usage: epdma loadtest [--side host|endpoint|both] [--channels N|all] [--size 64k|4k-1m]
                      [--depth N] [--duration 10s | --iterations N] [--no-verify]
                      [--json] [--html FILE] [--map-format unroll|hdma-compat|hdma-native]
                      [--attach DIR] [--quirks contract|dw-edma]
Saturates the channels of an in-process testbed (or, with --attach, of an endpoint process
started with 'epdma endpoint --shm DIR'), verifies every byte dmatest-style, and prints a
result table. Exit status 1 on any transfer error or mismatching byte.`;

export async function runLoadtest(argv: string[]): Promise<number> {
  const { flags } = parseArgs(argv, {
    side: { type: 'string', default: 'both' },
    channels: { type: 'string', default: 'all' },
    size: { type: 'string', default: '64k' },
    depth: { type: 'string', default: '16' },
    duration: { type: 'string' },
    iterations: { type: 'string' },
    verify: { type: 'boolean', default: true },
    json: { type: 'boolean', default: false },
    html: { type: 'string' },
    'map-format': { type: 'string', default: 'unroll' },
    attach: { type: 'string' },
    quirks: { type: 'string', default: 'contract' },
    help: { type: 'boolean', default: false },
  });
  if (flags.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  // Flags are checked before a testbed is built (loadTest checks ranges), errors name the flag.
  const side = oneOf('--side', flags.side, ['host', 'endpoint', 'both'] as const);
  const mapFormat = oneOf('--map-format', flags['map-format'], ['unroll', 'hdma-compat', 'hdma-native'] as const);
  const quirks = oneOf('--quirks', flags.quirks, DRIVER_QUIRKS);
  if (flags.iterations !== undefined && flags.duration !== undefined) {
    throw new EpdmaError('EINVAL', `--duration ${flags.duration} and --iterations ${flags.iterations}: give one of them`);
  }
  const size = flag('--size', () => parseSizeRange(flags.size));
  const options: LoadTestOptions = {
    side,
    channels: flags.channels === 'all' ? 'all' : parseCount(flags.channels, '--channels'),
    size: size[0] === size[1] ? size[0] : size,
    depth: parseCount(flags.depth, '--depth'),
    verify: flags.verify,
    ...(flags.iterations !== undefined
      ? { iterations: parseCount(flags.iterations, '--iterations') }
      : { durationMs: flag('--duration', () => parseDuration(flags.duration ?? '5s')) }),
  };

  const bed: Testbed = flags.attach !== undefined
    ? await (await import('../api/two-process/attach.js')).attachTestbed({ shm: flags.attach, driver: { quirks } })
    : await createTestbed({ endpoint: { mapFormat }, driver: { quirks } });
  const tty = process.stderr.isTTY === true && !flags.json;
  let run: LoadTestRun | undefined;
  let final: LoadProgress | undefined;
  try {
    final = await lastValueFrom(loadTest(bed, options, (r) => (run = r)).pipe(
      tap((p) => {
        if (!flags.json) process.stderr.write(formatProgressLine(p, tty));
      }),
    ));
  } finally {
    await bed.close();
  }
  if (tty) process.stderr.write('\n');
  if (flags.json) process.stdout.write(`${JSON.stringify(final, null, 2)}\n`);
  else process.stdout.write(`${formatResultTable(final)}\n`);
  for (const line of run?.firstMismatches ?? []) process.stderr.write(`mismatch: ${line}\n`);
  for (const line of run?.errorReasons ?? []) process.stderr.write(`error: ${line}\n`);
  if (flags.html !== undefined && run !== undefined) {
    await writeHtmlReport(flags.html, final, {
      title: `epdma loadtest ${new Date().toISOString()}`,
      options: { ...options, size: flags.size },
      timelines: run.accumulator.timelines(),
      latencyBuckets: run.accumulator.latencyBuckets(),
      machine: { cpus: os.availableParallelism(), node: process.version, platform: `${process.platform} ${os.cpus()[0]?.model ?? ''}`.trim() },
    });
    if (!flags.json) process.stdout.write(`report written to ${flags.html}\n`);
  }
  return final.errors > 0 || final.mismatches > 0 ? 1 : 0;
}

/** Runs a flag's parser; its EpdmaError gets the flag's name in front. */
function flag<T>(name: string, parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    if (err instanceof EpdmaError) throw new EpdmaError(err.code, `${name}: ${err.message.slice(err.code.length + 2)}`);
    throw err;
  }
}

function oneOf<const T extends readonly string[]>(name: string, value: string, allowed: T): T[number] {
  if (!allowed.includes(value)) throw new EpdmaError('EINVAL', `${name} ${JSON.stringify(value)} is not ${allowed.join(', ')}`);
  return value as T[number];
}
