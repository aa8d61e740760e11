import type { LlRegion } from '../device/dma-chip.js';
import { powerEnableRegister, type ChannelRegisterSet } from '../device/regs/channel-registers.js';
import { EDMA_V0_CONTROL1 } from '../device/regs/edma-v0-regs.js';
import type { MmioRegisterFile } from '../device/regs/register-file.js';
import type { ChannelOpsOptions } from './channel-ops.js';
import { LlChannelOps } from './ll-channel-ops.js';

/**
 * Channel operations for the eDMA v0 register family (unroll and HDMA-compat), after
 * dw-edma-v0-core.c: engine enable, doorbell, interrupt status/mask/clear and the IMWr
 * registers are per direction and shared by its channels, so interrupt routing is a
 * read-modify-write of this channel's bits and only the owner of a whole direction may turn
 * its engine off.
 */
export class EdmaV0ChannelOps extends LlChannelOps {
  /** chN_pwr_en on HDMA-compat, -1 where the layout has no power gate to open. */
  private readonly pwrEn: number;

  constructor(file: MmioRegisterFile, regs: ChannelRegisterSet, ll: LlRegion, options: ChannelOpsOptions) {
    super(file, regs, ll, options);
    this.pwrEn = powerEnableRegister(regs);
  }

  /** dw_edma_v0_core_start. */
  start(first: boolean): void {
    const f = this.file;
    const r = this.r;
    if (first) {
      f.write32(r.enable, 1);
      if (this.pwrEn >= 0) f.write32(this.pwrEn, 1);
      this.routeInterrupts();
      f.setBits(r.llErrEn, 1 << r.ch);
      f.write32(r.control1, EDMA_V0_CONTROL1.CCS | EDMA_V0_CONTROL1.LLE | ((this.funcNo << EDMA_V0_CONTROL1.FUNC_SHIFT) & EDMA_V0_CONTROL1.FUNC_MASK));
      this.writeLlp();
    }
    this.flushPostedLlWrites();
    f.write32(r.doorbell, r.ch);
  }

  /** Remote-routed channels mask the EP-local interrupt; local ones unmask it. */
  private routeInterrupts(): void {
    const r = this.r;
    if (this.remote) this.file.setBits(r.intMask, r.doneBit | r.abortBit);
    else this.file.clearBits(r.intMask, r.doneBit | r.abortBit);
  }

  /** The enable is per direction, so only the owner of the whole direction turns it off. */
  quiesce(ownsDirection: boolean): void {
    const f = this.file;
    const r = this.r;
    f.setBits(r.intMask, r.doneBit | r.abortBit);
    f.write32(r.intClear, r.doneBit | r.abortBit);
    if (ownsDirection) f.write32(r.enable, 0);
  }
}
