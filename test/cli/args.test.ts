import { describe, it, expect } from 'vitest';
import { parseArgs, parseCount, parseDuration, parseSize, parseSizeRange } from '../../dist/cli/args.js';

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
    expect(() => parseSizeRange('1-2-3')).toThrow(/not MIN-MAX/);
    expect(() => parseSizeRange('4k-')).toThrow(/size: "" is not a byte count/);
  });
});

describe('parseDuration', () => {
  it('reads ms, s, m, h and bare milliseconds', () => {
    expect(parseDuration('1500')).toBe(1500);
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

const SPEC = {
  side: { type: 'string', default: 'both' },
  channels: { type: 'string' },
  verify: { type: 'boolean', default: true },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

describe('parseArgs', () => {
  it('applies defaults', () => {
    const { flags, positionals } = parseArgs([], SPEC);
    expect(flags).toEqual({ side: 'both', channels: undefined, verify: true, json: undefined, help: undefined });
    expect(positionals).toEqual([]);
  });

  it('reads --flag value, --flag=value, booleans, --no-x, short flags and positionals', () => {
    const { flags, positionals } = parseArgs(
      ['loadtest', '--side', 'host', '--channels=4', '--no-verify', '--json', 'extra', '-h'], SPEC);
    expect(flags).toEqual({ side: 'host', channels: '4', verify: false, json: true, help: true });
    expect(positionals).toEqual(['loadtest', 'extra']);
    const side: string = flags.side; // typed: defaulted string flags are never undefined
    expect(side).toBe('host');
  });

  it('accepts --x=true/false, values that look like numbers or dashes, and -- ending flags', () => {
    const { flags, positionals } = parseArgs(['--json=false', '--verify=true', '--channels', '-1', '--', '--side', 'x'], SPEC);
    expect(flags).toMatchObject({ json: false, verify: true, channels: '-1', side: 'both' });
    expect(positionals).toEqual(['--side', 'x']);
    expect(parseArgs(['--channels='], SPEC).flags.channels).toBe('');
    expect(parseArgs(['--side', 'a', '--side', 'b'], SPEC).flags.side).toBe('b');
  });

  it('rejects unknown flags, naming them', () => {
    expect(() => parseArgs(['--bogus'], SPEC)).toThrow('EINVAL: unknown flag --bogus');
    expect(() => parseArgs(['--bogus=3'], SPEC)).toThrow('EINVAL: unknown flag --bogus');
    expect(() => parseArgs(['--no-side'], SPEC)).toThrow('EINVAL: unknown flag --no-side');
    expect(() => parseArgs(['-x'], SPEC)).toThrow('EINVAL: unknown flag -x');
  });

  it('rejects missing values and values on booleans', () => {
    expect(() => parseArgs(['--side'], SPEC)).toThrow('EINVAL: flag --side needs a value');
    expect(() => parseArgs(['--side', '--json'], SPEC)).toThrow('EINVAL: flag --side needs a value');
    expect(() => parseArgs(['--json=yes'], SPEC)).toThrow('EINVAL: flag --json: "yes" is not true or false');
    expect(() => parseArgs(['--no-verify=1'], SPEC)).toThrow('EINVAL: flag --no-verify takes no value');
  });
});
