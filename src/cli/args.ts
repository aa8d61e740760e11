/**
 * The CLI's argv parsing: sizes (`64k`), size ranges (`4k-1m`), durations (`10s`) and a small
 * flag parser. Every mistake is an EINVAL naming the text or the flag, so a typo in a long
 * load-test command line says exactly what to fix.
 */
import { EpdmaError } from '../device/errors.js';

const SIZE_UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/** `4096`, `64k`, `1M`, `2g` (k/m/g are powers of 1024, case-insensitive; an optional `b`/`ib`). */
export function parseSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmg]?)(?:i?b)?\s*$/i.exec(text);
  const bytes = m ? Number(m[1]) * SIZE_UNITS[m[2]!.toLowerCase()]! : NaN;
  if (!Number.isSafeInteger(bytes)) {
    throw new EpdmaError('EINVAL', `size: ${JSON.stringify(text)} is not a byte count (like 4096, 64k, 1m)`);
  }
  return bytes;
}

/** `4k-1m` -> [4096, 1048576]; a single size gives [size, size]; min must not exceed max. */
export function parseSizeRange(text: string): [min: number, max: number] {
  const parts = text.split('-');
  if (parts.length > 2) throw new EpdmaError('EINVAL', `size range: ${JSON.stringify(text)} is not MIN-MAX`);
  const min = parseSize(parts[0]!);
  const max = parts.length === 2 ? parseSize(parts[1]!) : min;
  if (min > max) throw new EpdmaError('EINVAL', `size range: ${JSON.stringify(text)} has min ${min} > max ${max}`);
  return [min, max];
}

const DURATION_UNITS: Record<string, number> = { '': 1, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** `1500` (ms), `500ms`, `10s`, `1.5s`, `2m`, `1h` -> milliseconds (rounded). */
export function parseDuration(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|)\s*$/i.exec(text);
  const ms = m ? Math.round(Number(m[1]) * DURATION_UNITS[m[2]!.toLowerCase()]!) : NaN;
  if (!Number.isSafeInteger(ms)) {
    throw new EpdmaError('EINVAL', `duration: ${JSON.stringify(text)} is not a duration (like 500ms, 10s, 2m)`);
  }
  return ms;
}

/** A non-negative integer flag value (`--depth 16`); `what` names the flag in the error. */
export function parseCount(text: string, what: string): number {
  const value = /^\s*\d+\s*$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value)) throw new EpdmaError('EINVAL', `${what}: ${JSON.stringify(text)} is not a whole number`);
  return value;
}

export type FlagSpec =
  | { readonly type: 'string'; readonly default?: string; readonly short?: string }
  | { readonly type: 'boolean'; readonly default?: boolean; readonly short?: string };

export type ArgSpec = Readonly<Record<string, FlagSpec>>;

type FlagValue<F extends FlagSpec> =
  F extends { type: 'boolean' } ? (F extends { default: boolean } ? boolean : boolean | undefined)
    : F extends { default: string } ? string : string | undefined;

export interface ParsedArgs<S extends ArgSpec> {
  flags: { [K in keyof S]: FlagValue<S[K]> };
  /** Arguments that are not flags, and everything after `--`, in order. */
  positionals: string[];
}

/**
 * Parses `--flag value`, `--flag=value`, boolean `--flag` / `--no-flag` / `--flag=false`, short
 * `-x` aliases from the spec, and `--` ending the flags. A string flag given twice keeps the last
 * value. Unknown flags and missing values are EINVAL naming the flag.
 */
export function parseArgs<const S extends ArgSpec>(argv: readonly string[], spec: S): ParsedArgs<S> {
  const flags: Record<string, string | boolean | undefined> = {};
  for (const [name, f] of Object.entries(spec)) flags[name] = f.default;
  const shorts = new Map(Object.entries(spec).flatMap(([name, f]) => (f.short ? [[f.short, name] as const] : [])));
  const positionals: string[] = [];

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    let name: string;
    let inline: string | undefined;
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
      inline = eq < 0 ? undefined : arg.slice(eq + 1);
    } else if (/^-[^-\d]$/.test(arg)) {
      const long = shorts.get(arg.slice(1));
      if (long === undefined) throw new EpdmaError('EINVAL', `unknown flag ${arg}`);
      name = long;
    } else {
      positionals.push(arg);
      continue;
    }

    const f: FlagSpec | undefined = Object.hasOwn(spec, name) ? spec[name] : undefined;
    if (!f && name.startsWith('no-')) {
      const positive = name.slice(3);
      const g = Object.hasOwn(spec, positive) ? spec[positive] : undefined;
      if (g?.type === 'boolean') {
        if (inline !== undefined) throw new EpdmaError('EINVAL', `flag --${name} takes no value (got ${JSON.stringify(inline)})`);
        flags[positive] = false;
        continue;
      }
    }
    if (!f) throw new EpdmaError('EINVAL', `unknown flag ${arg.split('=')[0]}`);

    if (f.type === 'boolean') {
      if (inline === undefined || inline === 'true') flags[name] = true;
      else if (inline === 'false') flags[name] = false;
      else throw new EpdmaError('EINVAL', `flag --${name}: ${JSON.stringify(inline)} is not true or false`);
      continue;
    }
    if (inline === undefined) {
      const next = argv[i + 1];
      if (next === undefined || (next.startsWith('--') && next.length > 2)) {
        throw new EpdmaError('EINVAL', `flag --${name} needs a value`);
      }
      inline = next;
      i++;
    }
    flags[name] = inline;
  }
  return { flags: flags as ParsedArgs<S>['flags'], positionals };
}
