import { describe, it, expect } from 'vitest';
import { formatBytes, formatProgressLine, formatResultTable, groupDigits } from '../../../dist/api/loadtest/text-report.js';
import { sampleProgress } from './sample-progress.js';

describe('formatResultTable', () => {
  it('has every column, one row per channel and a total row, all lines equally wide', () => {
    const table = formatResultTable(sampleProgress());
    const lines = table.split('\n');
    for (const title of ['channel', 'transfers', 'bytes', 'MB/s', 'ops/s', 'p50 us', 'p99 us', 'max us', 'errors', 'mismatches']) {
      expect(lines[1]).toContain(title);
    }
    expect(lines).toHaveLength(8); // top, header, rule, 2 rows, rule, total, bottom
    expect(new Set(lines.map((l) => l.length)).size).toBe(1);
    expect(lines[3]).toMatch(/^│ host\/rd0 +│ +1,000 │ +62\.5 MiB │ +32\.8 │ +500 │ +12\.5 │ +80\.3 │ +1,235 │ +0 │ +0 │$/);
    expect(lines[6]).toMatch(/^│ total +│ +4,000 │ +250\.0 MiB │ +131\.1 │ +2,000 │/);
    expect(lines[0]!.startsWith('┌')).toBe(true);
    expect(lines[7]!.startsWith('└')).toBe(true);
  });

  it('prints a table with only the total row when there are no channels', () => {
    const p = { ...sampleProgress(), channels: [] };
    expect(formatResultTable(p).split('\n')).toHaveLength(5);
  });
});

describe('formatProgressLine', () => {
  it('redraws in place on a TTY and prints whole lines otherwise', () => {
    const p = { ...sampleProgress(), final: false };
    const tty = formatProgressLine(p, true);
    const plain = formatProgressLine(p, false);
    expect(tty.startsWith('\r')).toBe(true);
    expect(tty.endsWith('\x1b[K')).toBe(true);
    expect(tty).not.toContain('\n');
    expect(plain.endsWith('\n')).toBe(true);
    expect(plain.split('\n')).toHaveLength(2);
    expect(plain).toContain('2 ch');
    expect(plain).toContain('4,000 xfers');
    expect(plain).toContain('131.1 MB/s');
    expect(plain).toContain('errors 1 mismatches 0 !');
    expect(plain).not.toContain('done');
    expect(formatProgressLine(sampleProgress())).toContain('done');
  });
});

describe('number formatting', () => {
  it('groups digits and scales bytes', () => {
    expect(groupDigits(1234567)).toBe('1,234,567');
    expect(groupDigits(-1234.567, 1)).toBe('-1,234.6');
    expect(groupDigits(999)).toBe('999');
    expect(formatBytes(1023)).toBe('1023 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(3 * 1024 ** 3)).toBe('3.0 GiB');
  });
});
