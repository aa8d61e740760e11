import { EpdmaError, hex } from '../errors.js';
import type { MmioRegisterFile } from '../regs/register-file.js';

/**
 * A range of bus addresses backed by shared memory (RAM) or by a register file (MMIO).
 *
 * Several RAM regions may live in one SharedArrayBuffer (an "arena"): the engine then copies
 * between them with `copyWithin` on one view, which allocates nothing per element, instead of
 * `set(subarray(...))`, which allocates a view per element.
 */
export interface MemoryRegion {
  readonly name: string;
  /** Bus address of the first byte (an integer below 2^53). */
  readonly base: number;
  readonly size: number;
  readonly kind: 'ram' | 'mmio';
  /** The whole backing SharedArrayBuffer (the arena) and where this region starts in it. */
  readonly buffer: SharedArrayBuffer;
  readonly bufferOffset: number;
  /** View of exactly this region. */
  readonly bytes: Uint8Array;
  /** View of the whole backing buffer, shared by every region of the arena. */
  readonly arena: Uint8Array;
  /** Set for MMIO regions: accesses must go through the register file's side effects. */
  readonly registers?: MmioRegisterFile;
}

export function ramRegion(
  name: string,
  base: number,
  size: number,
  buffer?: SharedArrayBuffer,
  bufferOffset = 0,
): MemoryRegion {
  checkRange(name, base, size);
  const buf = buffer ?? new SharedArrayBuffer(size);
  if (bufferOffset < 0 || bufferOffset + size > buf.byteLength) {
    throw new EpdmaError('EINVAL', `${name}: ${hex(size)} bytes at buffer offset ${hex(bufferOffset)} exceed the ${hex(buf.byteLength)}-byte backing buffer`);
  }
  return {
    name,
    base,
    size,
    kind: 'ram',
    buffer: buf,
    bufferOffset,
    bytes: new Uint8Array(buf, bufferOffset, size),
    arena: new Uint8Array(buf),
  };
}

export function mmioRegion(name: string, base: number, registers: MmioRegisterFile): MemoryRegion {
  checkRange(name, base, registers.windowBytes);
  return {
    name,
    base,
    size: registers.windowBytes,
    kind: 'mmio',
    buffer: registers.buffer,
    bufferOffset: 0,
    bytes: new Uint8Array(registers.buffer, 0, registers.windowBytes),
    arena: new Uint8Array(registers.buffer),
    registers,
  };
}

/**
 * Carves several RAM regions out of one SharedArrayBuffer so copies between them need no
 * per-copy allocation. Each entry's offset in the arena is aligned to 4 KiB.
 */
export function ramArena(specs: readonly { name: string; base: number; size: number }[], buffer?: SharedArrayBuffer): MemoryRegion[] {
  const PAGE = 4096;
  let total = 0;
  const offsets: number[] = [];
  for (const s of specs) {
    offsets.push(total);
    total += Math.ceil(s.size / PAGE) * PAGE;
  }
  const buf = buffer ?? new SharedArrayBuffer(total);
  if (buf.byteLength < total) {
    throw new EpdmaError('EINVAL', `arena: backing buffer of ${hex(buf.byteLength)} bytes is smaller than ${hex(total)}`);
  }
  return specs.map((s, i) => ramRegion(s.name, s.base, s.size, buf, offsets[i]));
}

/** Bytes needed by `ramArena` for these sizes. */
export function arenaBytes(sizes: readonly number[]): number {
  return sizes.reduce((sum, s) => sum + Math.ceil(s / 4096) * 4096, 0);
}

function checkRange(name: string, base: number, size: number): void {
  if (!Number.isSafeInteger(base) || base < 0) throw new EpdmaError('EINVAL', `${name}: base address ${base} is not a bus address`);
  if (!Number.isSafeInteger(size) || size <= 0) throw new EpdmaError('EINVAL', `${name}: size ${size} must be a positive integer`);
  if (!Number.isSafeInteger(base + size)) throw new EpdmaError('EINVAL', `${name}: ${hex(base)} + ${hex(size)} passes 2^53`);
}
