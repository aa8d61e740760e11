import { open, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { IatuMirror } from '../api/two-process/iatu-mirror.js';
import { readManifest, type DeviceManifest } from '../api/two-process/shm-layout.js';
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
import { parseCountIn } from './args.js';
import { optionValue, parseCommand, UsageError } from './command.js';
import { CHANNEL_KINDS, kindAbbreviation } from '../device/direction.js';

/**
 * `epdma inspect FILE|DIR [--bar N] [--layout v4|host-ctrl] [--json]`: decode a metadata BAR
 * dump, a BAR resource file, or the directory `epdma endpoint --shm DIR` publishes, the way
 * dw-edma-pcie would read it.
 *
 * Exit codes: 0 decoded, 1 the blob is not acceptable metadata (the kernel error kind is
 * printed), 2 usage error or the file cannot be read.
 */

const HELP = `usage: epdma inspect FILE|DIR [--bar N] [--layout v4|host-ctrl] [--json]
Decodes a pci-ep-dma metadata BAR the way dw-edma-pcie reads it: header, the host-request (H)
and READY (R) bits, and the channel tables.

  FILE            a dump of the metadata BAR, or a BAR resource file
                  (/sys/bus/pci/devices/<bdf>/resourceN); only the first 64 KiB are read
  DIR             the directory 'epdma endpoint --shm DIR' publishes: the metadata BAR is
                  found through DIR/device.json and the published inbound windows
  --bar N         the BAR the file is (0..5): windows inside it are checked against its size
  --layout L      header layout: v4 (default) or host-ctrl
  --json          print the decoded MetadataLayout as JSON; the 64-bit fields (regOffset,
                  desc/aux offset and addr) are exact decimal strings, e.g. "9007199254740992"
                  (BigInt() reads them back), every other field a number

exit status: 0 decoded; 1 not valid metadata (the kernel's error kind is printed); 2 usage
error or unreadable file`;

const SPEC = {
  name: 'inspect',
  summary: 'decode a metadata BAR',
  help: HELP,
  options: {
    bar: { type: 'string' },
    layout: { type: 'string', default: 'v4' },
    json: { type: 'boolean', default: false },
  },
  positionals: ['FILE|DIR'],
} as const;

/** JSON has no 64-bit integer: bigints become their exact decimal string. */
function exactU64(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString(10) : value;
}

/** The length field is 16 bits, so nothing past 64 KiB can belong to the blob. */
const MAX_READ = 64 * 1024;

interface InspectArgs {
  file: string;
  bar: number | undefined;
  headerLayout: HeaderLayout;
  json: boolean;
}

export async function runInspect(args: string[], out: (line: string) => void): Promise<number> {
  const parsed = parseCommand(SPEC, args);
  if (parsed === null) {
    out(HELP);
    return 0;
  }
  const file = parsed.positionals[0];
  if (file === undefined) throw new UsageError('missing FILE or DIR');
  const layoutName = parsed.values.layout;
  if (!isHeaderLayout(layoutName)) throw new UsageError(`--layout ${JSON.stringify(layoutName)} is not v4 or host-ctrl`);
  const options: InspectArgs = {
    file,
    bar: parsed.values.bar === undefined ? undefined : optionValue('--bar', () => parseCountIn(parsed.values.bar!, '--bar', 0, PCI_STD_MAX_BAR)),
    headerLayout: layoutName,
    json: parsed.values.json,
  };

  let contents: { bytes: Uint8Array; barSize: number; where?: string };
  try {
    contents = (await stat(file)).isDirectory() ? await readPublishedBar(file, options) : await readBar(file);
  } catch (err) {
    if (err instanceof EpdmaError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (code ?? String(err));
    throw new UsageError(`cannot read ${file}: ${reason}`);
  }

  const barSizes: (number | undefined)[] = [];
  if (options.bar !== undefined) barSizes[options.bar] = contents.barSize;
  const layout: MetadataLayout = parseMetadata(contents.bytes, {
    ...(options.bar !== undefined ? { barIndex: options.bar } : {}),
    barSizes,
    headerLayout: options.headerLayout,
  });

  if (options.json) out(JSON.stringify(layout, exactU64, 2));
  else for (const line of describeLayout(layout, options, contents.barSize, contents.where)) out(line);
  return 0;
}

/**
 * The metadata BAR of an endpoint process: device.json lists the BARs; control.mem holds the
 * inbound windows the endpoint programmed (iatu-mirror.ts); the window at offset 0 of each BAR
 * names an EP-local address, which device.json's regions place in one of the files. The BAR
 * whose first bytes carry the metadata magic is the one (or the one --bar names).
 */
async function readPublishedBar(dir: string, options: InspectArgs): Promise<{ bytes: Uint8Array; barSize: number; where: string }> {
  const manifest: DeviceManifest = readManifest(dir);
  const control = await readFile(join(dir, manifest.files.control.name));
  const mirror = new IatuMirror(new Int32Array(control.buffer, control.byteOffset, control.byteLength >>> 2));
  const bars = options.bar === undefined ? manifest.bars : manifest.bars.filter((b) => b.index === options.bar);
  if (bars.length === 0) throw new UsageError(`--bar ${options.bar}: ${dir} publishes BARs ${manifest.bars.map((b) => b.index).join(', ')}`);
  let first: { bytes: Uint8Array; barSize: number; where: string } | undefined;
  for (const bar of bars) {
    const window = mirror.read(bar.index).find((w) => w.barOffset === 0);
    const region = window && manifest.regions.find((r) => window.localAddr >= r.base && window.localAddr < r.base + r.size);
    if (window === undefined || region === undefined) continue;
    const name = manifest.files[region.file].name;
    const offset = region.fileOffset + (window.localAddr - region.base);
    const handle = await open(join(dir, name), 'r');
    try {
      const bytes = new Uint8Array(Math.min(MAX_READ, window.size, bar.size));
      await handle.read(bytes, 0, bytes.length, offset);
      const found = { bytes, barSize: bar.size, where: `BAR${bar.index} (bus ${hex(bar.busAddr)}), backed by ${join(dir, name)} at offset ${hex(offset)}` };
      first ??= found;
      if (new DataView(bytes.buffer).getUint32(0, true) === PCI_EP_DMA_METADATA_MAGIC) {
        options.bar ??= bar.index;
        return found;
      }
    } finally {
      await handle.close();
    }
  }
  if (first !== undefined) return first;
  throw new EpdmaError('ENODEV', `${dir}: no BAR of the endpoint is mapped (is it between link down and up?)`);
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

function describeLayout(layout: MetadataLayout, args: InspectArgs, barSize: number, published?: string): string[] {
  const headerLayout = layout.headerLayout ?? 'v4';
  const where = args.bar === undefined ? '' : `BAR${args.bar}, `;
  const lines = [
    `${args.file} (${where}${hex(barSize)} bytes)`,
    ...(published !== undefined ? [`metadata BAR: ${published}`] : []),
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
  for (const kind of CHANNEL_KINDS) addRows(kindAbbreviation(kind), layout[kind]);
  const widths = rows[0]!.map((_, col) => Math.max(...rows.map((row) => row[col]!.length)));
  for (const row of rows) {
    // the last column is free text: padding it would only add trailing blanks
    const cells = row.map((cell, col) => (col === row.length - 1 ? cell : cell.padEnd(widths[col]!)));
    lines.push(`  ${cells.join('  ')}`);
  }
  return lines;
}
