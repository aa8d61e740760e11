import type { CpuPool } from '../../actors/cpu-pool.js';
import type { Completion, DmaChannel } from '../types.js';
import type { QueueCounters } from './ntb-stats.js';

/**
 * Moves one frame's payload from the sender's memory into the peer's ring, the way
 * ntb_async_tx decides (reference 8.4, 8.6): a DMA channel when the queue has one, DMA is
 * enabled and the payload is at least `copyBytes`; otherwise the CPU (a piscina task, so the
 * main thread never copies). A DMA that fails is redone by the CPU (ntb_tx_copy_callback),
 * except when it failed because the link went down: then the frame waits for the link.
 *
 * Host->EP the channel is a delegated read channel the host drives (source: host memory,
 * device address: the EP-local frame); EP->host it is an EP-local write channel (source: EP
 * memory, device address: the host bus address of the frame).
 */

export interface FrameCopy {
  /** Source bus address in the sender's memory, and its offset in the sender's SAB. */
  readonly srcAddr: number;
  readonly srcOffset: number;
  /** Destination bus address of the frame (the channel's device address) and its SAB offset. */
  readonly dstAddr: number;
  readonly dstOffset: number;
  readonly length: number;
}

/** 'ok': the payload is in the frame; 'retry': redo after link up; 'shutdown': port closing. */
export type CopyOutcome = 'ok' | 'retry' | 'shutdown';

export interface FrameCopierOptions {
  readonly channel: DmaChannel | null;
  readonly pool: CpuPool;
  readonly srcSab: SharedArrayBuffer;
  readonly dstSab: SharedArrayBuffer;
  readonly useDma: boolean;
  readonly copyBytes: number;
  readonly counters: QueueCounters;
  readonly linkIsUp: () => boolean;
}

/** The peer's memory was unreachable: the link went down, or the endpoint reset the channel. */
const isLinkDown = (c: Completion): boolean => c.reasonCode === 'link-down' || c.reasonCode === 'endpoint-reset';

export class FrameCopier {
  readonly channel: DmaChannel | null;
  private readonly o: FrameCopierOptions;
  private submitted = false;
  private closing = false;

  constructor(options: FrameCopierOptions) {
    this.o = options;
    this.channel = options.useDma ? options.channel : null;
  }

  /** True if this payload length goes by DMA. */
  usesDma(length: number): boolean {
    return this.channel !== null && length >= this.o.copyBytes;
  }

  /**
   * Starts the copy. DMA descriptors are only submitted here; `flush()` issues them once per
   * batch (dma_async_issue_pending after the loop, as ntb does).
   */
  copy(f: FrameCopy): Promise<CopyOutcome> {
    const c = this.o.counters;
    const ch = this.channel;
    if (ch !== null && f.length >= this.o.copyBytes) {
      let done: Promise<Completion>;
      try {
        ch.configure({ deviceAddr: f.dstAddr });
        const d = ch.prepSlaveSingle(f.srcAddr, f.length, { interrupt: true });
        d.submit();
        done = d.done;
      } catch {
        // Prep refused (the channel was stopped for good): the CPU copies, as for a failed DMA.
        c.dmaErrors++;
        c.memcpyFallbacks++;
        return this.cpu(f);
      }
      this.submitted = true;
      c.txAsync++;
      return done.then((r) => this.afterDma(f, r));
    }
    return this.cpu(f);
  }

  /** Issues what copy() submitted since the last flush. */
  flush(): void {
    if (!this.submitted || this.channel === null) return;
    this.submitted = false;
    this.channel.issuePending();
  }

  /** From now on a failed DMA is not redone: the port is closing. */
  beginClose(): void {
    this.closing = true;
  }

  private afterDma(f: FrameCopy, r: Completion): Promise<CopyOutcome> | CopyOutcome {
    if (r.result === 'ok') return 'ok';
    if (this.closing) return 'shutdown';
    const c = this.o.counters;
    if (!this.o.linkIsUp() || isLinkDown(r)) {
      // The peer's memory is not reachable: a CPU copy through the window would be lost too.
      c.linkDownRetries++;
      return 'retry';
    }
    c.dmaErrors++;
    c.memcpyFallbacks++;
    return this.cpu(f);
  }

  private cpu(f: FrameCopy): Promise<CopyOutcome> {
    this.o.counters.txMemcpy++;
    return this.o.pool
      .copy({ src: this.o.srcSab, srcOffset: f.srcOffset, dst: this.o.dstSab, dstOffset: f.dstOffset, length: f.length })
      .then(
        (): CopyOutcome => 'ok',
        (err: unknown) => {
          if (this.closing) return 'shutdown';
          throw err;
        },
      );
  }
}
