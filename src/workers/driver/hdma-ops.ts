import { HDMA_V0_BITS } from '../../device/regs/hdma-v0-regs.js';
import { LlChannelOps } from './ll-channel-ops.js';

/**
 * Channel operations for HDMA native, after dw-hdma-v0-core.c: every register is the channel's
 * own (ch_en, doorbell, int_setup, int_stat/int_clear, cycle_sync, func_num), so a channel is
 * routed, started and quiesced without touching any other channel.
 */
export class HdmaChannelOps extends LlChannelOps {
  /** dw_hdma_v0_core_start. */
  start(first: boolean): void {
    const f = this.file;
    const r = this.r;
    if (first) {
      f.write32(r.enable, HDMA_V0_BITS.CH_EN);
      this.routeInterrupts();
      f.write32(r.control1, HDMA_V0_BITS.LINKLIST_EN);
      f.write32(r.funcNum, this.funcNo & 0xff);
      this.writeLlp();
    }
    // Every chunk: resynchronise the consumer cycle state to the CB of the element at LLP.
    f.write32(r.cycleSync, HDMA_V0_BITS.CONSUMER_CYCLE_STAT | HDMA_V0_BITS.CONSUMER_CYCLE_BIT);
    this.flushPostedLlWrites();
    f.write32(r.doorbell, HDMA_V0_BITS.DOORBELL_START);
  }

  /** int_setup: remote routing masks the local interrupts and enables both ends; local enables only the local end. */
  private routeInterrupts(): void {
    this.file.write32(
      this.r.intSetup,
      this.remote
        ? HDMA_V0_BITS.STOP_INT_MASK | HDMA_V0_BITS.ABORT_INT_MASK | HDMA_V0_BITS.REMOTE_STOP_INT_EN | HDMA_V0_BITS.LOCAL_STOP_INT_EN | HDMA_V0_BITS.REMOTE_ABORT_INT_EN | HDMA_V0_BITS.LOCAL_ABORT_INT_EN
        : HDMA_V0_BITS.LOCAL_STOP_INT_EN | HDMA_V0_BITS.LOCAL_ABORT_INT_EN,
    );
  }

  /** Per channel: mask both interrupts, clear them, ch_en 0 (`ownsDirection` does not matter). */
  quiesce(): void {
    const f = this.file;
    const r = this.r;
    f.write32(r.intSetup, HDMA_V0_BITS.STOP_INT_MASK | HDMA_V0_BITS.ABORT_INT_MASK);
    f.write32(r.intClear, HDMA_V0_BITS.STOP | HDMA_V0_BITS.ABORT);
    f.write32(r.enable, 0);
  }
}
