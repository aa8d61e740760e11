/**
 * The CLI's value parsers: sizes (`64k`), size ranges (`4k-1m`), durations (`10s`) and counts.
 * Options themselves are parsed by node:util parseArgs (command.ts). Every mistake is an
 * EINVAL quoting the text, so a typo in a long load-test command line says exactly what to fix.
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
  // `-5` or `4k-` must quote what was typed, not an empty part.
  const m = /^([^-]+)(?:-([^-]+))?$/.exec(text);
  if (m === null) throw new EpdmaError('EINVAL', `size: ${JSON.stringify(text)} is not a byte count or MIN-MAX range (like 64k, 4k-1m)`);
  const min = parseSize(m[1]!);
  const max = m[2] !== undefined ? parseSize(m[2]) : min;
  if (min > max) throw new EpdmaError('EINVAL', `size range: ${JSON.stringify(text)} has min ${min} > max ${max}`);
  return [min, max];
}

/** A bare number is seconds, as fio reads `runtime` and `ramp_time`: `--duration 3` once ran 3 ms. */
const DURATION_UNITS: Record<string, number> = { '': 1000, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** `1.5` (s), `500ms`, `10s`, `1.5s`, `2m`, `1h` -> milliseconds (rounded). */
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

/** A whole number in [min, max]; `what` names the option in the error. */
export function parseCountIn(text: string, what: string, min: number, max: number): number {
  const value = parseCount(text, what);
  if (value < min || value > max) throw new EpdmaError('EINVAL', `${what}: ${value} is out of range ${min}..${max}`);
  return value;
}

