/**
 * The load test's HTML report: one self-contained file (inline CSS, inline SVG, no scripts, no
 * external URLs) that can be attached to a bug or archived by CI and still open years later.
 * SVG elements carry no xmlns: the HTML parser places inline <svg> in the SVG namespace itself.
 */
import { writeFile } from 'node:fs/promises';
import type { LatencyBucket } from './latency-histogram.js';
import type { LoadReport } from './load-report.js';
import type { ChannelTimeline, LoadProgress, LoadStats } from './load-stats.js';
import { formatBytes, formatMBps, formatUs, groupDigits } from './text-report.js';

export interface HtmlReportExtra {
  title: string;
  timelines: ChannelTimeline[];
  latencyBuckets: LatencyBucket[];
  /** p99.9 in us, marked on the histogram with p50 and p99. */
  p999Us: number;
}

const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
const colour = (i: number): string => PALETTE[i % PALETTE.length]!;

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}
const esc = (value: unknown): string => escapeHtml(typeof value === 'string' ? value : JSON.stringify(value) ?? String(value));
const n1 = (v: number): string => (Number.isFinite(v) ? v.toFixed(1) : '0');

/** Round ticks (1, 2, 5 x 10^k apart), about `count` of them, the last one >= `max`. */
function ticks(max: number, count = 5): number[] {
  if (!(max > 0)) return [0];
  const raw = max / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw)!;
  const steps = Math.ceil(max / step - 1e-9);
  const out: number[] = [];
  for (let k = 0; k <= steps; k++) out.push(k * step);
  return out;
}

const shortNumber = (v: number): string =>
  v >= 1e6 ? `${+(v / 1e6).toPrecision(3)}M` : v >= 1e3 ? `${+(v / 1e3).toPrecision(3)}k` : `${+v.toPrecision(3)}`;

interface Plot { width: number; height: number; left: number; right: number; top: number; bottom: number }
const innerW = (p: Plot): number => p.width - p.left - p.right;
const innerH = (p: Plot): number => p.height - p.top - p.bottom;

/** Axes, y grid and labels shared by the vertical charts. */
function axes(p: Plot, yMax: number, yLabel: string, xLabel: string): string {
  const y = (v: number): number => p.top + innerH(p) - (yMax > 0 ? (v / yMax) * innerH(p) : 0);
  const grid = ticks(yMax).map((v) =>
    `<line class="grid" x1="${p.left}" x2="${p.width - p.right}" y1="${n1(y(v))}" y2="${n1(y(v))}"/>` +
    `<text x="${p.left - 6}" y="${n1(y(v) + 4)}" text-anchor="end">${esc(shortNumber(v))}</text>`).join('');
  return `${grid}<line class="axis" x1="${p.left}" y1="${p.top}" x2="${p.left}" y2="${p.height - p.bottom}"/>` +
    `<line class="axis" x1="${p.left}" y1="${p.height - p.bottom}" x2="${p.width - p.right}" y2="${p.height - p.bottom}"/>` +
    `<text x="14" y="${p.top + innerH(p) / 2}" text-anchor="middle" transform="rotate(-90 14 ${p.top + innerH(p) / 2})">${esc(yLabel)}</text>` +
    `<text x="${p.left + innerW(p) / 2}" y="${p.height - 6}" text-anchor="middle">${esc(xLabel)}</text>`;
}

/** Horizontal bars with a value axis in MB/s under them (ticks and grid lines). */
function throughputBars(channels: (LoadStats & { name: string })[]): string {
  const barH = 18;
  const gap = 6;
  const left = 110;
  const width = 760;
  const axisH = 40;
  const barsBottom = 10 + channels.length * (barH + gap);
  const height = barsBottom + axisH;
  const span = width - left - 110;
  const mbps = channels.map((c) => c.throughputBytesPerSec / 1e6);
  const scaleTicks = ticks(Math.max(0, ...mbps));
  const max = scaleTicks.at(-1)! || 1;
  const x = (v: number): number => left + (v / max) * span;
  const axis = scaleTicks.map((v) =>
    `<line class="grid" x1="${n1(x(v))}" x2="${n1(x(v))}" y1="4" y2="${barsBottom}"/>` +
    `<text x="${n1(x(v))}" y="${barsBottom + 14}" text-anchor="middle">${esc(shortNumber(v))}</text>`).join('') +
    `<line class="axis" x1="${left}" y1="${barsBottom}" x2="${left + span}" y2="${barsBottom}"/>` +
    `<text x="${left + span / 2}" y="${barsBottom + 32}" text-anchor="middle">MB/s</text>`;
  const bars = channels.map((c, i) => {
    const y = 10 + i * (barH + gap);
    const w = x(mbps[i]!) - left;
    return `<text x="${left - 8}" y="${y + 13}" text-anchor="end">${esc(c.name)}</text>` +
      `<rect x="${left}" y="${y}" width="${n1(w)}" height="${barH}" fill="${colour(i)}"><title>${esc(c.name)}</title></rect>` +
      `<text x="${n1(left + w + 6)}" y="${y + 13}">${esc(formatMBps(c.throughputBytesPerSec))} MB/s</text>`;
  }).join('');
  return `<svg viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="throughput per channel">` +
    `${axis}<line class="axis" x1="${left}" y1="4" x2="${left}" y2="${barsBottom}"/>${bars}</svg>`;
}

/** Where `us` falls on the histogram's log x axis (bucket i spans [left + i*bw, left + (i+1)*bw)). */
function latencyX(buckets: LatencyBucket[], us: number, left: number, bw: number): number {
  const last = buckets.length - 1;
  for (let i = 0; i <= last; i++) {
    const b = buckets[i]!;
    if (us < b.toUs || i === last) {
      const frac = us <= b.fromUs ? 0 : Math.min(1, Math.log(us / b.fromUs) / Math.log(b.toUs / b.fromUs));
      return left + (i + frac) * bw;
    }
  }
  return left;
}

function latencyChart(buckets: LatencyBucket[], marks: [string, number][]): string {
  const p: Plot = { width: 760, height: 260, left: 64, right: 16, top: 12, bottom: 48 };
  if (buckets.length === 0) return '<p class="empty">no latency samples</p>';
  const max = Math.max(...buckets.map((b) => b.count));
  const yMax = ticks(max).at(-1)! || 1;
  const bw = innerW(p) / buckets.length;
  const bars = buckets.map((b, i) => {
    const h = (b.count / yMax) * innerH(p);
    const x = p.left + i * bw;
    return `<rect x="${n1(x + 1)}" y="${n1(p.top + innerH(p) - h)}" width="${n1(Math.max(1, bw - 2))}" height="${n1(h)}" fill="${colour(0)}">` +
      `<title>${esc(`${formatUs(b.fromUs)}-${formatUs(b.toUs)} us: ${b.count}`)}</title></rect>`;
  }).join('');
  // Bucket edges are log-spaced, so evenly spaced labels are a log axis.
  const every = Math.max(1, Math.ceil(buckets.length / 8));
  const labels = buckets.map((b, i) => (i % every === 0
    ? `<text x="${n1(p.left + i * bw)}" y="${p.height - p.bottom + 16}" text-anchor="middle">${esc(formatUs(b.fromUs))}</text>` : '')).join('') +
    `<text x="${p.width - p.right}" y="${p.height - p.bottom + 16}" text-anchor="end">${esc(formatUs(buckets.at(-1)!.toUs))}</text>`;
  const percentiles = marks.filter(([, us]) => us > 0).map(([name, us], k) => {
    const mx = latencyX(buckets, us, p.left, bw);
    return `<line class="mark" x1="${n1(mx)}" x2="${n1(mx)}" y1="${p.top}" y2="${p.top + innerH(p)}"/>` +
      `<text class="mark" x="${n1(Math.min(mx + 3, p.width - p.right - 70))}" y="${p.top + 10 + k * 12}">${esc(`${name} ${formatUs(us)} us`)}</text>`;
  }).join('');
  return `<svg viewBox="0 0 ${p.width} ${p.height}" width="${p.width}" height="${p.height}" role="img" aria-label="latency histogram">` +
    `${axes(p, yMax, 'transfers', 'latency, us (log scale)')}${bars}${labels}${percentiles}</svg>`;
}

/** MB/s between consecutive samples, plotted at the end of each interval. */
function rates(samples: ChannelTimeline['samples']): { t: number; mbps: number }[] {
  const out: { t: number; mbps: number }[] = [];
  for (let i = 1; i < samples.length; i++) {
    const dt = samples[i]!.elapsedMs - samples[i - 1]!.elapsedMs;
    if (dt > 0) out.push({ t: samples[i]!.elapsedMs / 1000, mbps: (samples[i]!.bytes - samples[i - 1]!.bytes) / 1e6 / (dt / 1000) });
  }
  return out;
}

function timelineChart(timelines: ChannelTimeline[]): string {
  // Tall enough for one legend row per channel (16 channels on a full 8+8 testbed side).
  const p: Plot = { width: 760, height: Math.max(300, 40 + timelines.length * 16), left: 64, right: 130, top: 12, bottom: 44 };
  const series = timelines.map((tl) => ({ name: tl.name, points: rates(tl.samples) }));
  const all = series.flatMap((s) => s.points);
  if (all.length === 0) return '<p class="empty">not enough samples for a timeline</p>';
  const tMax = Math.max(...all.map((q) => q.t));
  const yMax = ticks(Math.max(...all.map((q) => q.mbps))).at(-1)! || 1;
  const x = (t: number): number => p.left + (tMax > 0 ? (t / tMax) * innerW(p) : 0);
  const y = (v: number): number => p.top + innerH(p) - (v / yMax) * innerH(p);
  const xTicks = ticks(tMax, 6).filter((t) => t <= tMax * (1 + 1e-9)).map((t) =>
    `<text x="${n1(x(t))}" y="${p.height - p.bottom + 16}" text-anchor="middle">${esc(shortNumber(t))}</text>`).join('');
  const lines = series.map((s, i) => (s.points.length === 0 ? '' :
    `<polyline fill="none" stroke="${colour(i)}" stroke-width="1.5" points="${s.points.map((q) => `${n1(x(q.t))},${n1(y(q.mbps))}`).join(' ')}">` +
    `<title>${esc(s.name)}</title></polyline>`)).join('');
  const legend = series.map((s, i) => {
    const ly = p.top + 8 + i * 16;
    const lx = p.width - p.right + 12;
    return `<line x1="${lx}" x2="${lx + 16}" y1="${ly}" y2="${ly}" stroke="${colour(i)}" stroke-width="3"/>` +
      `<text x="${lx + 22}" y="${ly + 4}">${esc(s.name)}</text>`;
  }).join('');
  return `<svg viewBox="0 0 ${p.width} ${p.height}" width="${p.width}" height="${p.height}" role="img" aria-label="throughput over time">` +
    `${axes(p, yMax, 'MB/s', 'elapsed, s')}${xTicks}${lines}${legend}</svg>`;
}

function summaryTable(progress: LoadProgress): string {
  const head = ['channel', 'transfers', 'bytes', 'MB/s', 'ops/s', 'p50 us', 'p99 us', 'max us', 'errors', 'mismatches'];
  const row = (r: LoadStats & { name: string }, cls = ''): string =>
    `<tr${cls ? ` class="${cls}"` : ''}>${[r.name, groupDigits(r.transfers), formatBytes(r.bytes), formatMBps(r.throughputBytesPerSec),
      groupDigits(r.opsPerSec), formatUs(r.p50Us), formatUs(r.p99Us), formatUs(r.maxUs), groupDigits(r.errors), groupDigits(r.mismatches)]
      .map((c, i) => (i === 0 ? `<th>${esc(c)}</th>` : `<td>${esc(c)}</td>`)).join('')}</tr>`;
  const bad = (r: LoadStats): string => (r.errors + r.mismatches > 0 ? 'bad' : '');
  return `<table><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>` +
    progress.channels.map((c) => row(c, bad(c))).join('') +
    `</tbody><tfoot>${row({ ...progress, name: 'total' }, bad(progress))}</tfoot></table>`;
}

const CSS = `body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:900px}
h1{font-size:20px}h2{font-size:16px;margin-top:28px}
table{border-collapse:collapse}th,td{padding:3px 10px;border-bottom:1px solid #ddd}
td{text-align:right;font-variant-numeric:tabular-nums}thead th{text-align:right}thead th:first-child,tbody th,tfoot th{text-align:left}
tfoot tr{font-weight:bold}tr.bad{background:#fde8e8}.verdict.ok{color:#1a7f37}.verdict.bad{color:#c62828}
dl{display:grid;grid-template-columns:max-content auto;gap:2px 16px}dt{color:#666}dd{margin:0}
svg text{font:11px system-ui,sans-serif;fill:#333}.axis{stroke:#333}.grid{stroke:#eee}.empty{color:#666}
line.mark{stroke:#c62828;stroke-dasharray:4 3}text.mark{fill:#c62828}.interrupted{background:#fff4e5;padding:6px 10px}`;

function isReport(p: LoadProgress | LoadReport): p is LoadReport {
  return 'settings' in p;
}

const describeSize = (size: number | [number, number]): string =>
  Array.isArray(size) ? `${formatBytes(size[0])} - ${formatBytes(size[1])} (random)` : formatBytes(size);

/** Settings, warm-up, machine and versions: the facts at the top of the report. */
function facts(progress: LoadProgress | LoadReport): [string, string][] {
  const elapsed = `${(progress.elapsedMs / 1000).toFixed(2)} s measured`;
  if (!isReport(progress)) return [['elapsed', elapsed]];
  const s = progress.settings;
  return [
    ['started', progress.startedAt],
    ['settings', `side ${s.side}, channels ${s.channels}, size ${describeSize(s.size)}, depth ${s.depth}, ` +
      `${s.iterations !== undefined ? `${s.iterations} iterations per channel` : `duration ${s.durationMs} ms`}, verify ${s.verify ? 'on' : 'off'}`],
    ['warm-up', progress.warmupMs > 0 ? `${progress.warmupMs} ms before measuring, excluded from every number below` : 'none'],
    ['elapsed', elapsed],
    ['machine', `${progress.machine.cpu}, ${progress.machine.cores} cores, ${formatBytes(progress.machine.memoryBytes)}`],
    ['versions', `epdma ${progress.versions.epdma}, node ${progress.versions.node}`],
  ];
}

export function renderHtmlReport(progress: LoadProgress | LoadReport, extra: HtmlReportExtra): string {
  const ok = progress.errors === 0 && progress.mismatches === 0;
  const verdict = ok ? 'passed: no errors, no mismatches'
    : `FAILED: ${progress.errors} errors, ${progress.mismatches} mismatched bytes`;
  const report = isReport(progress) ? progress : undefined;
  const interrupted = report?.interrupted !== undefined
    ? `<p class="interrupted">INTERRUPTED (${esc(report.interrupted.reason)}): partial results</p>` : '';
  const thresholds = report?.thresholds !== undefined && report.thresholds.length > 0
    ? `<h2>Thresholds</h2><ul>${report.thresholds.map((t) => `<li class="verdict ${t.ok ? 'ok' : 'bad'}">${esc(t.expr)}: ${t.ok ? 'ok' : 'FAILED'} (actual ${esc(+t.actual.toPrecision(4))})</li>`).join('')}</ul>` : '';
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(extra.title)}</title><style>${CSS}</style></head>
<body>
<h1>${esc(extra.title)}</h1>
${interrupted}<dl>${facts(progress).map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(v)}</dd>`).join('')}</dl>
<p class="verdict ${ok ? 'ok' : 'bad'}">${esc(verdict)}</p>
${thresholds}<h2>Summary</h2>
${summaryTable(progress)}
<h2>Throughput per channel</h2>
${throughputBars(progress.channels)}
<h2>Latency histogram</h2>
${latencyChart(extra.latencyBuckets, [['p50', progress.p50Us], ['p99', progress.p99Us], ['p99.9', extra.p999Us]])}
<h2>Throughput over time</h2>
${timelineChart(extra.timelines)}
</body></html>
`;
}

export async function writeHtmlReport(file: string, progress: LoadProgress | LoadReport, extra: HtmlReportExtra): Promise<void> {
  await writeFile(file, renderHtmlReport(progress, extra), 'utf8');
}
