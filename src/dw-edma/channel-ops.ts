/** What the interrupt handler finds for one channel: nothing yet, DONE, or ABORT (which wins). */
export const STATUS_NONE = 0;
export const STATUS_DONE = 1;
export const STATUS_ABORT = 2;

export interface ChannelOpsOptions {
  /** Not a CHIP_LOCAL instance: ask for the remote interrupt (RIE) and route interrupts to it. */
  readonly remote: boolean;
  /** PCI function the channel's transfers are issued for (programmed on the first start). */
  readonly funcNo: number;
}

/**
 * The per-layout hardware operations of one channel, as the kernel's dw_edma_core_ops table
 * (filled by dw-edma-v0-core.c or dw-hdma-v0-core.c): the channel core calls only these, and
 * `createChannelOps` picks the implementation once, from the map format. Every access is a CPU
 * register access through the register file (on the host: through the BAR), so the same
 * operations run unchanged against an engine in another thread or process.
 */
export interface ChannelOps {
  /** Data elements one chunk may hold in this channel's LL region (one slot is the link). */
  readonly llMax: number;
  /** Data element `i` of the chunk being written (write_chunk's loop body). */
  writeElement(i: number, chunkCb: boolean, last: boolean, size: number, sar: number, dar: number): void;
  /** The link element after `count` data elements: back to the region start, CB inverted. */
  writeLink(count: number, chunkCb: boolean): void;
  /**
   * The channel-configuration op, run once when the channel is set up (before any start): HDMA
   * programs func_num here; eDMA v0 carries the function number in ch_control1 at start.
   */
  configure(): void;
  /** Starts the chunk just written; `first` also programs the channel (enable, interrupt routing, LLP). */
  start(first: boolean): void;
  /** Reads the channel's interrupt status: STATUS_NONE, STATUS_DONE or STATUS_ABORT. */
  status(): number;
  /** Clears the given status (STATUS_DONE or STATUS_ABORT) in the interrupt status register. */
  clear(status: number): void;
  /**
   * Channel quiesce (part 1): mask and clear the channel's interrupts and turn it off, as far
   * as the layout lets one channel do that (`ownsDirection`: the caller owns every channel
   * that shares the enable).
   */
  quiesce(ownsDirection: boolean): void;
  /** The channel's registers by name, for `registerDump()`. */
  dump(): Record<string, number>;
}

/** The part of ChannelOps the channel core drives (tests script it with a stand-in). */
export type ChunkHardware = Pick<ChannelOps, 'llMax' | 'writeElement' | 'writeLink' | 'start' | 'status' | 'clear'>;
