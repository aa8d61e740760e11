import { describe, it, expect } from 'vitest';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { renderHtmlReport, writeHtmlReport, escapeHtml } from '../../../dist/api/loadtest/html-report.js';
import { LoadStatsAccumulator } from '../../../dist/api/loadtest/load-stats.js';
import type { LoadReport } from '../../../dist/api/loadtest/load-report.js';
import { sampleProgress } from './sample-progress.js';

function extra() {
  return {
    title: 'epdma loadtest <script>',
    timelines: [
      { name: 'host/rd0', samples: [{ elapsedMs: 0, bytes: 0 }, { elapsedMs: 1000, bytes: 5e6 }, { elapsedMs: 2000, bytes: 9e6 }] },
      { name: 'ep/wr<1>&"', samples: [{ elapsedMs: 0, bytes: 0 }, { elapsedMs: 1000, bytes: 2e6 }, { elapsedMs: 2000, bytes: 7e6 }] },
    ],
    latencyBuckets: [{ fromUs: 8, toUs: 16, count: 10 }, { fromUs: 16, toUs: 32, count: 300 }, { fromUs: 32, toUs: 64, count: 7 }],
    p999Us: 50,
  };
}

/** The sample progress as the CLI's LoadReport. */
function sampleReport(): LoadReport {
  return {
    ...sampleProgress(),
    settings: { side: 'both', channels: 'all', size: [4096, 65536], depth: 16, durationMs: 2000, verify: true },
    startedAt: '2026-11-30T06:00:00.000Z',
    warmupMs: 200,
    machine: { cpu: 'Test CPU', cores: 2, memoryBytes: 8 * 1024 ** 3 },
    versions: { node: 'v20.20.2', epdma: '9.9.9' },
    thresholds: [{ expr: 'p99<100us', ok: true, actual: 80.25 }, { expr: 'errors==0', ok: false, actual: 1 }],
    interrupted: { signal: 'SIGINT', reason: 'interrupted by SIGINT' },
  };
}

/** Every number in an SVG attribute that places something. */
const coordinates = (svg: string): number[] =>
  [...svg.matchAll(/\b(?:x|y|x1|x2|y1|y2|width|height)="(-?[\d.]+)"/g), ...svg.matchAll(/points="([^"]*)"/g)]
    .flatMap((m) => m[1]!.split(/[ ,]/).map(Number));

describe('renderHtmlReport', () => {
  it('is one self-contained document with the three charts and the summary', () => {
    const html = renderHtmlReport(sampleProgress(), extra());
    expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
    expect(html.match(/<svg /g)).toHaveLength(3);
    expect(html).toContain('<polyline');
    expect(html).not.toMatch(/https?:/);
    expect(html).not.toMatch(/<script|<link|src=/i);
    expect(html).toContain('host/rd0');
    expect(html).toContain('ep/wr&lt;1&gt;&amp;&quot;');
    expect(html).not.toContain('ep/wr<1>');
    expect(html).toContain('<title>epdma loadtest &lt;script&gt;</title>');
    expect(html).toContain('FAILED: 1 errors');
    expect(html).toContain('98.3 MB/s');
    expect(html).toContain('<td>131.1</td>');
    expect(html).toContain('<tfoot><tr class="bad"><th>total</th>');
  });

  it('puts settings, warm-up, machine, versions, thresholds and the interruption at the top', () => {
    const html = renderHtmlReport(sampleReport(), extra());
    const top = html.slice(0, html.indexOf('<h2>Summary'));
    expect(top).toContain('INTERRUPTED (interrupted by SIGINT): partial results');
    expect(top).toContain('side both, channels all, size 4.0 KiB - 64.0 KiB (random), depth 16, duration 2000 ms, verify on');
    expect(top).toContain('<dt>warm-up</dt><dd>200 ms before measuring, excluded from every number below</dd>');
    expect(top).toContain('2026-11-30T06:00:00.000Z');
    expect(top).toContain('Test CPU, 2 cores, 8.0 GiB');
    expect(top).toContain('epdma 9.9.9, node v20.20.2');
    expect(top).toContain('<li class="verdict ok">p99&lt;100us: ok (actual 80.25)</li>');
    expect(top).toContain('<li class="verdict bad">errors==0: FAILED (actual 1)</li>');
  });

  it('marks p50, p99 and p99.9 on the histogram where they fall on its log axis', () => {
    const html = renderHtmlReport(sampleProgress(), extra());
    const svg = /<svg[^>]*aria-label="latency histogram"[\s\S]*?<\/svg>/.exec(html)![0];
    const marks = [...svg.matchAll(/<line class="mark" x1="([\d.]+)"/g)].map((m) => Number(m[1]));
    expect(svg).toContain('p50 12.5 us');
    expect(svg).toContain('p99 80.3 us');
    expect(svg).toContain('p99.9 50.0 us');
    // Buckets 8-16, 16-32, 32-64 us over x 64..744 (bw 226.67): 12.5 us is in the first bucket,
    // 50 us in the third, 80.25 us past the last edge (clamped to it).
    expect(marks[0]).toBeCloseTo(64 + 226.67 * (Math.log(12.5 / 8) / Math.log(2)), 0);
    expect(marks[2]).toBeCloseTo(64 + 226.67 * (2 + Math.log(50 / 32) / Math.log(2)), 0);
    expect(marks[1]).toBeCloseTo(744, 0);
  });

  it('gives the per-channel bars a value axis in MB/s', () => {
    const html = renderHtmlReport(sampleProgress(), extra());
    const svg = /<svg[^>]*aria-label="throughput per channel"[\s\S]*?<\/svg>/.exec(html)![0];
    // 98.3 MB/s is the largest bar: ticks 0, 20, ..., 100; the bar ends at 98.3% of the axis.
    const labels = [...svg.matchAll(/<text x="[\d.]+" y="[\d.]+" text-anchor="middle">([^<]+)<\/text>/g)].map((m) => m[1]);
    expect(labels).toEqual(['0', '20', '40', '60', '80', '100', 'MB/s']);
    const widths = [...svg.matchAll(/<rect x="110" y="[\d.]+" width="([\d.]+)"/g)].map((m) => Number(m[1]));
    expect(widths[1]).toBeCloseTo(540 * 0.983, 0);
  });

  it('keeps every chart element inside its viewBox', () => {
    const html = renderHtmlReport(sampleReport(), extra());
    for (const svg of html.match(/<svg[\s\S]*?<\/svg>/g)!) {
      const [, w, h] = /viewBox="0 0 (\d+) (\d+)"/.exec(svg)!.map(Number);
      for (const v of coordinates(svg)) {
        expect(v).toBeGreaterThanOrEqual(0);
        expect(v).toBeLessThanOrEqual(Math.max(w!, h!));
      }
    }
  });

  it('renders an empty run without charts failing', () => {
    const acc = new LoadStatsAccumulator(['a']);
    const p = acc.snapshot(0, true);
    const html = renderHtmlReport(p, { ...extra(), timelines: acc.timelines(), latencyBuckets: acc.latencyBuckets() });
    expect(html).toContain('no latency samples');
    expect(html).toContain('not enough samples for a timeline');
    expect(html).toContain('passed: no errors, no mismatches');
  });

  it('writes the report to a file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'epdma-report-'));
    try {
      const file = join(dir, 'r.html');
      await writeHtmlReport(file, sampleProgress(), extra());
      expect(await readFile(file, 'utf8')).toBe(renderHtmlReport(sampleProgress(), extra()));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('escapes all five HTML metacharacters', () => {
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  });
});
