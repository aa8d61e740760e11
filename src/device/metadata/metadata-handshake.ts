import { EpdmaError, hex } from '../errors.js';
import {
  CTRL_HOST_REQ,
  CTRL_READY,
  HOST_CTRL_REQ,
  PCI_EP_DMA_METADATA_CTRL,
  PCI_EP_DMA_METADATA_HOST_CTRL,
  headerLength,
  isHeaderLayout,
  type HeaderLayout,
} from './metadata-format.js';

/**
 * The live H/R handshake (reference 1.3) on a metadata BAR that the EP and the host share: a
 * Uint32Array over a SharedArrayBuffer (word index = byte offset / 4), so the two sides may be
 * different threads or processes. Each access is one Atomics load or store, i.e. one 32-bit MMIO
 * access; nothing here waits or polls - the EP and host pollers live with their drivers.
 *
 * The read-modify-write race, and why the later layout exists:
 * in the v1-v4 layout H (bit 30, written by the host) and R (bit 31, written by the EP) share the
 * CTRL dword, and both drivers update it as readl / OR / writel. Those are two separate bus
 * accesses, not an atomic OR, and this module reproduces them the same way (Atomics.load then
 * Atomics.store) rather than using Atomics.or: if the EP sets R between the host's read and its
 * write-back, the host's stale value clears R again; if the host sets H between the EP's read
 * and write-back (e.g. the EP clearing R on link-down), the EP wipes out H. Either side then
 * waits for a bit that was lost. The 'host-ctrl' layout gives the host its own HOST_CTRL dword
 * at 0x1c: the host stores to it without reading, the EP only ever modifies CTRL, so no dword
 * has two writers and the race cannot happen.
 */

const CTRL_WORD = PCI_EP_DMA_METADATA_CTRL / 4;
const HOST_CTRL_WORD = PCI_EP_DMA_METADATA_HOST_CTRL / 4;

function checkView(view: Uint32Array, headerLayout: HeaderLayout): void {
  if (!(view instanceof Uint32Array)) {
    throw new EpdmaError('EINVAL', 'metadata handshake: BAR view must be a Uint32Array');
  }
  if (!isHeaderLayout(headerLayout)) {
    throw new EpdmaError('EINVAL', `metadata handshake: header layout ${String(headerLayout)} unknown`);
  }
  const needed = headerLength(headerLayout);
  if (view.length * 4 < needed) {
    throw new EpdmaError(
      'EINVAL',
      `metadata handshake: BAR view ${hex(view.length * 4)} bytes below header length ${hex(needed)}`,
    );
  }
}

/** readl + writel, deliberately not atomic as a pair (see the module comment). */
function readModifyWriteCtrl(view: Uint32Array, set: number, clear: number): void {
  const ctrl = Atomics.load(view, CTRL_WORD);
  Atomics.store(view, CTRL_WORD, ((ctrl | set) & ~clear) >>> 0);
}

export function readHostRequest(view: Uint32Array, headerLayout: HeaderLayout = 'v4'): boolean {
  checkView(view, headerLayout);
  if (headerLayout === 'host-ctrl') return (Atomics.load(view, HOST_CTRL_WORD) & HOST_CTRL_REQ) !== 0;
  return (Atomics.load(view, CTRL_WORD) & CTRL_HOST_REQ) !== 0;
}

/** Host, after validating the header: v4 ORs H into CTRL; host-ctrl stores REQ on its own. */
export function setHostRequest(view: Uint32Array, headerLayout: HeaderLayout = 'v4'): void {
  checkView(view, headerLayout);
  if (headerLayout === 'host-ctrl') Atomics.store(view, HOST_CTRL_WORD, HOST_CTRL_REQ);
  else readModifyWriteCtrl(view, CTRL_HOST_REQ, 0);
}

/** Host, on ready timeout or parse failure (and the EP may do it while revoking R). */
export function clearHostRequest(view: Uint32Array, headerLayout: HeaderLayout = 'v4'): void {
  checkView(view, headerLayout);
  if (headerLayout === 'host-ctrl') Atomics.store(view, HOST_CTRL_WORD, 0);
  else readModifyWriteCtrl(view, 0, CTRL_HOST_REQ);
}

/** R is CTRL bit 31 in both layouts. */
export function readReady(view: Uint32Array, headerLayout: HeaderLayout = 'v4'): boolean {
  checkView(view, headerLayout);
  return (Atomics.load(view, CTRL_WORD) & CTRL_READY) !== 0;
}

/** EP, once every window the metadata describes is programmed (after its write barrier). */
export function setReady(view: Uint32Array, headerLayout: HeaderLayout = 'v4'): void {
  checkView(view, headerLayout);
  readModifyWriteCtrl(view, CTRL_READY, 0);
}

/** EP on link-down: R goes, H stays (v3+). */
export function clearReady(view: Uint32Array, headerLayout: HeaderLayout = 'v4'): void {
  checkView(view, headerLayout);
  readModifyWriteCtrl(view, 0, CTRL_READY);
}

/**
 * EP epc_init / deinit: both handshake bits cleared. The later layout clears the whole HOST_CTRL
 * dword (its other bits are reserved) rather than just REQ.
 */
export function clearHandshake(view: Uint32Array, headerLayout: HeaderLayout = 'v4'): void {
  checkView(view, headerLayout);
  if (headerLayout === 'host-ctrl') {
    readModifyWriteCtrl(view, 0, CTRL_READY);
    Atomics.store(view, HOST_CTRL_WORD, 0);
  } else {
    readModifyWriteCtrl(view, 0, CTRL_HOST_REQ | CTRL_READY);
  }
}
