/**
 * What every `epdma` subcommand shares: option parsing with node:util `parseArgs`, `--help`,
 * the usage-error type and the exit codes (API.md "Load test"):
 *
 *   0 done, 1 the run failed, 2 usage error, 3 a threshold failed, 130 interrupted.
 *
 * A command validates every option before it starts anything, so a typo costs no testbed.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { EpdmaError } from '../device/errors.js';

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;
export const EXIT_THRESHOLD = 3;
export const EXIT_INTERRUPTED = 130;

/**
 * A mistake on the command line: exit 2, one line quoting the bad text. It is
 * an EpdmaError (EINVAL), so programs calling a command's `run*` function get the usual type.
 */
export class UsageError extends EpdmaError {
  constructor(message: string) {
    super('EINVAL', message);
    this.name = 'UsageError';
  }
}

export type OptionSpecs = NonNullable<ParseArgsConfig['options']>;

export interface CommandSpec<O extends OptionSpecs> {
  /** `loadtest`, `inspect`, ... */
  readonly name: string;
  /** One line for `epdma --help`. */
  readonly summary: string;
  /** The full `--help` text (usage line first). */
  readonly help: string;
  readonly options: O;
  /** Positional arguments: their names for messages, in order; more is an error. */
  readonly positionals?: readonly string[];
}

type Values<O extends OptionSpecs> = ReturnType<typeof parseArgs<{ options: O; strict: true; allowPositionals: true; allowNegative: true }>>['values'];

export interface ParsedCommand<O extends OptionSpecs> {
  readonly values: Values<O>;
  readonly positionals: string[];
}

/** Values that look like negative numbers are values, never options (`--size -5`). */
function keepNegativeValues(argv: readonly string[], options: OptionSpecs): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const next = argv[i + 1];
    if (arg === '--') {
      out.push(...argv.slice(i));
      break;
    }
    const name = arg.startsWith('--') && !arg.includes('=') ? arg.slice(2) : undefined;
    if (name !== undefined && options[name]?.type === 'string' && next !== undefined && /^-[\d.]/.test(next)) {
      out.push(`${arg}=${next}`);
      i++;
    } else out.push(arg);
  }
  return out;
}

/**
 * Parses `argv` for a command; `null` means `--help` was asked (the caller prints it and
 * exits 0). Unknown options, missing values, values on switches and extra positionals are
 * UsageErrors naming the text.
 */
export function parseCommand<O extends OptionSpecs>(spec: CommandSpec<O>, argv: readonly string[]): ParsedCommand<O> | null {
  if (argv.includes('--help') || argv.includes('-h')) {
    const end = argv.indexOf('--');
    const help = Math.max(argv.indexOf('--help'), argv.indexOf('-h'));
    if (end < 0 || help < end) return null;
  }
  let parsed;
  try {
    parsed = parseArgs({ args: keepNegativeValues(argv, spec.options), options: spec.options, strict: true, allowPositionals: true, allowNegative: true });
  } catch (err) {
    throw new UsageError(describeParseError(err, argv));
  }
  const allowed = spec.positionals ?? [];
  if (parsed.positionals.length > allowed.length) {
    const extra = parsed.positionals[allowed.length]!;
    throw new UsageError(`unexpected argument ${JSON.stringify(extra)}${allowed.length === 0 ? ' (this command takes none)' : ` (only ${allowed.join(' ')})`}`);
  }
  return { values: parsed.values as Values<O>, positionals: parsed.positionals };
}

/** node's parseArgs messages are long and multi-line; ours name the option in one line. */
function describeParseError(err: unknown, argv: readonly string[]): string {
  const e = err as NodeJS.ErrnoException;
  const quoted = /'(-[^']*)'/.exec(e.message ?? '')?.[1];
  switch (e.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION': {
      const option = quoted ?? argv.find((a) => a.startsWith('-')) ?? '?';
      return `unknown option ${option.split('=')[0]}`;
    }
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE': {
      const option = /'(--?[\w-]+)/.exec(e.message)?.[1] ?? '?';
      if (/argument missing|ambiguous/.test(e.message)) return `option ${option} needs a value`;
      if (/does not take an argument/.test(e.message)) return `option ${option} takes no value`;
      return `option ${option}: ${e.message.split('\n')[0]}`;
    }
    default:
      return e instanceof Error ? e.message.split('\n')[0]! : String(err);
  }
}

/** Runs an option's parser; its EpdmaError becomes a UsageError naming the option first. */
export function optionValue<T>(option: string, parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    if (err instanceof UsageError) throw err;
    if (err instanceof EpdmaError) {
      throw new UsageError(`${option} ${err.text.replace(/^[\w -]+: /, '')}`);
    }
    throw err;
  }
}

/** One of a fixed set of words, or a UsageError listing them. */
export function oneOf<const T extends readonly string[]>(option: string, value: string, allowed: T): T[number] {
  if (!allowed.includes(value)) throw new UsageError(`${option} ${JSON.stringify(value)} is not ${allowed.join(', ')}`);
  return value as T[number];
}
