import type { LlRegion } from '../device/dma-chip.js';
import { LL_CONTROL, LL_DATA_BYTES, llMax, writeDataElement, writeLinkElement } from '../device/ll/ll-codec.js';
import type { ChannelRegisterSet } from '../device/regs/channel-registers.js';
import type { MmioRegisterFile } from '../device/regs/register-file.js';
import { STATUS_ABORT, STATUS_DONE, STATUS_NONE, type ChannelOps, type ChannelOpsOptions } from './channel-ops.js';
import { lower32, upper32 } from '../device/wordpart.js';

/** Register-set fields that are not registers of the channel (identity, bits, shifts). */
const NOT_REGISTERS: ReadonlySet<string> = new Set(['ch', 'base', 'doneBit', 'abortBit', 'imwrDataShift']);

/**
 * The half of the channel operations both layouts share: the linked-list element format is the
 * same on eDMA v0 and HDMA (reference 6.3), and the channel register set already resolves the
 * interrupt status/clear registers and the DONE/ABORT bits per layout. Subclasses supply what
 * differs: how a chunk is started and how the channel is quiesced.
 */
export abstract class LlChannelOps implements ChannelOps {
  readonly llMax: number;
  protected readonly file: MmioRegisterFile;
  protected readonly r: ChannelRegisterSet;
  protected readonly remote: boolean;
  protected readonly funcNo: number;
  private readonly ll: Int32Array;
  private readonly paddr: number;

  constructor(file: MmioRegisterFile, regs: ChannelRegisterSet, ll: LlRegion, options: ChannelOpsOptions) {
    this.file = file;
    this.r = regs;
    this.ll = new Int32Array(ll.buffer, ll.bufferOffset, ll.size >>> 2);
    this.paddr = ll.paddr;
    this.llMax = llMax(ll.size);
    this.remote = options.remote;
    this.funcNo = options.funcNo;
  }

  /** Nothing to configure by default (eDMA v0). */
  configure(): void {}

  abstract start(first: boolean): void;
  abstract quiesce(ownsDirection: boolean): void;

  writeElement(i: number, chunkCb: boolean, last: boolean, size: number, sar: number, dar: number): void {
    let control = chunkCb ? LL_CONTROL.CB : 0;
    if (last) {
      control |= LL_CONTROL.LIE;
      // A remote (not CHIP_LOCAL) instance also asks for the remote interrupt (IMWr/MSI).
      if (this.remote) control |= LL_CONTROL.RIE;
    }
    writeDataElement(this.ll, (i * LL_DATA_BYTES) >>> 2, control, size, sar, dar);
  }

  writeLink(count: number, chunkCb: boolean): void {
    const control = LL_CONTROL.LLP | LL_CONTROL.TCB | (chunkCb ? 0 : LL_CONTROL.CB);
    writeLinkElement(this.ll, (count * LL_DATA_BYTES) >>> 2, control, this.paddr);
  }

  status(): number {
    const s = this.file.read32(this.r.intStatus);
    if ((s & this.r.abortBit) !== 0) return STATUS_ABORT;
    if ((s & this.r.doneBit) !== 0) return STATUS_DONE;
    return STATUS_NONE;
  }

  clear(status: number): void {
    this.file.write32(this.r.intClear, status === STATUS_ABORT ? this.r.abortBit : this.r.doneBit);
  }

  dump(): Record<string, number> {
    const out: Record<string, number> = {};
    const r = this.r as unknown as Record<string, number | string>;
    for (const [name, off] of Object.entries(r)) {
      if (typeof off !== 'number' || off < 0 || NOT_REGISTERS.has(name)) continue;
      out[name] = this.file.read32(off);
    }
    return out;
  }

  /** LLP = the start of the channel's LL region (two 32-bit halves: llp is not 64-bit aligned). */
  protected writeLlp(): void {
    this.file.write32(this.r.llpLo, lower32(this.paddr));
    this.file.write32(this.r.llpHi, upper32(this.paddr));
  }

  /** A remote instance reads one LL word back: flushes its posted LL writes before the doorbell. */
  protected flushPostedLlWrites(): void {
    if (this.remote) Atomics.load(this.ll, 0);
  }
}
