/**
 * A port's NTB doorbell: one bit per queue, rung by the peer after it published frames
 * (ntb_peer_db_set(BIT(qp)) in ntb_tx_copy_callback), plus a second bit set for "I consumed
 * frames, your ring has room" (ntb_transport makes its client poll tx_free_entry for that; an
 * in-process notification is cheaper and never busy-loops). A sequence word lets the port wait
 * for either with one Atomics.waitAsync, so the main thread never blocks or spins.
 */

const SEQ = 0;
const RX = 1;
const CREDIT = 2;
const WORDS = 3;

export type DoorbellKind = 'rx' | 'credit';

export class NtbDoorbell {
  readonly view: Int32Array;

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

  sequence(): number {
    return Atomics.load(this.view, SEQ);
  }

  /** Reads and clears both bit sets (ntb_db_read + ntb_db_clear). */
  take(): { rx: number; credit: number } {
    return { rx: Atomics.exchange(this.view, RX, 0), credit: Atomics.exchange(this.view, CREDIT, 0) };
  }
}

function nextMacrotask(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * The port's doorbell loop: sample the sequence, take the bits, handle them; wait
 * asynchronously only when nothing was pending. Sampling before taking means a ring that lands
 * after the take changes the sequence, so the wait returns at once instead of sleeping on it.
 * After a busy pass it yields one macrotask so steady traffic cannot starve timers and the DMA
 * completion pump.
 */
export class DoorbellListener {
  private stopped = true;
  private done: Promise<void> = Promise.resolve();

  constructor(
    private readonly doorbell: NtbDoorbell,
    private readonly handle: (rx: number, credit: number) => void,
  ) {}

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.done = this.loop();
  }

  /** Stops the loop and resolves once it has left its wait. */
  stop(): Promise<void> {
    this.stopped = true;
    Atomics.add(this.doorbell.view, SEQ, 1);
    Atomics.notify(this.doorbell.view, SEQ);
    return this.done;
  }

  private async loop(): Promise<void> {
    const view = this.doorbell.view;
    while (!this.stopped) {
      const seq = this.doorbell.sequence();
      const { rx, credit } = this.doorbell.take();
      if ((rx | credit) !== 0) {
        try {
          this.handle(rx, credit);
        } catch (err) {
          // A broken handler must not silently stop the port: surface it as uncaught.
          setImmediate(() => {
            throw err;
          });
        }
        await nextMacrotask();
        continue;
      }
      const wait = Atomics.waitAsync(view, SEQ, seq);
      if (wait.async) await wait.value;
    }
  }
}
