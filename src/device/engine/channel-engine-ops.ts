/**
 * What the model of one channel's hardware reads and writes in registers that differ per
 * layout: the engine side of the dw_edma_core_ops split. `createChannelEngineOps` picks the
 * implementation once, from the map format, so ChannelEngine itself never looks at the
 * register family. All accesses are the hardware's own (`hw*`: no CPU side effects).
 */
export interface ChannelEngineOps {
  /** The channel may run: its enable (v0: the direction's engine_en; HDMA: ch_en) and any power gate are set. */
  enabled(): boolean;
  /**
   * The cycle state a doorbell loads. `llpElementCb` is the CB of the element LLP points to,
   * or -1 when LLP is outside the LL region (HDMA can be asked to resynchronise to it).
   */
  loadCycleState(llpElementCb: number): number;
  /** Writes the cycle state back when the channel stops (v0: CCS in ch_control1; HDMA: cycle_sync). */
  storeCycleState(ccs: number): void;
  /** Reports the channel status (CHANNEL_STATUS: running, halted, stopped). */
  setChannelStatus(cs: number): void;
  /** The channel status last reported. */
  channelStatus(): number;
  /** Latches the layout's error status bits for an abort with this EngineFault code (HDMA has none). */
  raiseErrorStatus(fault: number): void;
  /** The EP-local interrupt for DONE (or ABORT) is enabled and not masked. */
  localInterruptEnabled(abort: boolean): boolean;
  /** The remote interrupt write for DONE (or ABORT) is enabled (v0 has no per-channel gate: RIE decides). */
  remoteInterruptEnabled(abort: boolean): boolean;
  /** Bus address of the DONE (or ABORT) interrupt write (v0 IMWr, HDMA MSI); 0 when not programmed. */
  interruptAddress(abort: boolean): number;
  /** The 32-bit value the interrupt write carries. */
  interruptData(): number;
}
