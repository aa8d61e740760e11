import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { oneOf, optionValue, parseCommand, UsageError } from '../../dist/cli/command.js';
import { parseSize } from '../../dist/cli/args.js';
import { EpdmaError } from '../../dist/device/errors.js';

const SPEC = {
  name: 'test',
  summary: 'a test command',
  help: 'usage: test',
  options: {
    side: { type: 'string', default: 'both' },
    size: { type: 'string' },
    verify: { type: 'boolean', default: true },
    tag: { type: 'string', multiple: true },
  },
  positionals: ['FILE'],
} as const;

function usage(argv: string[]): string {
  try {
    parseCommand(SPEC, argv);
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    expect(err).toBeInstanceOf(EpdmaError);
    expect((err as EpdmaError).code).toBe('EINVAL');
    return (err as Error).message;
  }
  throw new Error(`${JSON.stringify(argv)} parsed`);
}

describe('parseCommand', () => {
  it('reads defaults, --x value, --x=value, --no-x, repeated options and one positional', () => {
    const p = parseCommand(SPEC, ['--size', '4k', '--no-verify', '--tag=a', '--tag', 'b', 'f.bin'])!;
    expect(p.values).toEqual({ side: 'both', size: '4k', verify: false, tag: ['a', 'b'] });
    expect(p.positionals).toEqual(['f.bin']);
  });

  it('returns null for --help and -h anywhere before --', () => {
    expect(parseCommand(SPEC, ['--help'])).toBeNull();
    expect(parseCommand(SPEC, ['--bogus', '-h'])).toBeNull();
    expect(parseCommand(SPEC, ['--', '--help'])!.positionals).toEqual(['--help']);
  });

  it('keeps negative numbers as values, so the value check can quote them', () => {
    expect(parseCommand(SPEC, ['--size', '-5'])!.values.size).toBe('-5');
    expect(() => optionValue('--size', () => parseSize('-5'))).toThrow('EINVAL: --size "-5" is not a byte count');
  });

  it('turns every parse mistake into one line naming the option', () => {
    expect(usage(['--bogus'])).toBe('EINVAL: unknown option --bogus');
    expect(usage(['--bogus=3'])).toBe('EINVAL: unknown option --bogus');
    expect(usage(['--size'])).toBe('EINVAL: option --size needs a value');
    expect(usage(['--verify=yes'])).toBe('EINVAL: option --verify takes no value');
    expect(usage(['a', 'b'])).toBe('EINVAL: unexpected argument "b" (only FILE)');
    expect(oneOf('--side', 'host', ['host', 'both'] as const)).toBe('host');
    expect(() => oneOf('--side', 'left', ['host', 'both'] as const)).toThrow('EINVAL: --side "left" is not host, both');
  });

  it('never throws anything but a UsageError, and its message is one line (property)', () => {
    const token = fc.oneof(fc.constantFrom('--size', '--side', '--verify', '--no-verify', '--tag', '--bogus', '-x', '--', '-5', '4k', 'f'), fc.string({ maxLength: 6 }));
    fc.assert(fc.property(fc.array(token, { maxLength: 6 }), (argv) => {
      try {
        parseCommand(SPEC, argv);
      } catch (err) {
        expect(err).toBeInstanceOf(UsageError);
        expect((err as Error).message).not.toContain('\n');
      }
    }));
  });
});
