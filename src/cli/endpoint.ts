import { statSync } from 'node:fs';
import { startEndpointProcess, type EndpointProcessOptions } from '../api/two-process/endpoint-process.js';
import { driverQuirks, resolveTestbedOptions } from '../api/testbed-options.js';
import { EpdmaError } from '../device/errors.js';
import { parseCountIn, parseSize } from './args.js';
import { oneOf, optionValue, parseCommand, UsageError } from './command.js';

const HELP = `usage: epdma endpoint --shm DIR [--map-format unroll|hdma-compat|hdma-native]
                      [--write-channels N] [--read-channels N] [--wr-chans N] [--rd-chans N]
                      [--memory BYTES] [--host-memory BYTES] [--quirks contract|dw-edma]
Runs the endpoint (engines, pci-epf-dma, EP-local channels) in this process and publishes its
BARs and memories as files under DIR (created if missing) for a host process: openHost({ shm:
DIR }) or 'epdma loadtest --attach DIR'. Runs until SIGINT/SIGTERM, then removes its files
(and DIR if it created it) and exits 0. Needs the native addon.

  --write-channels N, --read-channels N   engine channels, 1..8 each (default 4)
  --wr-chans N, --rd-chans N              channels delegated to the host (default 0 and all)
  --memory BYTES, --host-memory BYTES     EP memory (default 64m) and host RAM (default 256m)
  --quirks Q                              the EP-local channel core: contract (default) or dw-edma

DIR/device.json describes the device; DIR/scratch.mem backs the BARs: the metadata BAR is
the window of scratch.mem that device.json's bars[] names for the metadata BAR, and
'epdma inspect DIR' finds and decodes it.`;

const MAP_FORMATS = ['unroll', 'hdma-compat', 'hdma-native'] as const;

/** `epdma endpoint`: returns the exit code once a signal stopped it. */
const SPEC = {
  name: 'endpoint',
  summary: 'run the endpoint in this process',
  help: HELP,
  options: {
    shm: { type: 'string' },
    'map-format': { type: 'string', default: 'unroll' },
    'write-channels': { type: 'string' },
    'read-channels': { type: 'string' },
    'wr-chans': { type: 'string' },
    'rd-chans': { type: 'string' },
    memory: { type: 'string' },
    'host-memory': { type: 'string' },
    quirks: { type: 'string', default: 'contract' },
  },
} as const;

/** `epdma endpoint`: returns the exit code once a signal stopped it. */
export async function runEndpoint(argv: string[]): Promise<number> {
  const parsed = parseCommand(SPEC, argv);
  if (parsed === null) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const flags = parsed.values;
  if (flags.shm === undefined) throw new UsageError('--shm DIR is required');
  checkShmDir(flags.shm);
  const mapFormat = oneOf('--map-format', flags['map-format'], MAP_FORMATS);
  const quirks = optionValue('--quirks', () => driverQuirks('--quirks', flags.quirks));
  const count = (option: '--write-channels' | '--read-channels' | '--wr-chans' | '--rd-chans', text: string | undefined, min: number): number | undefined =>
    text === undefined ? undefined : optionValue(option, () => parseCountIn(text, option, min, 8));
  const writeChannels = count('--write-channels', flags['write-channels'], 1);
  const readChannels = count('--read-channels', flags['read-channels'], 1);
  const wrChans = count('--wr-chans', flags['wr-chans'], 0);
  const rdChans = count('--rd-chans', flags['rd-chans'], 0);
  const memory = flags.memory === undefined ? undefined : optionValue('--memory', () => parseSize(flags.memory!));
  const hostMemory = flags['host-memory'] === undefined ? undefined : optionValue('--host-memory', () => parseSize(flags['host-memory']!));
  const line = (text: string): void => {
    process.stdout.write(`epdma endpoint: ${text}\n`);
  };
  // The testbed's own checks (wr-chans <= write-channels, memory in 4 KiB pages) before start.
  try {
    resolveTestbedOptions({
      endpoint: { mapFormat, ...(writeChannels !== undefined ? { writeChannels } : {}), ...(readChannels !== undefined ? { readChannels } : {}), ...(memory !== undefined ? { memoryBytes: memory } : {}) },
      function: { ...(wrChans !== undefined ? { wrChans } : {}), ...(rdChans !== undefined ? { rdChans } : {}) },
      ...(hostMemory !== undefined ? { host: { memoryBytes: hostMemory } } : {}),
    });
  } catch (err) {
    if (err instanceof EpdmaError) throw new UsageError(err.message.replace(/^EINVAL: testbed: /, ''));
    throw err;
  }
  const options: EndpointProcessOptions = {
    shm: flags.shm,
    mapFormat,
    quirks,
    ...(writeChannels !== undefined ? { writeChannels } : {}),
    ...(readChannels !== undefined ? { readChannels } : {}),
    ...(wrChans !== undefined ? { wrChans } : {}),
    ...(rdChans !== undefined ? { rdChans } : {}),
    ...(memory !== undefined ? { memoryBytes: memory } : {}),
    ...(hostMemory !== undefined ? { hostMemoryBytes: hostMemory } : {}),
    log: line,
  };

  // Signals are taken before anything is published, so a stop never leaves files behind.
  let signalled: string | undefined;
  let stop: () => void = () => undefined;
  const stopped = new Promise<void>((resolve) => {
    stop = resolve;
  });
  const onSignal = (signal: NodeJS.Signals): void => {
    signalled ??= signal;
    stop();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const ep = await startEndpointProcess(options);
    if (signalled === undefined) {
      line(ep.describe());
      // Signal handlers do not hold the event loop; this does, until a signal arrives.
      const keepAlive = setInterval(() => undefined, 1 << 30);
      await stopped;
      clearInterval(keepAlive);
    }
    line(`${signalled ?? 'signal'}: stopping`);
    await ep.close();
    line('stopped; files removed');
    // Anything still holding the loop open (there should be nothing) must not keep us alive.
    setTimeout(() => process.exit(0), 2000).unref();
    return 0;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** DIR may be missing (it is created) but must not be a file: `--shm /etc/passwd` is a usage error. */
function checkShmDir(dir: string): void {
  let isDirectory: boolean;
  try {
    isDirectory = statSync(dir).isDirectory();
  } catch {
    return;
  }
  if (!isDirectory) throw new UsageError(`--shm ${JSON.stringify(dir)} is a file, not a directory`);
}
