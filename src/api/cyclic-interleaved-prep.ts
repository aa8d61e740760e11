import { EpdmaError, hex } from '../device/errors.js';
import { DESC_CYCLIC, DESC_REPEAT } from '../protocol/submission-ring.js';
import type { InterleavedTemplate } from './types.js';
import type { Direction } from '../device/direction.js';

/**
 * The argument checks of dmaengine_prep_dma_cyclic and dmaengine_prep_interleaved_dma
 * (reference 13.6), with what the ring must carry worked out. Where the kernel returns NULL
 * this throws EINVAL naming the field and its value; so does anything that would let the
 * engine touch memory of this side the caller does not own. Nothing is queued before they pass.
 */

const MAX_BURST_BYTES = 0xffff_ffff; // transfer_size is 32-bit

/** The memory checks a prep needs from its channel. */
export interface PrepScope {
  /** Channel name, for messages. */
  readonly name: string;
  readonly sideName: 'endpoint' | 'host';
  contains(addr: number, length: number): boolean;
}

export interface CyclicShape {
  readonly kind: typeof DESC_CYCLIC | typeof DESC_REPEAT;
  /** Bytes of one burst: the period (contract) or dw-edma's `len`. */
  readonly length: number;
  /** Periods in the buffer (contract) or dw-edma's burst `count`. */
  readonly count: number;
  readonly bytes: number;
}

function isCount(v: unknown, max: number): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 && v <= max;
}

/**
 * Contract: `bufferBytes` is a ring of periods of `periodBytes` each, one burst per period.
 * quirks 'dw-edma': the kernel's (paddr, len, count) = (addr, bufferBytes, periodBytes), i.e.
 * `periodBytes` bursts of `bufferBytes` at one address; only len 0 and count 0 are refused.
 */
export function cyclicShape(scope: PrepScope, quirks: 'contract' | 'dw-edma', addr: number, bufferBytes: number, periodBytes: number): CyclicShape {
  const what = `${scope.name}: prepDmaCyclic:`;
  const kernel = quirks === 'dw-edma';
  if (!isCount(bufferBytes, Number.MAX_SAFE_INTEGER) || bufferBytes === 0) {
    throw new EpdmaError('EINVAL', `${what} bufferBytes${kernel ? ' (len)' : ''} ${String(bufferBytes)} is not a positive byte count`);
  }
  if (!isCount(periodBytes, MAX_BURST_BYTES) || periodBytes === 0) {
    throw new EpdmaError('EINVAL', `${what} periodBytes${kernel ? ' (count)' : ''} ${String(periodBytes)} is not in 1..${hex(MAX_BURST_BYTES)}`);
  }
  if (kernel) {
    if (bufferBytes > MAX_BURST_BYTES) throw new EpdmaError('EINVAL', `${what} bufferBytes (len) ${hex(bufferBytes)} does not fit a burst (max ${hex(MAX_BURST_BYTES)})`);
  } else if (bufferBytes % periodBytes !== 0) {
    throw new EpdmaError('EINVAL', `${what} bufferBytes ${bufferBytes} is not a multiple of periodBytes ${periodBytes}`);
  }
  // Both readings touch [addr, addr + bufferBytes) of this side's memory.
  if (typeof addr !== 'number' || !scope.contains(addr, bufferBytes)) {
    throw new EpdmaError('EINVAL', `${what} buffer ${typeof addr === 'number' ? hex(addr) : String(addr)}+${hex(bufferBytes)} is outside ${scope.sideName} memory`);
  }
  return kernel
    ? { kind: DESC_REPEAT, length: bufferBytes, count: periodBytes, bytes: bufferBytes * periodBytes }
    : { kind: DESC_CYCLIC, length: periodBytes, count: bufferBytes / periodBytes, bytes: bufferBytes };
}

export interface InterleavedShape {
  readonly srcStart: number;
  readonly dstStart: number;
  readonly numFrames: number;
  readonly sizes: Float64Array;
  /** What the source skips after chunk k: src_icg, else icg, when srcSgl; else 0. */
  readonly srcGaps: Float64Array;
  readonly dstGaps: Float64Array;
  readonly bytes: number;
}

/**
 * Checks a dma_interleaved_template against the channel: both addresses must advance (srcInc
 * and dstInc), numFrames and the frame must not be empty, the direction must be the
 * channel's, every frame must stay in this side's memory (the source for mem-to-dev, the
 * destination for dev-to-mem) and the other side's range below 2^53.
 */
export function interleavedShape(scope: PrepScope, direction: Direction, maxFrameSize: number, t: InterleavedTemplate): InterleavedShape {
  const what = `${scope.name}: prepInterleavedDma:`;
  if (t === null || typeof t !== 'object') throw new EpdmaError('EINVAL', `${what} template ${String(t)} is not an object`);
  if (t.direction !== direction) {
    throw new EpdmaError('EINVAL', `${what} direction '${String(t.direction)}' but this channel is '${direction}'`);
  }
  if (t.srcInc !== true) throw new EpdmaError('EINVAL', `${what} srcInc ${String(t.srcInc)}: dw-edma needs an incrementing source`);
  if (t.dstInc !== true) throw new EpdmaError('EINVAL', `${what} dstInc ${String(t.dstInc)}: dw-edma needs an incrementing destination`);
  if (!isCount(t.numFrames, 0xffff_ffff) || t.numFrames === 0) {
    throw new EpdmaError('EINVAL', `${what} numFrames ${String(t.numFrames)} is not in 1..${hex(0xffff_ffff)}`);
  }
  if (!Array.isArray(t.sgl) || t.sgl.length === 0 || t.sgl.length > maxFrameSize) {
    throw new EpdmaError('EINVAL', `${what} sgl of ${Array.isArray(t.sgl) ? t.sgl.length : String(t.sgl)} chunks (frame_size must be 1..${maxFrameSize})`);
  }
  for (const [field, v] of [['srcStart', t.srcStart], ['dstStart', t.dstStart]] as const) {
    if (!isCount(v, Number.MAX_SAFE_INTEGER)) throw new EpdmaError('EINVAL', `${what} ${field} ${String(v)} is not a bus address`);
  }
  const n = t.sgl.length;
  const sizes = new Float64Array(n);
  const srcGaps = new Float64Array(n);
  const dstGaps = new Float64Array(n);
  let frameBytes = 0;
  let srcStride = 0;
  let dstStride = 0;
  for (let k = 0; k < n; k++) {
    const c = t.sgl[k]!;
    if (c === null || typeof c !== 'object') throw new EpdmaError('EINVAL', `${what} sgl[${k}] ${String(c)} is not an object`);
    if (!isCount(c.size, MAX_BURST_BYTES) || c.size === 0) throw new EpdmaError('EINVAL', `${what} sgl[${k}].size ${String(c.size)} is not in 1..${hex(MAX_BURST_BYTES)}`);
    for (const field of ['icg', 'srcIcg', 'dstIcg'] as const) {
      const v = c[field];
      if (v !== undefined && !isCount(v, Number.MAX_SAFE_INTEGER)) throw new EpdmaError('EINVAL', `${what} sgl[${k}].${field} ${String(v)} is not a byte count`);
    }
    // dmaengine_get_{src,dst}_icg: the per-side gap wins when non-zero, else icg; the address
    // skips it only when that side is a scatter-gather list (src_sgl/dst_sgl).
    sizes[k] = c.size;
    srcGaps[k] = t.srcSgl === true ? (c.srcIcg || c.icg || 0) : 0;
    dstGaps[k] = t.dstSgl === true ? (c.dstIcg || c.icg || 0) : 0;
    frameBytes += c.size;
    srcStride += c.size + srcGaps[k]!;
    dstStride += c.size + dstGaps[k]!;
  }
  // The last burst ends before its own gap: the span is numf strides less that gap.
  const srcSpan = t.numFrames * srcStride - srcGaps[n - 1]!;
  const dstSpan = t.numFrames * dstStride - dstGaps[n - 1]!;
  const bytes = t.numFrames * frameBytes;
  if (!Number.isSafeInteger(t.srcStart + srcSpan) || !Number.isSafeInteger(t.dstStart + dstSpan)) {
    throw new EpdmaError('EINVAL', `${what} frames from srcStart ${hex(t.srcStart)} (${hex(srcSpan)} bytes) or dstStart ${hex(t.dstStart)} (${hex(dstSpan)} bytes) pass 2^53`);
  }
  const [field, start, span] = direction === 'mem-to-dev' ? ['srcStart', t.srcStart, srcSpan] as const : ['dstStart', t.dstStart, dstSpan] as const;
  if (!scope.contains(start, span)) {
    throw new EpdmaError('EINVAL', `${what} ${field} ${hex(start)}: ${t.numFrames} frames span ${hex(span)} bytes, leaving ${scope.sideName} memory`);
  }
  return { srcStart: t.srcStart, dstStart: t.dstStart, numFrames: t.numFrames, sizes, srcGaps, dstGaps, bytes };
}
