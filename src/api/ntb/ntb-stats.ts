/**
 * Per-queue counters in the shape of ntb_transport's debugfs file (reference 8.7), in camelCase,
 * plus the counters the DMA-on-both-sides design adds (DMA errors, CPU fallbacks, staging copies,
 * link-down retries). `QueuePair.stats` hands out a snapshot; the queue keeps the live counters.
 */
export interface QueueStats {
  // ---- RX (frames this port receives) ----
  /** Payload bytes delivered to receive$. */
  readonly rxBytes: number;
  /** Frames consumed, data and control; also the `ver` the next frame must carry. */
  readonly rxPkts: number;
  /** Frames delivered by copying them out of the ring (`slice`), as ntb_transport's memcpy RX. */
  readonly rxMemcpy: number;
  /** Frames delivered as a view of the ring (zeroCopyReceive: true); ntb's rx_async slot. */
  readonly rxAsync: number;
  /** Doorbell passes that found no completed frame at the head of the ring. */
  readonly rxRingEmpty: number;
  /** Passes that found frames but no subscriber to take them (ntb: no posted RX buffer). */
  readonly rxErrNoBuf: number;
  /** Frames whose header length exceeds the frame (dropped). */
  readonly rxErrOflow: number;
  /** Frames whose `ver` is not the expected packet count (dropped). */
  readonly rxErrVer: number;
  /** Next ring slot to consume. */
  readonly rxIndex: number;
  /** Ring slots (ntb: rx_max_entry). */
  readonly rxMaxEntry: number;

  // ---- TX (frames this port sends) ----
  /** Payload bytes whose frame the peer's ring holds (header written). */
  readonly txBytes: number;
  /** Frames placed in the peer's ring (ntb: tx_pkts, counted at enqueue). */
  readonly txPkts: number;
  /** Frames copied by the CPU (piscina), below copyBytes, without DMA, or as DMA fallback. */
  readonly txMemcpy: number;
  /** Frames moved by a DMA channel. */
  readonly txAsync: number;
  /** Sends that found the peer's ring full and had to wait for space (never an error). */
  readonly txRingFull: number;
  /** Sends refused for lack of a TX entry: always 0 here (the waiting list is unbounded). */
  readonly txErrNoBuf: number;
  /** Next ring slot to fill. */
  readonly txIndex: number;
  /** Ring slots of the peer's RX ring (ntb: tx_max_entry). */
  readonly txMaxEntry: number;
  /** The consumed index the peer last published (ntb debugfs "RRI"). */
  readonly remoteRxIndex: number;

  // ---- DMA-on-both-sides additions ----
  /** DMA completions other than 'ok' (each redone by the CPU). */
  readonly dmaErrors: number;
  /** CPU copies done because a DMA failed (included in txMemcpy, as in ntb_tx_copy_callback). */
  readonly memcpyFallbacks: number;
  /** DMA aborts caused by a link down: the frame is redone after the link is back. */
  readonly linkDownRetries: number;
  /** Payloads that were not in the sender's DMA memory and were first copied there by the CPU. */
  readonly txStagingCopies: number;
  /** Name of the DMA channel moving this queue's TX payload, or null (CPU copies only). */
  readonly txDmaChannel: string | null;
  /** Queue link state (both sides set their QP_LINKS bit). */
  readonly linkUp: boolean;
}

type Counter = Exclude<keyof QueueStats, 'rxIndex' | 'rxMaxEntry' | 'txIndex' | 'txMaxEntry' | 'remoteRxIndex' | 'txDmaChannel' | 'linkUp'>;

/** The live counters of one queue pair, bumped in place on the hot path. */
export class QueueCounters implements Record<Counter, number> {
  rxBytes = 0;
  rxPkts = 0;
  rxMemcpy = 0;
  rxAsync = 0;
  rxRingEmpty = 0;
  rxErrNoBuf = 0;
  rxErrOflow = 0;
  rxErrVer = 0;
  txBytes = 0;
  txPkts = 0;
  txMemcpy = 0;
  txAsync = 0;
  txRingFull = 0;
  txErrNoBuf = 0;
  dmaErrors = 0;
  memcpyFallbacks = 0;
  linkDownRetries = 0;
  txStagingCopies = 0;

  snapshot(state: Pick<QueueStats, 'rxIndex' | 'rxMaxEntry' | 'txIndex' | 'txMaxEntry' | 'remoteRxIndex' | 'txDmaChannel' | 'linkUp'>): QueueStats {
    return {
      rxBytes: this.rxBytes,
      rxPkts: this.rxPkts,
      rxMemcpy: this.rxMemcpy,
      rxAsync: this.rxAsync,
      rxRingEmpty: this.rxRingEmpty,
      rxErrNoBuf: this.rxErrNoBuf,
      rxErrOflow: this.rxErrOflow,
      rxErrVer: this.rxErrVer,
      rxIndex: state.rxIndex,
      rxMaxEntry: state.rxMaxEntry,
      txBytes: this.txBytes,
      txPkts: this.txPkts,
      txMemcpy: this.txMemcpy,
      txAsync: this.txAsync,
      txRingFull: this.txRingFull,
      txErrNoBuf: this.txErrNoBuf,
      txIndex: state.txIndex,
      txMaxEntry: state.txMaxEntry,
      remoteRxIndex: state.remoteRxIndex,
      dmaErrors: this.dmaErrors,
      memcpyFallbacks: this.memcpyFallbacks,
      linkDownRetries: this.linkDownRetries,
      txStagingCopies: this.txStagingCopies,
      txDmaChannel: state.txDmaChannel,
      linkUp: state.linkUp,
    };
  }
}
