#!/usr/bin/env node
/**
 * The `epdma` command: one dispatcher, one module per subcommand, each loaded on demand so
 * `epdma inspect` does not start worker machinery it does not need.
 */
import { EpdmaError } from '../device/errors.js';

const USAGE = `usage: epdma <command> [options]

commands:
  demo [--quirks Q]         host and endpoint move data through delegated and local channels (npm start)
  loadtest [options]        saturate channels and verify every byte (epdma loadtest --help)
  bench [--quick]           epdma against its peers, writes bench/results/latest.json
  inspect FILE              decode a pci-ep-dma metadata BAR dump
  endpoint --shm DIR        run the endpoint in this process, publishing BARs under DIR
`;

type Command = (args: string[]) => Promise<number>;

const commands: Record<string, () => Promise<Command>> = {
  demo: async () => (await import('./demo.js')).runDemo,
  loadtest: async () => (await import('./loadtest.js')).runLoadtest,
  bench: async () => (await import('./bench.js')).runBench,
  inspect: async () => {
    const { runInspect } = await import('./inspect.js');
    return (args) => runInspect(args, (line) => process.stdout.write(`${line}\n`));
  },
  endpoint: async () => (await import('./endpoint.js')).runEndpoint,
};

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(USAGE);
    return name === undefined ? 2 : 0;
  }
  const load = commands[name];
  if (load === undefined) {
    process.stderr.write(`epdma: unknown command '${name}'\n${USAGE}`);
    return 2;
  }
  const run = await load();
  return run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof EpdmaError) process.stderr.write(`epdma: ${err.message}\n`);
    else process.stderr.write(`epdma: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
