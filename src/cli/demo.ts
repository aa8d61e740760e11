import { merge, type Subscription } from 'rxjs';
import { createTestbed } from '../api/testbed.js';
import { driverQuirks } from '../api/testbed-options.js';
import type { DriverQuirks } from '../api/types.js';
import type { Completion, DmaBuffer, DmaChannel } from '../api/types.js';
import { parseDuration } from './args.js';
import { optionValue, parseCommand, UsageError } from './command.js';
import { checkOutputFile } from './output-files.js';

const HELP = `usage: epdma demo [--seconds N] [--trace FILE] [--quirks contract|dw-edma]
Builds the default in-process testbed and moves data host -> endpoint -> host through 4
delegated read channels (driven by the host) and 4 endpoint-local write channels (driven by
the endpoint), verifying every byte. This is what 'npm start' runs.

  --seconds N    how long to move data (default 3, or 1 with CI set); also 500ms, 2s
  --trace FILE   write a Chrome trace-event JSON of the run (open it in ui.perfetto.dev)
  --quirks Q     the channel core's semantics: contract (default) or dw-edma (the kernel driver exactly)`;

const SPEC = {
  name: 'demo',
  summary: 'the npm start demo',
  help: HELP,
  options: {
    seconds: { type: 'string' },
    trace: { type: 'string' },
    quirks: { type: 'string', default: 'contract' },
  },
} as const;

interface Row {
  name: string;
  what: string;
  transfers: number;
  bytes: number;
  aborted: number;
  lastUs: number;
}

const LANES = 4;
const BLOCK = 256 * 1024;

/**
 * `npm start`: the default testbed, both directions at once.
 *
 * Each lane sends a block from host memory into EP memory through a delegated read channel
 * driven by the host (the path the kernel series tested), then the endpoint sends it back
 * into another host buffer through one of its own write channels. Both sides' completion
 * streams merge into one subscriber that keeps a small live table; at the end every byte
 * that came back is compared with what went out.
 */
export async function runDemo(args: string[]): Promise<number> {
  const parsed = parseCommand(SPEC, args);
  if (parsed === null) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  // Seconds as a plain number (3, 0.5) or a duration (500ms, 2s).
  const secondsText = parsed.values.seconds;
  const seconds = secondsText === undefined ? (process.env['CI'] ? 1 : 3) : optionValue('--seconds', () => parseDuration(secondsText)) / 1000;
  if (!(seconds > 0)) throw new UsageError(`--seconds ${JSON.stringify(secondsText)} moves nothing`);
  const trace = parsed.values.trace;
  if (trace !== undefined) await checkOutputFile('--trace', trace);
  const code = await demo(seconds, trace, optionValue('--quirks', () => driverQuirks('--quirks', parsed.values.quirks)));
  // After the testbed closed: the trace file is complete now.
  if (trace !== undefined) process.stderr.write(`epdma demo: trace written to ${trace} (open it in ui.perfetto.dev)\n`);
  return code;
}

async function demo(seconds: number, trace: string | undefined, quirks: DriverQuirks): Promise<number> {
  const tty = process.stdout.isTTY === true;
  const out = (s: string): boolean => process.stdout.write(s);

  out('epdma demo: creating the testbed (pci-epf-dma bound, dw-edma-pcie probed over the metadata BAR)...\n');
  await using bed = await createTestbed({ driver: { quirks }, ...(trace !== undefined ? { trace } : {}) });
  const md = bed.host.device.metadata;
  out(`host sees ${hex(bed.host.device.vendorId)}:${hex(bed.host.device.deviceId)} class ${bed.host.device.classCode.toString(16).padStart(6, '0')}, ` +
    `metadata rev ${md.revision}, ${md.mapFormat}, ${md.write.length} wr + ${md.read.length} rd channels delegated, READY=${md.ready ? 1 : 0}\n`);
  // One line of plain words per term of the line above.
  out([
    '  what that says:',
    ...([
      [`${hex(bed.host.device.vendorId)}:${hex(bed.host.device.deviceId)}`, 'the PCI vendor:device ID the endpoint function presents (configurable; no fixed ID exists)'],
      [`class ${bed.host.device.classCode.toString(16).padStart(6, '0')}`, 'PCI class 08 "system peripheral", subclass 01 "DMA controller": how the host knows what it found'],
      [`metadata rev ${md.revision}`, 'the table the endpoint publishes in a BAR so the host driver finds the DMA registers and channels'],
      [md.mapFormat, 'the layout of the DMA controller\'s registers (unroll: one register block per channel)'],
      [`${md.write.length} wr + ${md.read.length} rd`, 'channels the endpoint handed to the host (delegated): rd reads host memory into the endpoint, wr writes to the host'],
      [`READY=${md.ready ? 1 : 0}`, 'the endpoint has set up every window and tells the host it may start DMA'],
    ] as const).map(([term, words]) => `  ${term.padEnd(15)} ${words}`),
    '',
  ].join('\n'));

  const rows = new Map<string, Row>();
  const row = (c: Completion): Row => {
    let r = rows.get(c.channel.name);
    if (r === undefined) {
      r = { name: c.channel.name, what: c.channel.side === 'host' ? 'host -> EP (delegated rd)' : 'EP -> host (local wr)', transfers: 0, bytes: 0, aborted: 0, lastUs: 0 };
      rows.set(c.channel.name, r);
    }
    return r;
  };
  // One subscriber for both sides: the testbed's merged stream.
  const sub: Subscription = merge(bed.completions$).subscribe((c) => {
    const r = row(c);
    if (c.result === 'ok') {
      r.transfers++;
      r.bytes += c.bytes;
    } else r.aborted++;
    r.lastUs = Number(c.completedNs - c.submittedNs) / 1000;
  });

  const lanes: { up: DmaChannel; down: DmaChannel; src: DmaBuffer; ep: DmaBuffer; back: DmaBuffer }[] = [];
  for (let i = 0; i < LANES; i++) {
    const up = await bed.host.dma.requestChannel({ direction: 'mem-to-dev' });
    const down = await bed.endpoint.dma.requestChannel({ direction: 'mem-to-dev' });
    const src = bed.host.memory.alloc(BLOCK);
    const ep = bed.endpoint.memory.alloc(BLOCK);
    const back = bed.host.memory.alloc(BLOCK);
    lanes.push({ up, down, src, ep, back });
  }

  const started = performance.now();
  const deadline = started + seconds * 1000;
  let rounds = 0;
  let mismatches = 0;
  let lastDraw = 0;
  const draw = (final: boolean): void => {
    const elapsed = (performance.now() - started) / 1000;
    const lines = [...rows.values()].sort((a, b) => a.name.localeCompare(b.name)).map((r) =>
      `  ${r.name.padEnd(13)} ${r.what.padEnd(26)} ${String(r.transfers).padStart(7)} xfers ${(r.bytes / 1048576).toFixed(1).padStart(8)} MiB ${(r.bytes / 1e6 / Math.max(elapsed, 1e-3)).toFixed(0).padStart(6)} MB/s  last ${r.lastUs.toFixed(0).padStart(5)} us${r.aborted > 0 ? `  ${r.aborted} aborted` : ''}`);
    const header = `  ${'channel'.padEnd(13)} ${'path'.padEnd(26)} ${'done'.padStart(13)} ${'moved'.padStart(12)} ${'rate'.padStart(11)}`;
    const text = [header, ...lines, `  ${rounds} verified round trips, ${mismatches} mismatching bytes, ${elapsed.toFixed(1)} s`].join('\n');
    if (tty && !final) out(`\x1b[s${text}\x1b[u`);
    else if (final) out(`${tty ? '\x1b[J' : ''}${text}\n`);
  };

  await Promise.all(lanes.map(async (lane, i) => {
    let seed = i * 7919;
    while (performance.now() < deadline) {
      seed++;
      fill(lane.src.bytes, seed);
      lane.back.bytes.fill(0);
      await lastValue(lane.up.transfer({ local: lane.src, remote: lane.ep.addr, length: BLOCK }));
      await lastValue(lane.down.transfer({ local: lane.ep, remote: lane.back.addr, length: BLOCK }));
      mismatches += compare(lane.src.bytes, lane.back.bytes);
      rounds++;
      if (tty && performance.now() - lastDraw > 200) {
        lastDraw = performance.now();
        draw(false);
      }
    }
  }));
  draw(true);
  sub.unsubscribe();
  for (const lane of lanes) {
    await lane.up.release();
    await lane.down.release();
  }
  if (mismatches > 0) {
    out(`FAILED: ${mismatches} bytes came back different\n`);
    return 1;
  }
  out(`every byte verified: ${((rounds * BLOCK) / 1048576).toFixed(0)} MiB went host -> EP -> host through ${LANES * 2} channel actors.\n`);
  return 0;
}

function lastValue(o: import('rxjs').Observable<Completion>): Promise<Completion> {
  return new Promise((resolve, reject) => {
    let last: Completion | undefined;
    o.subscribe({ next: (c) => (last = c), error: reject, complete: () => resolve(last!) });
  });
}

function fill(bytes: Uint8Array, seed: number): void {
  const words = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.length >>> 2);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x >>> 0;
  }
}

function compare(a: Uint8Array, b: Uint8Array): number {
  if (Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.length), Buffer.from(b.buffer, b.byteOffset, b.length)) === 0) return 0;
  let n = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) n++;
  return n;
}

function hex(v: number): string {
  return `0x${v.toString(16).padStart(4, '0')}`;
}
