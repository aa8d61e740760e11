import { describe, it, expect } from 'vitest';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { renderHtmlReport, writeHtmlReport, escapeHtml } from '../../../dist/api/loadtest/html-report.js';
import { LoadStatsAccumulator } from '../../../dist/api/loadtest/load-stats.js';
import { sampleProgress } from './sample-progress.js';

function extra() {
  return {
    title: 'epdma loadtest <script>',
    options: { side: 'both', size: [4096, 65536], depth: 16 },
    timelines: [
      { name: 'host/rd0', samples: [{ elapsedMs: 0, bytes: 0 }, { elapsedMs: 1000, bytes: 5e6 }, { elapsedMs: 2000, bytes: 9e6 }] },
      { name: 'ep/wr<1>&"', samples: [{ elapsedMs: 0, bytes: 0 }, { elapsedMs: 1000, bytes: 2e6 }, { elapsedMs: 2000, bytes: 7e6 }] },
    ],
    latencyBuckets: [{ fromUs: 8, toUs: 16, count: 10 }, { fromUs: 16, toUs: 32, count: 300 }, { fromUs: 32, toUs: 64, count: 7 }],
    machine: { cpus: 2, node: 'v20.20.2', platform: 'linux' },
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
    expect(html).toContain('[4096,65536]');
    expect(html).toContain('98.3 MB/s');
    expect(html).toContain('<td>131.1</td>');
    expect(html).toContain('<tfoot><tr class="bad"><th>total</th>');
  });

  it('keeps every chart element inside its viewBox', () => {
    const html = renderHtmlReport(sampleProgress(), extra());
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
