import { startEndpointProcess, type EndpointProcessOptions } from '../api/two-process/endpoint-process.js';
import { EpdmaError } from '../device/errors.js';
import { parseArgs, parseCount, parseSize } from './args.js';
import { driverQuirks } from '../api/testbed-options.js';

const HELP = `usage: epdma endpoint --shm DIR [--map-format unroll|hdma-compat|hdma-native]
                      [--write-channels N] [--read-channels N] [--wr-chans N] [--rd-chans N]
                      [--memory BYTES] [--host-memory BYTES] [--quirks contract|dw-edma]
Runs the endpoint (engines, pci-epf-dma, EP-local channels) in this process and publishes its
BARs and memories as files under DIR (created if missing) for a host process: openHost({ shm:
DIR }) or 'epdma loadtest --attach DIR'. Runs until SIGINT/SIGTERM, then removes its files
(and DIR if it created it) and exits 0. Needs the native addon.`;

const MAP_FORMATS = ['unroll', 'hdma-compat', 'hdma-native'] as const;

/** `epdma endpoint`: returns the exit code once a signal stopped it. */
export async function runEndpoint(argv: string[]): Promise<number> {
  const { flags } = parseArgs(argv, {
    shm: { type: 'string' },
    'map-format': { type: 'string', default: 'unroll' },
    'write-channels': { type: 'string' },
    'read-channels': { type: 'string' },
    'wr-chans': { type: 'string' },
    'rd-chans': { type: 'string' },
    memory: { type: 'string' },
    'host-memory': { type: 'string' },
    quirks: { type: 'string', default: 'contract' },
    help: { type: 'boolean', default: false },
  });
  if (flags.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  if (flags.shm === undefined) throw new EpdmaError('EINVAL', 'epdma endpoint: --shm DIR is required');
  const mapFormat = flags['map-format'];
  if (!(MAP_FORMATS as readonly string[]).includes(mapFormat)) {
    throw new EpdmaError('EINVAL', `epdma endpoint: --map-format '${mapFormat}' is not ${MAP_FORMATS.join(', ')}`);
  }
  const line = (text: string): void => {
    process.stdout.write(`epdma endpoint: ${text}\n`);
  };
  const options: EndpointProcessOptions = {
    shm: flags.shm,
    mapFormat: mapFormat as EndpointProcessOptions['mapFormat'],
    ...(flags['write-channels'] !== undefined ? { writeChannels: parseCount(flags['write-channels'], '--write-channels') } : {}),
    ...(flags['read-channels'] !== undefined ? { readChannels: parseCount(flags['read-channels'], '--read-channels') } : {}),
    ...(flags['wr-chans'] !== undefined ? { wrChans: parseCount(flags['wr-chans'], '--wr-chans') } : {}),
    ...(flags['rd-chans'] !== undefined ? { rdChans: parseCount(flags['rd-chans'], '--rd-chans') } : {}),
    ...(flags.memory !== undefined ? { memoryBytes: parseSize(flags.memory) } : {}),
    ...(flags['host-memory'] !== undefined ? { hostMemoryBytes: parseSize(flags['host-memory']) } : {}),
    quirks: driverQuirks('--quirks', flags.quirks),
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
