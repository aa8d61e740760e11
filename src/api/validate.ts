import { EpdmaError } from '../device/errors.js';
import type { DmaBuffer } from './types.js';

/**
 * Argument checks for every public entry point, one helper per kind of value. From JavaScript
 * anything can arrive (null, a string, 10n, a Symbol); each helper turns a bad value into an
 * EpdmaError whose message names where it came from (`what`, e.g. 'host/rd0: transfer: length')
 * and shows the value, instead of a TypeError from deep inside. A new entry point gets the same
 * behaviour by calling these.
 */

/** A value as a message shows it: strings quoted, bigints with n, objects as JSON when they can be. */
export function show(value: unknown): string {
  if (typeof value === 'string') return `'${value}'`;
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'symbol' || typeof value === 'function') return String(value);
  if (value instanceof Uint8Array) return `Uint8Array(${value.length})`;
  if (typeof value === 'object' && value !== null) {
    try {
      const json = JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v));
      return json.length > 80 ? `${json.slice(0, 77)}...` : json;
    } catch {
      return Object.prototype.toString.call(value);
    }
  }
  return String(value);
}

function invalid(what: string, value: unknown, expected: string): never {
  throw new EpdmaError('EINVAL', `${what} ${show(value)} ${expected}`);
}

/**
 * Predicates for per-descriptor paths: test first, and only on failure call the check*
 * helper, so a valid call builds no message string and allocates nothing.
 */
export function isPlainObject(value: unknown): value is object {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
export function isAddress(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/** A plain options/request object (not null, not an array). */
export function checkObject<T extends object>(value: T | null | undefined, what: string): T {
  if (!isPlainObject(value)) invalid(what, value, 'is not an object');
  return value as T;
}

const NO_OPTIONS = Object.freeze({});

/**
 * An optional options object: undefined gives an empty one (shared, so prep paths allocate
 * nothing for it), anything but a plain object is EINVAL.
 */
export function checkOptions<T extends object>(value: T | null | undefined, what: string): Partial<T> {
  return value === undefined ? NO_OPTIONS : checkObject(value, what);
}

/** A bus address: a safe integer >= 0 (a number, never a bigint or a string). */
export function checkAddress(value: unknown, what: string): number {
  if (!isAddress(value)) invalid(what, value, 'is not a bus address (an integer >= 0)');
  return value;
}

/** A byte count in min..max. */
export function checkLength(value: unknown, what: string, min = 1, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    invalid(what, value, `is not a byte count in ${min}..${max}`);
  }
  return value;
}

/** An integer count in min..max. */
export function checkCount(value: unknown, what: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) invalid(what, value, `is not an integer in ${min}..${max}`);
  return value;
}

/** A duration in ms: finite and > 0 (Infinity would run forever, 0 or NaN would spin). */
export function checkDuration(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) invalid(what, value, 'is not a duration in ms (finite, > 0)');
  return value;
}

export function checkBoolean(value: unknown, what: string): boolean {
  if (typeof value !== 'boolean') invalid(what, value, 'is not a boolean');
  return value;
}

export function checkString(value: unknown, what: string): string {
  if (typeof value !== 'string' || value === '') invalid(what, value, 'is not a non-empty string');
  return value;
}

/** One of `allowed`. */
export function checkEnum<T extends string>(value: unknown, what: string, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) invalid(what, value, `is not one of ${allowed.join(', ')}`);
  return value as T;
}

/** Something shaped like a DmaBuffer (liveness and bounds are the memory's to check). */
export function checkDmaBuffer(value: unknown, what: string): DmaBuffer {
  const b = value as DmaBuffer | null;
  if (typeof b !== 'object' || b === null || !(b.bytes instanceof Uint8Array) || typeof b.addr !== 'number' || typeof b.length !== 'number') {
    invalid(what, value, 'is not a DmaBuffer from memory.alloc()');
  }
  return b;
}

/** ESHUTDOWN once the owner is closed. */
export function checkOpen(closed: boolean, what: string): void {
  if (closed) throw new EpdmaError('ESHUTDOWN', `${what} after close`);
}
