/**
 * The one task file of the piscina CPU pool: dmatest-style payload fill and verification for
 * load tests, and the CPU-copy path of the NTB transport. Tasks operate in place on
 * SharedArrayBuffers (shared, not copied, when posted to the pool) and never allocate per byte.
 *
 * Pattern (after drivers/dma/dmatest.c, section 9.2 of the kernel reference), for window byte i
 * (0 <= i < length, relative to the window start so source and destination offsets may differ)
 * and a per-transfer 32-bit `seed`:
 *
 *   count(i)          = ~(i + seed) & 0x1f                 inverted position counter
 *   source window     = 0x80 | 0x40 | lap(i >> 5) << 5 | count(i)
 *   dest window       = 0x20 | count(i)                    poison: "not copied" marker
 *   dest guard (p)    = 0x40 | count(p)                    p < 0 before, p >= length after
 *
 * Bit 7 set means the byte came from a source window; bit 7 clear means it is still a
 * destination marker. Bit 6 marks source-window bytes (source) or guard bytes (destination),
 * bit 5 marks window poison, so every marker kind is distinct from every other.
 * `lap(k)` is one bit per 32-byte lap: `(seed & 1) ^ hash(seed >>> 5, k)`. It makes the pattern
 * aperiodic (a copy displaced by a multiple of 32 bytes, or a seed 32*n away, differs in half of
 * the laps) and flips on every lap between consecutive seeds, which tells stale data from a
 * displaced copy when describing a mismatch. The counter alone detects any displacement that is
 * not a multiple of 32 and any seed that differs by less than 32, at every byte.
 *
 * Guards are `guardBytes` (default 64) each side of the destination window, clipped to the
 * buffer; destination slots must be laid out so one slot's guards do not overlap another's.
 */
import { EpdmaError, hex } from '../device/errors.js';

export type PatternBuffer = SharedArrayBuffer | ArrayBuffer;

export interface FillTask {
  op: 'fill';
  src: PatternBuffer; srcOffset: number; length: number; seed: number;
  dst?: PatternBuffer; dstOffset?: number; guardBytes?: number;
}
export interface VerifyTask {
  op: 'verify';
  dst: PatternBuffer; dstOffset: number; length: number; seed: number;
  guardBytes?: number; maxReports?: number;
}
export interface CopyTask {
  op: 'copy';
  src: PatternBuffer; srcOffset: number; dst: PatternBuffer; dstOffset: number; length: number;
}
export type CpuTask = FillTask | VerifyTask | CopyTask;

export interface VerifyResult {
  /** Bytes that differ from the expected pattern, in the window and in the guards. */
  mismatches: number;
  /** dmatest-like descriptions of the first `maxReports` (default 8) mismatches, by address. */
  first: string[];
}

export const DEFAULT_GUARD_BYTES = 64;
export const DEFAULT_MAX_REPORTS = 8;

const PATTERN_SRC = 0x80;
const PATTERN_COPY = 0x40;
const PATTERN_LAP = 0x20;
const PATTERN_POISON = 0x20;
const PATTERN_GUARD = 0x40;
const COUNT_MASK = 0x1f;
const LAP_WORD = 0x20202020;

const count = (seed: number, i: number): number => ~(i + seed) & COUNT_MASK;

/** murmur3 fmix32 of (seed high bits, lap index), one bit of it. */
function lapBit(seed: number, lap: number): number {
  let h = (Math.imul(seed >>> 5, 0x9e3779b1) ^ lap) >>> 0;
  h ^= h >>> 16; h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13; h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h ^ seed) & 1;
}

/** The byte a correct copy leaves at window position i (exported for diagnostics and tests). */
export function sourceByte(seed: number, i: number): number {
  return PATTERN_SRC | PATTERN_COPY | (lapBit(seed, i >> 5) ? PATTERN_LAP : 0) | count(seed, i);
}
export function poisonByte(seed: number, i: number): number {
  return PATTERN_POISON | count(seed, i);
}
export function guardByte(seed: number, p: number): number {
  return PATTERN_GUARD | count(seed, p);
}

/**
 * 32 bytes of one lap (lap bit clear) as bytes and words: the counter repeats every 32 bytes, so
 * a window is this template with the lap bit OR-ed in per lap.
 */
function lapTemplate(seed: number, high: number): { bytes: Uint8Array; words: Uint32Array } {
  const words = new Uint32Array(8);
  const bytes = new Uint8Array(words.buffer);
  for (let j = 0; j < 32; j++) bytes[j] = high | count(seed, j);
  return { bytes, words };
}

/** Writes a lap-structured pattern; 32-bit stores when the window start is word aligned. */
function writeWindow(buf: PatternBuffer, offset: number, length: number, seed: number, high: number, laps: boolean): void {
  const t = lapTemplate(seed, high);
  const lapOf = (lap: number): boolean => laps && lapBit(seed, lap) === 1;
  let i = 0;
  if ((offset & 3) === 0 && length >= 4) {
    const words = new Uint32Array(buf, offset, length >>> 2);
    let lapMask = 0;
    for (let k = 0; k < words.length; k++) {
      if ((k & 7) === 0) lapMask = lapOf(k >>> 3) ? LAP_WORD : 0;
      words[k] = t.words[k & 7]! | lapMask;
    }
    i = words.length << 2;
  }
  const bytes = new Uint8Array(buf, offset, length);
  let lapMask = lapOf(i >> 5) ? PATTERN_LAP : 0;
  for (; i < length; i++) {
    if ((i & 31) === 0) lapMask = lapOf(i >> 5) ? PATTERN_LAP : 0;
    bytes[i] = t.bytes[i & 31]! | lapMask;
  }
}

function writeGuards(dst: PatternBuffer, dstOffset: number, length: number, seed: number, guardBytes: number): void {
  const bytes = new Uint8Array(dst);
  const before = Math.min(guardBytes, dstOffset);
  const after = Math.min(guardBytes, dst.byteLength - dstOffset - length);
  for (let p = -before; p < 0; p++) bytes[dstOffset + p] = guardByte(seed, p);
  for (let p = length; p < length + after; p++) bytes[dstOffset + p] = guardByte(seed, p);
}

function checkWindow(what: string, buf: PatternBuffer | undefined, offset: number | undefined, length: number): void {
  if (!(buf instanceof SharedArrayBuffer) && !(buf instanceof ArrayBuffer)) {
    throw new EpdmaError('EINVAL', `${what}: not a SharedArrayBuffer or ArrayBuffer`);
  }
  if (!Number.isSafeInteger(offset) || offset! < 0) throw new EpdmaError('EINVAL', `${what}Offset: ${String(offset)} is not a byte offset`);
  if (!Number.isSafeInteger(length) || length < 0) throw new EpdmaError('EINVAL', `length: ${String(length)} is not a byte count`);
  if (offset! + length > buf.byteLength) {
    throw new EpdmaError('EINVAL', `${what}: window ${hex(offset!)}+${hex(length)} exceeds buffer of ${hex(buf.byteLength)} bytes`);
  }
}

function checkCount(what: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0) throw new EpdmaError('EINVAL', `${what}: ${String(value)} is not a non-negative integer`);
  return value;
}

/**
 * Fills the source window for `seed` and, when `dst` is given, poisons the destination window
 * and its guards. Returns the number of source bytes written.
 */
export function fillPattern(task: Omit<FillTask, 'op'>): number {
  const { src, srcOffset, length } = task;
  const seed = task.seed >>> 0;
  checkWindow('src', src, srcOffset, length);
  if (task.dst !== undefined) {
    const dstOffset = task.dstOffset ?? 0;
    const guard = checkCount('guardBytes', task.guardBytes ?? DEFAULT_GUARD_BYTES);
    checkWindow('dst', task.dst, dstOffset, length);
    // Poisoning after filling would destroy an overlapping source window.
    if (task.dst === src && dstOffset - guard < srcOffset + length && srcOffset < dstOffset + length + guard) {
      throw new EpdmaError('EINVAL', `dst: window ${hex(dstOffset)}+${hex(length)} with guards overlaps src window ${hex(srcOffset)}`);
    }
    writeWindow(task.dst, dstOffset, length, seed, PATTERN_POISON, false);
    writeGuards(task.dst, dstOffset, length, seed, guard);
  }
  writeWindow(src, srcOffset, length, seed, PATTERN_SRC | PATTERN_COPY, true);
  return length;
}

const byteHex = (v: number): string => `0x${v.toString(16).padStart(2, '0')}`;

/** Names what a wrong window byte most likely is, the way dmatest_mismatch() does. */
function describeWindow(seed: number, length: number, i: number, expected: number, got: number): string {
  const tail = `expected ${byteHex(expected)}, got ${byteHex(got)}`;
  const at = `dstbuf[${hex(i)}]`;
  if (got === poisonByte(seed, i)) return `${at} not copied: ${tail}`;
  if ((got & (PATTERN_SRC | PATTERN_COPY)) === (PATTERN_SRC | PATTERN_COPY)) {
    const shift = ((~got & COUNT_MASK) - (~expected & COUNT_MASK)) & COUNT_MASK;
    const near = shift >= 16 ? shift - 32 : shift;
    for (const d of [near, near - 32, near + 32]) {
      const from = i + d;
      if (d !== 0 && from >= 0 && from < length && sourceByte(seed, from) === got) {
        return `${at} copied from the wrong offset (source byte ${hex(from)}, ${d > 0 ? '+' : ''}${d}): ${tail}`;
      }
    }
    return `${at} stale source data (not this transfer's pattern): ${tail}`;
  }
  return `${at} mismatch: ${tail}`;
}

/**
 * Checks the destination window against the source pattern for `seed` and its guards against
 * the guard marker. Word compares when the window is aligned; bytes are only looked at one by
 * one where a word differs.
 */
export function verifyPattern(task: Omit<VerifyTask, 'op'>): VerifyResult {
  const { dst, dstOffset, length } = task;
  const seed = task.seed >>> 0;
  const guard = checkCount('guardBytes', task.guardBytes ?? DEFAULT_GUARD_BYTES);
  const maxReports = checkCount('maxReports', task.maxReports ?? DEFAULT_MAX_REPORTS);
  checkWindow('dst', dst, dstOffset, length);
  const result: VerifyResult = { mismatches: 0, first: [] };
  const report = (text: () => string): void => {
    if (result.first.length < maxReports) result.first.push(text());
    result.mismatches++;
  };
  const all = new Uint8Array(dst);

  const before = Math.min(guard, dstOffset);
  for (let p = -before; p < 0; p++) {
    const got = all[dstOffset + p]!;
    const expected = guardByte(seed, p);
    if (got !== expected) report(() => `guard before window overwritten at ${p}: expected ${byteHex(expected)}, got ${byteHex(got)}`);
  }

  const t = lapTemplate(seed, PATTERN_SRC | PATTERN_COPY);
  const lapMaskOf = (lap: number, word: number): number => (lapBit(seed, lap) ? word : 0);
  const checkByte = (i: number, expected: number): void => {
    const got = all[dstOffset + i]!;
    if (got !== expected) report(() => describeWindow(seed, length, i, expected, got));
  };
  let i = 0;
  if ((dstOffset & 3) === 0 && length >= 4) {
    const words = new Uint32Array(dst, dstOffset, length >>> 2);
    let lapMask = 0;
    for (let k = 0; k < words.length; k++) {
      if ((k & 7) === 0) lapMask = lapMaskOf(k >>> 3, LAP_WORD);
      if (words[k] !== ((t.words[k & 7]! | lapMask) >>> 0)) {
        for (let b = k << 2; b < (k << 2) + 4; b++) checkByte(b, t.bytes[b & 31]! | (lapMask & PATTERN_LAP));
      }
    }
    i = words.length << 2;
  }
  // Unaligned windows and the tail: bytes, still against the lap template.
  const tb = t.bytes;
  let lapMask = lapMaskOf(i >> 5, PATTERN_LAP);
  for (; i < length; i++) {
    if ((i & 31) === 0) lapMask = lapMaskOf(i >> 5, PATTERN_LAP);
    if (all[dstOffset + i] !== (tb[i & 31]! | lapMask)) checkByte(i, tb[i & 31]! | lapMask);
  }

  const after = Math.min(guard, dst.byteLength - dstOffset - length);
  for (let p = length; p < length + after; p++) {
    const got = all[dstOffset + p]!;
    const expected = guardByte(seed, p);
    if (got !== expected) {
      report(() => `guard after window overwritten at +${p - length + 1} (dstbuf[${hex(p)}]): expected ${byteHex(expected)}, got ${byteHex(got)}`);
    }
  }
  return result;
}

/** The CPU-copy path (NTB transport below its copy threshold); overlapping windows are safe. */
export function cpuCopy(task: Omit<CopyTask, 'op'>): number {
  checkWindow('src', task.src, task.srcOffset, task.length);
  checkWindow('dst', task.dst, task.dstOffset, task.length);
  new Uint8Array(task.dst, task.dstOffset, task.length).set(new Uint8Array(task.src, task.srcOffset, task.length));
  return task.length;
}

/** piscina entry point: one pool, one file, dispatching on `op`. */
export default function runCpuTask(task: CpuTask): number | VerifyResult {
  switch (task?.op) {
    case 'fill': return fillPattern(task);
    case 'verify': return verifyPattern(task);
    case 'copy': return cpuCopy(task);
    default: throw new EpdmaError('EINVAL', `cpu task: unknown op ${JSON.stringify((task as { op?: unknown } | undefined)?.op)}`);
  }
}
