import { powerEnableRegister, type ChannelRegisterSet } from '../regs/channel-registers.js';
import { EDMA_V0_CONTROL1, EDMA_V0_ERR } from '../regs/edma-v0-regs.js';
import type { MmioRegisterFile } from '../regs/register-file.js';
import type { ChannelEngineOps } from './channel-engine-ops.js';
import { EngineFault } from './engine-fault.js';
import { join64 } from '../wordpart.js';

/**
 * The eDMA v0 family (unroll, HDMA-compat) as the hardware sees it: channel status and cycle
 * state live in ch_control1 (CS [6:5], CCS bit 8); enable, interrupt mask and IMWr registers
 * are per direction; err_status records linked-list, application and unsupported-request
 * errors per channel.
 */
export class EdmaV0EngineOps implements ChannelEngineOps {
  private readonly file: MmioRegisterFile;
  private readonly r: ChannelRegisterSet;
  /** chN_pwr_en on HDMA-compat (the channel also needs it set), -1 elsewhere. */
  private readonly pwrEn: number;

  constructor(file: MmioRegisterFile, regs: ChannelRegisterSet) {
    this.file = file;
    this.r = regs;
    this.pwrEn = powerEnableRegister(regs);
  }

  enabled(): boolean {
    if ((this.file.hwLoad(this.r.enable) & 1) === 0) return false;
    return this.pwrEn < 0 || (this.file.hwLoad(this.pwrEn) & 1) !== 0;
  }

  loadCycleState(): number {
    return (this.file.hwLoad(this.r.control1) & EDMA_V0_CONTROL1.CCS) !== 0 ? 1 : 0;
  }

  storeCycleState(ccs: number): void {
    const c1 = this.file.hwLoad(this.r.control1);
    this.file.hwStore(this.r.control1, ccs !== 0 ? c1 | EDMA_V0_CONTROL1.CCS : c1 & ~EDMA_V0_CONTROL1.CCS);
  }

  setChannelStatus(cs: number): void {
    const c1 = this.file.hwLoad(this.r.control1);
    this.file.hwStore(this.r.control1, (c1 & ~EDMA_V0_CONTROL1.CS_MASK) | (cs << EDMA_V0_CONTROL1.CS_SHIFT));
  }

  channelStatus(): number {
    return (this.file.hwLoad(this.r.control1) & EDMA_V0_CONTROL1.CS_MASK) >>> EDMA_V0_CONTROL1.CS_SHIFT;
  }

  raiseErrorStatus(fault: number): void {
    const r = this.r;
    if (fault === EngineFault.LL_OUTSIDE_REGION || fault === EngineFault.LL_LOOP) this.file.hwOr(r.errStatus, EDMA_V0_ERR.llBit(r.ch));
    else if (fault === EngineFault.SOURCE_UNMAPPED && r.kind === 'read') this.file.hwOr(r.errStatusHi, EDMA_V0_ERR.urBit(r.ch));
    else if (fault === EngineFault.SOURCE_UNMAPPED || fault === EngineFault.DESTINATION_UNMAPPED) this.file.hwOr(r.errStatus, EDMA_V0_ERR.appBit(r.ch));
  }

  localInterruptEnabled(abort: boolean): boolean {
    return (this.file.hwLoad(this.r.intMask) & (abort ? this.r.abortBit : this.r.doneBit)) === 0;
  }

  remoteInterruptEnabled(): boolean {
    return true;
  }

  interruptAddress(abort: boolean): number {
    const r = this.r;
    const lo = this.file.hwLoad(abort ? r.abortImwrLo : r.doneImwrLo);
    const hi = this.file.hwLoad(abort ? r.abortImwrHi : r.doneImwrHi);
    return join64(hi, lo);
  }

  /** Two channels share an imwr_data register: the even one in [15:0], the odd one in [31:16]. */
  interruptData(): number {
    return (this.file.hwLoad(this.r.imwrData) >>> this.r.imwrDataShift) & 0xffff;
  }
}
