import type { ChannelRegisterSet } from '../../device/regs/channel-registers.js';
import { EDMA_V0_CONTROL1 } from '../../device/regs/edma-v0-regs.js';
import { HDMA_V0_BITS } from '../../device/regs/hdma-v0-regs.js';
import type { MmioRegisterFile } from '../../device/regs/register-file.js';
import { LL_CONTROL, LL_DATA_BYTES, llMax, writeDataElement, writeLinkElement } from '../../device/ll/ll-codec.js';
import type { LlRegion } from '../../device/dma-chip.js';
import type { ChunkHardware } from './channel-core.js';

export const STATUS_NONE = 0;
export const STATUS_DONE = 1;
export const STATUS_ABORT = 2;

const TWO32 = 0x1_0000_0000;

/**
 * The per-layout half of the dw-edma driver for one channel (dw-edma-v0-core.c and
 * dw-hdma-v0-core.c): write a chunk into the LL region, start it, read and clear its
 * interrupt status, quiesce. Every access is a CPU register access through the register
 * file (on the host: through the BAR), so it runs unchanged against an engine in another
 * thread or process.
 */
export class ChannelOps implements ChunkHardware {
  readonly llMax: number;
  private readonly file: MmioRegisterFile;
  private readonly r: ChannelRegisterSet;
  private readonly ll: Int32Array;
  private readonly paddr: number;
  private readonly remote: boolean;
  private readonly funcNo: number;

  constructor(file: MmioRegisterFile, regs: ChannelRegisterSet, ll: LlRegion, options: { remote: boolean; funcNo: number }) {
    this.file = file;
    this.r = regs;
    this.ll = new Int32Array(ll.buffer, ll.bufferOffset, ll.size >>> 2);
    this.paddr = ll.paddr;
    this.llMax = llMax(ll.size);
    this.remote = options.remote;
    this.funcNo = options.funcNo;
  }

  /** Data element `i` of the chunk being written (write_chunk's loop body). */
  writeElement(i: number, chunkCb: boolean, last: boolean, size: number, sar: number, dar: number): void {
    let control = chunkCb ? LL_CONTROL.CB : 0;
    if (last) {
      control |= LL_CONTROL.LIE;
      // A remote (not CHIP_LOCAL) instance also asks for the remote interrupt (IMWr/MSI).
      if (this.remote) control |= LL_CONTROL.RIE;
    }
    writeDataElement(this.ll, (i * LL_DATA_BYTES) >>> 2, control, size, sar, dar);
  }

  /** The link element after `count` data elements: back to the region start, CB inverted. */
  writeLink(count: number, chunkCb: boolean): void {
    const control = LL_CONTROL.LLP | LL_CONTROL.TCB | (chunkCb ? 0 : LL_CONTROL.CB);
    writeLinkElement(this.ll, (count * LL_DATA_BYTES) >>> 2, control, this.paddr);
  }

  /** dw_edma_v0_core_start / dw_hdma_v0_core_start. */
  start(first: boolean): void {
    const f = this.file;
    const r = this.r;
    if (r.family === 'v0') {
      if (first) {
        f.write32(r.enable, 1);
        if (r.format === 'hdma-compat') f.write32(r.pwrEn, 1);
        // Remote-routed channels mask the EP-local interrupt; local ones unmask it.
        if (this.remote) f.setBits(r.intMask, r.doneBit | r.abortBit);
        else f.clearBits(r.intMask, r.doneBit | r.abortBit);
        f.setBits(r.llErrEn, 1 << r.ch);
        f.write32(r.control1, EDMA_V0_CONTROL1.CCS | EDMA_V0_CONTROL1.LLE | ((this.funcNo << EDMA_V0_CONTROL1.FUNC_SHIFT) & EDMA_V0_CONTROL1.FUNC_MASK));
        f.write32(r.llpLo, this.paddr % TWO32);
        f.write32(r.llpHi, Math.floor(this.paddr / TWO32));
      }
      if (this.remote) Atomics.load(this.ll, 0); // read back: flush posted LL writes before the doorbell
      f.write32(r.doorbell, r.ch);
      return;
    }
    if (first) {
      f.write32(r.enable, HDMA_V0_BITS.CH_EN);
      f.write32(
        r.intSetup,
        this.remote
          ? HDMA_V0_BITS.STOP_INT_MASK | HDMA_V0_BITS.ABORT_INT_MASK | HDMA_V0_BITS.REMOTE_STOP_INT_EN | HDMA_V0_BITS.LOCAL_STOP_INT_EN | HDMA_V0_BITS.REMOTE_ABORT_INT_EN | HDMA_V0_BITS.LOCAL_ABORT_INT_EN
          : HDMA_V0_BITS.LOCAL_STOP_INT_EN | HDMA_V0_BITS.LOCAL_ABORT_INT_EN,
      );
      f.write32(r.control1, HDMA_V0_BITS.LINKLIST_EN);
      f.write32(r.funcNum, this.funcNo & 0xff);
      f.write32(r.llpLo, this.paddr % TWO32);
      f.write32(r.llpHi, Math.floor(this.paddr / TWO32));
    }
    f.write32(r.cycleSync, HDMA_V0_BITS.CONSUMER_CYCLE_STAT | HDMA_V0_BITS.CONSUMER_CYCLE_BIT);
    if (this.remote) Atomics.load(this.ll, 0);
    f.write32(r.doorbell, HDMA_V0_BITS.DOORBELL_START);
  }

  /** What the interrupt handler would find for this channel: ABORT wins over DONE. */
  status(): number {
    const s = this.file.read32(this.r.intStatus);
    if ((s & this.r.abortBit) !== 0) return STATUS_ABORT;
    if ((s & this.r.doneBit) !== 0) return STATUS_DONE;
    return STATUS_NONE;
  }

  clear(status: number): void {
    this.file.write32(this.r.intClear, status === STATUS_ABORT ? this.r.abortBit : this.r.doneBit);
  }

  /**
   * Channel quiesce (part 1): mask and clear this channel's DONE/ABORT and turn it off. On
   * v0 the enable is per direction, so only the owner of the whole direction may turn it off.
   */
  quiesce(ownsDirection: boolean): void {
    const f = this.file;
    const r = this.r;
    if (r.family === 'v0') {
      f.setBits(r.intMask, r.doneBit | r.abortBit);
      f.write32(r.intClear, r.doneBit | r.abortBit);
      if (ownsDirection) f.write32(r.enable, 0);
    } else {
      f.write32(r.intSetup, HDMA_V0_BITS.STOP_INT_MASK | HDMA_V0_BITS.ABORT_INT_MASK);
      f.write32(r.intClear, HDMA_V0_BITS.STOP | HDMA_V0_BITS.ABORT);
      f.write32(r.enable, 0);
    }
  }

  /** The channel's registers by name, for `registerDump()`. */
  dump(): Record<string, number> {
    const out: Record<string, number> = {};
    const r = this.r as unknown as Record<string, number | string>;
    for (const [name, off] of Object.entries(r)) {
      if (typeof off !== 'number' || off < 0 || ['ch', 'base', 'doneBit', 'abortBit', 'imwrDataShift'].includes(name)) continue;
      out[name] = this.file.read32(off);
    }
    return out;
  }
}
