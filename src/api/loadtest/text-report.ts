/**
 * Terminal output of a load test: the live progress line and the result table. No
 * dependencies: a box table is a few lines of padding. MB/s is 10^6 bytes per second (as
 * dmatest and ntb_perf report), byte counts use binary units.
 */
import type { LoadProgress, LoadStats } from './load-stats.js';

/** 1234567 -> "1,234,567" (fixed format, independent of the machine's locale). */
export function groupDigits(value: number, decimals = 0): string {
  const [int, frac] = Math.abs(value).toFixed(decimals).split('.');
  const grouped = int!.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${value < 0 ? '-' : ''}${grouped}${frac !== undefined ? `.${frac}` : ''}`;
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${UNITS[unit]}`;
}

export const formatMBps = (bytesPerSec: number): string => groupDigits(bytesPerSec / 1e6, 1);

/** Microseconds with as many decimals as are meaningful at that size. */
export function formatUs(us: number): string {
  if (us < 10) return us.toFixed(2);
  if (us < 1000) return us.toFixed(1);
  return groupDigits(us);
}

interface Column {
  title: string;
  align: 'left' | 'right';
  cell(row: LoadStats & { name: string }): string;
}

const COLUMNS: Column[] = [
  { title: 'channel', align: 'left', cell: (r) => r.name },
  { title: 'transfers', align: 'right', cell: (r) => groupDigits(r.transfers) },
  { title: 'bytes', align: 'right', cell: (r) => formatBytes(r.bytes) },
  { title: 'MB/s', align: 'right', cell: (r) => formatMBps(r.throughputBytesPerSec) },
  { title: 'ops/s', align: 'right', cell: (r) => groupDigits(r.opsPerSec) },
  { title: 'p50 us', align: 'right', cell: (r) => formatUs(r.p50Us) },
  { title: 'p99 us', align: 'right', cell: (r) => formatUs(r.p99Us) },
  { title: 'max us', align: 'right', cell: (r) => formatUs(r.maxUs) },
  { title: 'errors', align: 'right', cell: (r) => groupDigits(r.errors) },
  { title: 'mismatches', align: 'right', cell: (r) => groupDigits(r.mismatches) },
];

const pad = (text: string, width: number, align: 'left' | 'right'): string =>
  align === 'left' ? text.padEnd(width) : text.padStart(width);

/**
 * The result table: one row per channel, then the total row, in a box:
 *
 *   ┌─────────┬───────────┬ ...
 *   │ channel │ transfers │ ...
 *   ├─────────┼───────────┼ ...
 */
export function formatResultTable(progress: LoadProgress): string {
  const rows = progress.channels.map((ch) => COLUMNS.map((c) => c.cell(ch)));
  const total = COLUMNS.map((c) => c.cell({ ...progress, name: 'total' }));
  const widths = COLUMNS.map((c, i) => Math.max(c.title.length, total[i]!.length, ...rows.map((r) => r[i]!.length)));
  const rule = (left: string, mid: string, right: string): string =>
    `${left}${widths.map((w) => '─'.repeat(w + 2)).join(mid)}${right}`;
  const line = (cells: string[], header = false): string =>
    `│${cells.map((text, i) => ` ${pad(text, widths[i]!, header ? 'left' : COLUMNS[i]!.align)} `).join('│')}│`;
  return [
    rule('┌', '┬', '┐'),
    line(COLUMNS.map((c) => c.title), true),
    rule('├', '┼', '┤'),
    ...rows.map((r) => line(r)),
    ...(rows.length > 0 ? [rule('├', '┼', '┤')] : []),
    line(total),
    rule('└', '┴', '┘'),
  ].join('\n');
}

/**
 * One line of live progress. On a TTY it starts with `\r` and ends by clearing the rest of the
 * line, so successive writes redraw in place (the caller prints `\n` after the final one); off a
 * TTY it is a plain line ending in `\n`, for logs. Write either with `stream.write(...)`.
 */
export function formatProgressLine(progress: LoadProgress, tty = false): string {
  const problems = progress.errors + progress.mismatches > 0 ? ' !' : '';
  const text =
    `${(progress.elapsedMs / 1000).toFixed(1).padStart(6)}s ` +
    `${progress.channels.length} ch  ` +
    `${groupDigits(progress.transfers)} xfers  ` +
    `${formatMBps(progress.throughputBytesPerSec)} MB/s  ` +
    `${groupDigits(progress.opsPerSec)} ops/s  ` +
    `p50 ${formatUs(progress.p50Us)}us p99 ${formatUs(progress.p99Us)}us max ${formatUs(progress.maxUs)}us  ` +
    `errors ${progress.errors} mismatches ${progress.mismatches}${problems}` +
    (progress.final ? '  done' : '');
  return tty ? `\r${text}\x1b[K` : `${text}\n`;
}
