import { HDMA_V0_BITS } from '../device/regs/hdma-v0-regs.js';
import { LlChannelOps } from './ll-channel-ops.js';

/**
 * Channel operations for HDMA native, after dw-hdma-v0-core.c: every register is the channel's
 * own (ch_en, doorbell, int_setup, int_stat/int_clear, cycle_sync, func_num), so a channel is
 * routed, started and quiesced without touching any other channel.
 */
export class HdmaChannelOps extends LlChannelOps {
  /**
   * The channel-configuration op (ch_config), run once when the channel is set up: HDMA takes
   * the requester function number in its own func_num register here (v4 part 1), so start()
   * does not write it.
   */
  override configure(): void {
    this.file.write32(this.r.funcNum, this.funcNo & 0xff);
  }

  /** dw_hdma_v0_core_start. */
  start(first: boolean): void {
    const f = this.file;
    const r = this.r;
    if (first) {
      f.write32(r.enable, HDMA_V0_BITS.CH_EN);
      this.routeInterrupts();
      f.write32(r.control1, HDMA_V0_BITS.LINKLIST_EN);
      this.writeLlp();
    }
    // Every chunk: resynchronise the consumer cycle state to the CB of the element at LLP.
    f.write32(r.cycleSync, HDMA_V0_BITS.CONSUMER_CYCLE_STAT | HDMA_V0_BITS.CONSUMER_CYCLE_BIT);
    this.flushPostedLlWrites();
    f.write32(r.doorbell, HDMA_V0_BITS.DOORBELL_START);
  }

  /**
   * int_setup, read-modify-write as the v4 series does: only the mask/enable field is the
   * driver's (remote: both ends enabled, local masked; local: only the local end). int_setup is
   * per channel, so no other thread touches it between the read and the write.
   */
  private routeInterrupts(): void {
    const setup = this.file.read32(this.r.intSetup) & ~HDMA_V0_BITS.INT_SETUP_FIELD;
    this.file.write32(this.r.intSetup, setup | (this.remote ? HDMA_V0_BITS.INT_SETUP_REMOTE : HDMA_V0_BITS.INT_SETUP_LOCAL));
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
