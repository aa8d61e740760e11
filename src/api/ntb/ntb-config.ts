import { EpdmaError } from '../../device/errors.js';
import { mwSizeFor, qpRegion } from './memory-window-layout.js';
import { NTB_HEADER_BYTES } from './ntb-ring-layout.js';
import type { TransportConfig } from './ntb-port.js';
import type { NtbTransportOptions } from './ntb-types.js';
import { MAX_QUEUES } from './scratchpad-handshake.js';

/** Defaults of ntb_transport's module parameters (reference 8.1), except use_dma (on here). */
const NTB_DEFAULTS = Object.freeze({
  queues: 1,
  mtu: 0x10000,
  ringEntries: 64,
  copyBytes: 1024,
  useDma: true,
  memoryWindows: 2,
  zeroCopyReceive: false,
});

function int(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new EpdmaError('EINVAL', `createNtbTransport: ${name} ${String(value)} must be an integer in ${min}..${max}`);
  }
  return value;
}

function bool(name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw new EpdmaError('EINVAL', `createNtbTransport: ${name} ${String(value)} must be a boolean`);
  return value;
}

/** Validates the options (EINVAL naming the field and value) and derives the geometry. */
export function resolveNtbConfig(options: NtbTransportOptions = {}): TransportConfig {
  if (options === null || typeof options !== 'object') throw new EpdmaError('EINVAL', `createNtbTransport: options ${String(options)} is not an object`);
  const queues = int('queues', options.queues ?? NTB_DEFAULTS.queues, 1, MAX_QUEUES);
  const mtu = int('mtu', options.mtu ?? NTB_DEFAULTS.mtu, NTB_HEADER_BYTES + 4, 2 ** 30);
  if (mtu % 4 !== 0) throw new EpdmaError('EINVAL', `createNtbTransport: mtu ${mtu} must be a multiple of 4 (headers are 32-bit words)`);
  const ringEntries = int('ringEntries', options.ringEntries ?? NTB_DEFAULTS.ringEntries, 2, 1 << 20);
  const copyBytes = int('copyBytes', options.copyBytes ?? NTB_DEFAULTS.copyBytes, 0, Number.MAX_SAFE_INTEGER);
  const useDma = bool('useDma', options.useDma ?? NTB_DEFAULTS.useDma);
  const zeroCopyReceive = bool('zeroCopyReceive', options.zeroCopyReceive ?? NTB_DEFAULTS.zeroCopyReceive);
  // Windows without a queue would only waste memory: at most one per queue.
  const mwCount = Math.min(int('memoryWindows', options.memoryWindows ?? NTB_DEFAULTS.memoryWindows, 1, 8), queues);
  const mwSize = mwSizeFor(0, queues, mwCount, mtu, ringEntries);
  if (mwSize > Number.MAX_SAFE_INTEGER / 2) throw new EpdmaError('EINVAL', `createNtbTransport: ${ringEntries} entries of ${mtu} bytes make a window too large`);
  const region = qpRegion(mwSize, 0, queues, mwCount, mtu);
  return { queues, mwCount, mtu, ringEntries, copyBytes, useDma, zeroCopyReceive, maxPayload: region.maxFrame - NTB_HEADER_BYTES };
}
