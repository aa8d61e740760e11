#!/usr/bin/env node
/**
 * The `epdma` command: one dispatcher, one module per subcommand, each loaded on demand so
 * `epdma inspect` does not start worker machinery it does not need.
 *
 * One error style for all of them: a user error is one line on stderr, `epdma <command>: ...`,
 * never a stack trace (EPDMA_DEBUG=1 adds the stack for bug reports). Exit codes: 0 done,
 * 1 run failed, 2 usage error, 3 threshold failed, 130 interrupted (command.ts).
 */
import { EpdmaError } from '../device/errors.js';
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, UsageError } from './command.js';
import { epdmaVersion } from './version.js';

type Command = (args: string[]) => Promise<number>;

const COMMANDS: Record<string, { summary: string; load: () => Promise<Command> }> = {
  demo: { summary: 'host and endpoint move data through delegated and local channels (npm start)', load: async () => (await import('./demo.js')).runDemo },
  loadtest: { summary: 'saturate channels, verify every byte, report rates and latency', load: async () => (await import('./loadtest.js')).runLoadtest },
  bench: { summary: 'epdma against its peers (piscina, comlink, postMessage)', load: async () => (await import('./bench.js')).runBench },
  inspect: {
    summary: 'decode a metadata BAR dump, a resource file or an endpoint --shm directory',
    load: async () => {
      const { runInspect } = await import('./inspect.js');
      return (args) => runInspect(args, (line) => process.stdout.write(`${line}\n`));
    },
  },
  endpoint: { summary: 'run the endpoint in this process, publishing its BARs under a directory', load: async () => (await import('./endpoint.js')).runEndpoint },
};

const USAGE = `usage: epdma <command> [options]
       epdma <command> --help
       epdma --version

commands:
${Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`).join('\n')}

exit status: 0 done, 1 the run failed, 2 usage error, 3 a --threshold failed, 130 interrupted
`;

// A closed stdout (`epdma inspect f | head -1`) ends the command quietly, as cat or grep do.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(typeof process.exitCode === 'number' ? process.exitCode : EXIT_OK);
    throw err;
  });
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--version' || name === '-V' || name === 'version') {
    process.stdout.write(`${epdmaVersion()}\n`);
    return EXIT_OK;
  }
  if (name === undefined) {
    process.stderr.write(USAGE);
    return EXIT_USAGE;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    const topic = rest[0];
    if (topic !== undefined && COMMANDS[topic] !== undefined) return (await COMMANDS[topic].load())(['--help']);
    process.stdout.write(USAGE);
    return EXIT_OK;
  }
  const command = COMMANDS[name];
  if (command === undefined) {
    process.stderr.write(`epdma: unknown command ${JSON.stringify(name)} (epdma --help lists them)\n`);
    return EXIT_USAGE;
  }
  try {
    return await (await command.load())(rest);
  } catch (err) {
    return reportError(name, err);
  }
}

/** The one line a failed command prints, and its exit code. */
function reportError(name: string, err: unknown): number {
  const prefix = `epdma ${name}: `;
  if (err instanceof UsageError) {
    process.stderr.write(`${prefix}${err.text} (epdma ${name} --help)\n`);
    return EXIT_USAGE;
  }
  const e = err as NodeJS.ErrnoException;
  // Node's own errors (a path that is a file, a permission) carry an errno code: one line.
  const text = err instanceof EpdmaError ? err.message
    : typeof e?.code === 'string' && e instanceof Error ? `${e.code}: ${e.message.replace(new RegExp(`^${e.code}: `), '')}`
    : err instanceof Error ? err.message : String(err);
  process.stderr.write(`${prefix}${text.split('\n')[0]}\n`);
  if (process.env['EPDMA_DEBUG'] && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
  return EXIT_FAILED;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.exitCode = reportError('main', err);
  },
);
