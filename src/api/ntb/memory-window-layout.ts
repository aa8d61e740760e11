import { EpdmaError, hex } from '../../device/errors.js';
import { NTB_HEADER_BYTES, NTB_RX_INFO_BYTES } from './ntb-ring-layout.js';

/**
 * Memory-window geometry, with ntb_transport's arithmetic (reference 8.3,
 * ntb_transport_setup_qp_mw / ntb_transport_init_queue): queue pairs map to windows round-robin
 * (`qp % mwCount`), a window is split evenly between its queues, and each queue's slice is a
 * receive ring followed by the 4-byte rx_info word:
 *
 *   rx_size      = mw_size / num_qps_mw - sizeof(ntb_rx_info)
 *   rx_buff      = mw_base + (mw_size / num_qps_mw) * (qp / mw_count)
 *   rx_max_frame = min(mtu, rx_size / 2)        ("at least 2 buffs")
 *   rx_max_entry = rx_size / rx_max_frame
 *
 * Both directions use the same geometry, so one computation serves the receiver (its own
 * window) and the producer (the peer's window it writes into).
 */

export interface QpRegion {
  readonly qp: number;
  readonly mw: number;
  /** Byte offset of the queue's slice inside its window. */
  readonly offset: number;
  /** Slice bytes: the ring plus the rx_info word (and alignment slack). */
  readonly sliceBytes: number;
  /** Ring bytes before the rx_info word (ntb: rx_size after subtracting ntb_rx_info). */
  readonly rxSize: number;
  readonly maxFrame: number;
  readonly maxEntry: number;
}

/** Rounds down to whole 32-bit words (headers and rx_info are word-accessed). */
const down4 = (n: number): number => n - (n % 4);

export function qpToMw(qp: number, mwCount: number): number {
  return qp % mwCount;
}

/** How many queue pairs share window `mw`. */
export function qpsInMw(mw: number, qpCount: number, mwCount: number): number {
  if (mwCount >= qpCount) return mw < qpCount ? 1 : 0;
  return Math.floor(qpCount / mwCount) + (mw < qpCount % mwCount ? 1 : 0);
}

/**
 * Bytes of one queue's slice for `entries` frames of `mtu` bytes. The slice is padded to 64
 * bytes so every ring starts cache-line aligned, but only when the slack stays below one frame:
 * the kernel's division would otherwise find an extra entry in it.
 */
export function sliceBytesFor(mtu: number, entries: number): number {
  const exact = entries * mtu + NTB_RX_INFO_BYTES;
  const padded = Math.ceil(exact / 64) * 64;
  return padded - exact < mtu ? padded : exact;
}

/** The window size a side advertises for `mw` (its MW_SZ spads) so the peer's rings fit. */
export function mwSizeFor(mw: number, qpCount: number, mwCount: number, mtu: number, entries: number): number {
  return qpsInMw(mw, qpCount, mwCount) * sliceBytesFor(mtu, entries);
}

/** A queue's region inside a window of `mwSize` bytes, exactly as the kernel derives it. */
export function qpRegion(mwSize: number, qp: number, qpCount: number, mwCount: number, mtu: number): QpRegion {
  if (!Number.isSafeInteger(qp) || qp < 0 || qp >= qpCount) throw new EpdmaError('EINVAL', `memory window: queue ${qp} outside 0..${qpCount - 1}`);
  const mw = qpToMw(qp, mwCount);
  const perQp = qpsInMw(mw, qpCount, mwCount);
  const sliceBytes = down4(Math.floor(mwSize / perQp));
  const offset = sliceBytes * Math.floor(qp / mwCount);
  const rxSize = sliceBytes - NTB_RX_INFO_BYTES;
  const maxFrame = Math.min(mtu, down4(Math.floor(rxSize / 2)));
  if (maxFrame <= NTB_HEADER_BYTES) {
    throw new EpdmaError('EINVAL', `memory window ${mw}: ${hex(mwSize)} bytes leave frames of ${maxFrame} bytes for queue ${qp} (need more than ${NTB_HEADER_BYTES})`);
  }
  const maxEntry = Math.floor(rxSize / maxFrame);
  return { qp, mw, offset, sliceBytes, rxSize, maxFrame, maxEntry };
}
