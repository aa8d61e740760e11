import { lower32 } from '../device/wordpart.js';

/**
 * Which semantics the channel core follows where dw-edma-core.c departs from the DMAengine
 * contract itself (docs/channel-semantics.md has the table):
 * - 'contract' (default): what the DMAengine contract says (terminate completes everything
 *   unfinished without a callback, a pause on the last chunk resumes to completion, byte
 *   counts never wrap, ...);
 * - 'dw-edma': exactly what the kernel driver does, hangs included, so a client can be tried
 *   against the real driver's behaviour.
 * Both threads of a channel read it: the worker's core and the main thread's handle.
 */
export type DriverQuirks = 'contract' | 'dw-edma';

export const DRIVER_QUIRKS: readonly DriverQuirks[] = ['contract', 'dw-edma'];

/**
 * alloc_sz - xfer_sz: exact in 'contract' mode; in 'dw-edma' mode both are u32 and so is the
 * difference (segments of 2 GiB, 2 GiB and 4 KiB give alloc_sz 4096).
 */
export function descriptorResidue(kernelCounts: boolean, alloc: number, xfer: number): number {
  if (!kernelCounts) return alloc - xfer;
  return lower32(alloc - xfer);
}
