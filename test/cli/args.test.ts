import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { parseCount, parseCountIn, parseDuration, parseSize, parseSizeRange } from '../../dist/cli/args.js';

describe('parseSize', () => {
  it('reads bytes and k/m/g powers of 1024, case-insensitive', () => {
    expect(parseSize('4096')).toBe(4096);
    expect(parseSize('64k')).toBe(65536);
    expect(parseSize('64K')).toBe(65536);
    expect(parseSize('1m')).toBe(1 << 20);
    expect(parseSize('2G')).toBe(2 * 1024 ** 3);
    expect(parseSize('1.5k')).toBe(1536);
    expect(parseSize('4KiB')).toBe(4096);
    expect(parseSize('0')).toBe(0);
  });

  it('names the text on garbage', () => {
    for (const bad of ['', 'k', '64x', '-1', '1.1', '12 34', 'abc']) {
      expect(() => parseSize(bad)).toThrow(`EINVAL: size: ${JSON.stringify(bad)} is not a byte count`);
    }
  });
});

describe('parseSizeRange', () => {
  it('reads MIN-MAX and a single size', () => {
    expect(parseSizeRange('4k-1m')).toEqual([4096, 1 << 20]);
    expect(parseSizeRange('64k')).toEqual([65536, 65536]);
    expect(parseSizeRange('8-8')).toEqual([8, 8]);
  });

  it('rejects min > max and malformed ranges', () => {
    expect(() => parseSizeRange('1m-4k')).toThrow(/EINVAL: size range: "1m-4k" has min 1048576 > max 4096/);
    // The message quotes what was typed, never an empty part of it.
    for (const bad of ['1-2-3', '4k-', '-5', '-', '']) {
      expect(() => parseSizeRange(bad)).toThrow(`EINVAL: size: ${JSON.stringify(bad)} is not a byte count or MIN-MAX range`);
    }
  });

  it('round-trips any pair of sizes written in any unit (property)', () => {
    const units = [['', 1], ['k', 1024], ['m', 1024 ** 2]] as const;
    fc.assert(fc.property(fc.nat(4096), fc.nat(4096), fc.constantFrom(...units), fc.constantFrom(...units), (a, b, [ua, sa], [ub, sb]) => {
      const [min, max] = [a * sa, b * sb];
      const text = `${a}${ua}-${b}${ub}`;
      if (min > max) expect(() => parseSizeRange(text)).toThrow(/has min/);
      else expect(parseSizeRange(text)).toEqual([min, max]);
    }));
  });
});

describe('parseDuration', () => {
  it('reads ms, s, m, h and bare seconds (fio runtime)', () => {
    expect(parseDuration('3')).toBe(3000);
    expect(parseDuration('0.25')).toBe(250);
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('10s')).toBe(10_000);
    expect(parseDuration('1.5S')).toBe(1500);
    expect(parseDuration('2m')).toBe(120_000);
    expect(parseDuration('1h')).toBe(3_600_000);
  });

  it('names the text on garbage', () => {
    for (const bad of ['', 's', '10x', '-5s', '10 s s']) {
      expect(() => parseDuration(bad)).toThrow(`EINVAL: duration: ${JSON.stringify(bad)} is not a duration`);
    }
  });
});

describe('parseCount', () => {
  it('reads whole numbers and names the flag otherwise', () => {
    expect(parseCount('16', '--depth')).toBe(16);
    expect(() => parseCount('1.5', '--depth')).toThrow('EINVAL: --depth: "1.5" is not a whole number');
  });
});


describe('parseCountIn', () => {
  it('accepts the range and names the option and bounds otherwise', () => {
    expect(parseCountIn('8', '--channels', 1, 16)).toBe(8);
    expect(() => parseCountIn('99', '--channels', 1, 16)).toThrow('EINVAL: --channels: 99 is out of range 1..16');
    expect(() => parseCountIn('0', '--depth', 1, 1024)).toThrow('EINVAL: --depth: 0 is out of range 1..1024');
  });
});
