import type { ChannelRegisterSet } from '../regs/channel-registers.js';
import { HDMA_V0_BITS } from '../regs/hdma-v0-regs.js';
import type { MmioRegisterFile } from '../regs/register-file.js';
import type { ChannelEngineOps } from './channel-engine-ops.js';
import { join64 } from '../wordpart.js';

/**
 * HDMA native as the hardware sees it: every register is the channel's own. Status is ch_stat,
 * the cycle state is cycle_sync (whose STAT bit asks the engine to take the CB of the element
 * at LLP), int_setup masks and enables the local and remote interrupts per event, and the
 * remote interrupt is an MSI write to msi_stop/msi_abort with msi_msgdata. HDMA has no
 * error status registers.
 */
export class HdmaEngineOps implements ChannelEngineOps {
  private readonly file: MmioRegisterFile;
  private readonly r: ChannelRegisterSet;

  constructor(file: MmioRegisterFile, regs: ChannelRegisterSet) {
    this.file = file;
    this.r = regs;
  }

  enabled(): boolean {
    return (this.file.hwLoad(this.r.enable) & 1) !== 0;
  }

  loadCycleState(llpElementCb: number): number {
    const sync = this.file.hwLoad(this.r.cycleSync);
    if ((sync & HDMA_V0_BITS.CONSUMER_CYCLE_STAT) !== 0 && llpElementCb >= 0) return llpElementCb;
    return sync & HDMA_V0_BITS.CONSUMER_CYCLE_BIT;
  }

  storeCycleState(ccs: number): void {
    this.file.hwStore(this.r.cycleSync, ccs);
  }

  setChannelStatus(cs: number): void {
    this.file.hwStore(this.r.chStat, cs);
  }

  channelStatus(): number {
    return this.file.hwLoad(this.r.chStat) & HDMA_V0_BITS.CH_STAT_MASK;
  }

  raiseErrorStatus(): void {
    // No error status registers: the abort interrupt and the fault log are all there is.
  }

  localInterruptEnabled(abort: boolean): boolean {
    const setup = this.file.hwLoad(this.r.intSetup);
    return abort
      ? (setup & HDMA_V0_BITS.LOCAL_ABORT_INT_EN) !== 0 && (setup & HDMA_V0_BITS.ABORT_INT_MASK) === 0
      : (setup & HDMA_V0_BITS.LOCAL_STOP_INT_EN) !== 0 && (setup & HDMA_V0_BITS.STOP_INT_MASK) === 0;
  }

  remoteInterruptEnabled(abort: boolean): boolean {
    return (this.file.hwLoad(this.r.intSetup) & (abort ? HDMA_V0_BITS.REMOTE_ABORT_INT_EN : HDMA_V0_BITS.REMOTE_STOP_INT_EN)) !== 0;
  }

  interruptAddress(abort: boolean): number {
    const r = this.r;
    const lo = this.file.hwLoad(abort ? r.msiAbortLo : r.msiStopLo);
    const hi = this.file.hwLoad(abort ? r.msiAbortHi : r.msiStopHi);
    return join64(hi, lo);
  }

  interruptData(): number {
    return this.file.hwLoad(this.r.msiMsgdata);
  }
}
