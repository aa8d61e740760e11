import { open } from 'node:fs/promises';
import { EpdmaError, hex } from '../device/errors.js';
import {
  PCI_EP_DMA_METADATA_MAGIC,
  PCI_EP_DMA_METADATA_REG_LAYOUT_DW_EDMA,
  MAP_FORMAT_VALUES,
  PCI_STD_MAX_BAR,
  headerLength,
  isHeaderLayout,
  type HeaderLayout,
} from '../device/metadata/metadata-format.js';
import type { ChannelEntry, MetadataLayout } from '../device/metadata/metadata-layout.js';
import { parseMetadata } from '../device/metadata/metadata-parser.js';

/**
 * `epdma inspect FILE [--bar N] [--layout v4|host-ctrl] [--json]`: decode a metadata BAR dump
 * (or a BAR resource file) the way dw-edma-pcie would read it.
 *
 * Exit codes: 0 decoded, 1 the blob is not acceptable metadata (the kernel error kind is
 * printed), 2 usage error or the file cannot be read.
 *
 * The 64-bit fields (register offset, window offsets, DMA addresses) may hold any u64, as the
 * kernel accepts; the text output shows them in hex, the JSON output as decimal strings, so no
 * JSON reader rounds them to a double.
 */

const USAGE = [
  'usage: epdma inspect FILE [--bar N] [--layout v4|host-ctrl] [--json]',
  '  --json  print the decoded layout as JSON; the 64-bit fields regOffset, desc/aux offset and',
  '          addr are exact decimal strings (e.g. "9007199254740992"), every other field a number',
].join('\n');
/** The length field is 16 bits, so nothing past 64 KiB can belong to the blob. */
const MAX_READ = 64 * 1024;

interface InspectArgs {
  file: string;
  bar: number | undefined;
  headerLayout: HeaderLayout;
  json: boolean;
}

export async function runInspect(args: string[], out: (line: string) => void): Promise<number> {
  const parsed = parseArgs(args);
  if (typeof parsed === 'string') {
    if (parsed === 'help') {
      out(USAGE);
      return 0;
    }
    out(`epdma inspect: ${parsed}`);
    out(USAGE);
    return 2;
  }

  let contents: { bytes: Uint8Array; barSize: number };
  try {
    contents = await readBar(parsed.file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'no such file' : (code ?? String(err));
    out(`epdma inspect: cannot read ${parsed.file}: ${reason}`);
    return 2;
  }

  let layout: MetadataLayout;
  try {
    const barSizes: (number | undefined)[] = [];
    if (parsed.bar !== undefined) barSizes[parsed.bar] = contents.barSize;
    layout = parseMetadata(contents.bytes, {
      ...(parsed.bar !== undefined ? { barIndex: parsed.bar } : {}),
      barSizes,
      headerLayout: parsed.headerLayout,
    });
  } catch (err) {
    if (err instanceof EpdmaError) {
      const prefix = `${err.code}: `;
      const message = err.message.startsWith(prefix) ? err.message.slice(prefix.length) : err.message;
      out(`epdma inspect: ${err.code}: ${message}`);
      return 1;
    }
    throw err;
  }

  if (parsed.json) out(JSON.stringify(layout, exactU64, 2));
  else for (const line of describeLayout(layout, parsed, contents.barSize)) out(line);
  return 0;
}

/** JSON has no 64-bit integer: bigints become their exact decimal string. */
function exactU64(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString(10) : value;
}

function parseArgs(args: string[]): InspectArgs | string {
  let file: string | undefined;
  let bar: number | undefined;
  let headerLayout: HeaderLayout = 'v4';
  let json = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const name = eq >= 0 ? arg.slice(0, eq) : arg;
    const takeValue = (): string | undefined => (eq >= 0 ? arg.slice(eq + 1) : args[++i]);
    switch (name) {
      case '-h':
      case '--help':
        return 'help';
      case '--json':
        if (eq >= 0) return `--json takes no value`;
        json = true;
        break;
      case '--bar': {
        const value = takeValue();
        if (value === undefined || !/^[0-9]+$/.test(value) || Number(value) > PCI_STD_MAX_BAR) {
          return `--bar needs a BAR number 0..${PCI_STD_MAX_BAR}, got ${String(value)}`;
        }
        bar = Number(value);
        break;
      }
      case '--layout': {
        const value = takeValue();
        if (!isHeaderLayout(value)) return `--layout needs v4 or host-ctrl, got ${String(value)}`;
        headerLayout = value;
        break;
      }
      default:
        if (arg.startsWith('-') && arg !== '-') return `unknown option ${arg}`;
        if (file !== undefined) return `more than one FILE (${file}, ${arg})`;
        file = arg;
    }
  }
  if (file === undefined) return 'missing FILE';
  return { file, bar, headerLayout, json };
}

/**
 * Reads at most the first 64 KiB. The BAR size is the file size (a sysfs resourceN file reports
 * the BAR size); files that report 0 (procfs-like) fall back to what could be read.
 */
async function readBar(file: string): Promise<{ bytes: Uint8Array; barSize: number }> {
  const handle = await open(file, 'r');
  try {
    const size = (await handle.stat()).size;
    const buffer = new Uint8Array(MAX_READ);
    let filled = 0;
    while (filled < MAX_READ) {
      const { bytesRead } = await handle.read(buffer, filled, MAX_READ - filled, filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    return { bytes: buffer.subarray(0, filled), barSize: size > 0 ? size : filled };
  } finally {
    await handle.close();
  }
}

function describeLayout(layout: MetadataLayout, args: InspectArgs, barSize: number): string[] {
  const headerLayout = layout.headerLayout ?? 'v4';
  const where = args.bar === undefined ? '' : `BAR${args.bar}, `;
  const lines = [
    `${args.file} (${where}${hex(barSize)} bytes)`,
    'header',
    `  magic         ${hex(PCI_EP_DMA_METADATA_MAGIC)} (PEDM)`,
    `  revision      ${layout.revision}`,
    `  length        ${hex(layout.length)} (${layout.length} bytes)`,
    `  header layout ${headerLayout} (header ${hex(headerLength(headerLayout))} bytes)`,
    `  registers     BAR${layout.regBar} offset ${hex(layout.regOffset)} size ${hex(layout.regSize)}`,
    `  layout        ${layout.layout} (${hex(PCI_EP_DMA_METADATA_REG_LAYOUT_DW_EDMA)}), ` +
      `map format ${layout.mapFormat} (${hex(MAP_FORMAT_VALUES[layout.mapFormat])})`,
    `  entry size    ${hex(layout.entrySize)}`,
    'handshake',
    `  H host request ${layout.hostRequest ? 1 : 0}`,
    `  R ready        ${layout.ready ? 1 : 0}`,
    `channels: ${layout.write.length} write, ${layout.read.length} read`,
  ];
  const rows: string[][] = [['dir', 'hw', 'desc bar', 'desc offset', 'desc size', 'desc addr', 'aux']];
  const addRows = (dir: string, entries: ChannelEntry[]): void => {
    for (const entry of entries) {
      rows.push([
        dir,
        String(entry.hwChannel),
        String(entry.desc.bar),
        hex(entry.desc.offset),
        hex(entry.desc.size),
        hex(entry.desc.addr),
        entry.aux === undefined
          ? '-'
          : `BAR${entry.aux.bar} offset ${hex(entry.aux.offset)} size ${hex(entry.aux.size)} ` +
            `addr ${hex(entry.aux.addr)}`,
      ]);
    }
  };
  addRows('wr', layout.write);
  addRows('rd', layout.read);
  const widths = rows[0]!.map((_, col) => Math.max(...rows.map((row) => row[col]!.length)));
  for (const row of rows) {
    // the last column is free text: padding it would only add trailing blanks
    const cells = row.map((cell, col) => (col === row.length - 1 ? cell : cell.padEnd(widths[col]!)));
    lines.push(`  ${cells.join('  ')}`);
  }
  return lines;
}
