/**
 * How much memory a load test needs, and what to change when it does not fit.
 *
 * Every lane (channel) keeps `depth` slots; a slot is a source buffer on one side and a
 * destination buffer (the window plus guard bytes) on the other, so each side holds, per lane
 * and slot, at most one buffer of `max + 2 x GUARD` bytes rounded up to the 64-byte alignment.
 * The defaults (16 slots, 64 MiB of endpoint memory) fit 64 KiB transfers on 8 channels; for
 * bigger sizes the plan lowers the default depth, or, when the depth was given, raises the
 * in-process testbed's memory, and says which on stderr.
 */
import { GUARD_BYTES as GUARD } from '../api/loadtest/slot-check.js';
import { formatBytes } from '../api/loadtest/text-report.js';

const DEFAULT_DEPTH = 16;
/** The testbed's limit for endpoint and host memory (testbed-options.ts). */
const MAX_TESTBED_MEMORY = 2 ** 31;
const MIB = 1024 * 1024;

const slotBytes = (maxSize: number): number => Math.ceil((maxSize + 2 * GUARD) / 64) * 64;

export interface MemoryPlan {
  depth: number;
  /** Memory per side the testbed must have (in-process only; equal to the given sizes if they fit). */
  endpointBytes: number;
  hostBytes: number;
  /** What changed and why, for stderr; undefined when the defaults fit as they are. */
  note?: string;
}

export interface PlanInput {
  lanes: number;
  maxSize: number;
  /** undefined: the user gave no --depth, it may be lowered. */
  depth: number | undefined;
  endpointBytes: number;
  hostBytes: number;
  /** False when attached to another process: its memory is what it is. */
  canGrowMemory: boolean;
}

/** The depth and memory a run will use, or an Error naming what to lower and to what. */
export function planMemory(p: PlanInput): MemoryPlan | Error {
  const slot = slotBytes(p.maxSize);
  const smaller = Math.min(p.endpointBytes, p.hostBytes);
  const fits = Math.floor(smaller / (p.lanes * slot));
  const what = (depth: number): string => `${p.lanes} channels x depth ${depth} x ${formatBytes(p.maxSize)}`;
  if (p.depth === undefined && fits >= 1) {
    const depth = Math.min(DEFAULT_DEPTH, fits);
    return {
      depth,
      endpointBytes: p.endpointBytes,
      hostBytes: p.hostBytes,
      ...(depth < DEFAULT_DEPTH ? { note: `depth ${depth} per channel instead of ${DEFAULT_DEPTH}: ${what(DEFAULT_DEPTH)} do not fit ${formatBytes(smaller)} of memory per side (--depth sets it)` } : {}),
    };
  }
  const depth = p.depth ?? 1;
  if (depth <= fits) return { depth, endpointBytes: p.endpointBytes, hostBytes: p.hostBytes };
  const need = Math.ceil((p.lanes * depth * slot) / MIB) * MIB;
  if (p.canGrowMemory && need <= MAX_TESTBED_MEMORY) {
    return {
      depth,
      endpointBytes: Math.max(p.endpointBytes, need),
      hostBytes: Math.max(p.hostBytes, need),
      note: `${what(depth)} need ${formatBytes(need)} per side: testbed memory raised to ${formatBytes(need)}`,
    };
  }
  const limit = p.canGrowMemory ? MAX_TESTBED_MEMORY : smaller;
  const maxDepth = Math.floor(limit / (p.lanes * slot));
  // A size the user can type back: whole MiB, else whole KiB.
  const maxSize = Math.floor(limit / (p.lanes * depth)) - 2 * GUARD - 63;
  const sizeText = maxSize >= MIB ? `${Math.floor(maxSize / MIB)}m` : `${Math.floor(maxSize / 1024)}k`;
  const advice = [
    ...(maxDepth >= 1 ? [`--depth ${maxDepth}`] : []),
    ...(maxSize >= 1024 ? [`--size ${sizeText}`] : []),
    `fewer --channels`,
  ].join(', or ');
  return new Error(`${what(depth)} need ${formatBytes(p.lanes * depth * slot)} per side, more than the ${formatBytes(limit)} there is: use ${advice}`);
}
