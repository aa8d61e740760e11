import { DoorbellListener } from '../../protocol/doorbell-listener.js';

/**
 * A port's NTB doorbell: one bit per queue, rung by the peer after it published frames
 * (ntb_peer_db_set(BIT(qp)) in ntb_tx_copy_callback), plus a second bit set for "I consumed
 * frames, your ring has room" (ntb_transport makes its client poll tx_free_entry for that; an
 * in-process notification is cheaper and never busy-loops). A sequence word lets the port
 * listen for either with one DoorbellListener, so the main thread never blocks or spins.
 */

const SEQ = 0;
const RX = 1;
const CREDIT = 2;
const WORDS = 3;

export type DoorbellKind = 'rx' | 'credit';

export class NtbDoorbell {
  private readonly view: Int32Array;

  static create(): NtbDoorbell {
    return new NtbDoorbell(new SharedArrayBuffer(4 * WORDS));
  }

  constructor(buffer: SharedArrayBuffer) {
    this.view = new Int32Array(buffer);
  }

  /** Sets the bits of `mask` (queue bits) and wakes the listener. */
  ring(kind: DoorbellKind, mask: number): void {
    Atomics.or(this.view, kind === 'rx' ? RX : CREDIT, mask | 0);
    Atomics.add(this.view, SEQ, 1);
    Atomics.notify(this.view, SEQ);
  }

  /**
   * The port's doorbell loop: each pass reads and clears both bit sets (ntb_db_read +
   * ntb_db_clear) and hands them to `handle` if any was set. A ring after the listener stopped
   * stays here for whoever listens next.
   */
  listener(handle: (rx: number, credit: number) => void): DoorbellListener {
    const view = this.view;
    return new DoorbellListener({ view, index: SEQ }, () => {
      const rx = Atomics.exchange(view, RX, 0);
      const credit = Atomics.exchange(view, CREDIT, 0);
      if ((rx | credit) === 0) return false;
      handle(rx, credit);
      return true;
    });
  }
}
