/**
 * Words shared between a channel's handle on the main thread and its worker, beside the
 * rings: what the main thread needs for `txStatus` without asking the worker, and the
 * counters that tell the worker when to look up from its loop.
 */
const ISSUE_SEQ = 0; // main: bumped by every issuePending (restarts a channel that went IDLE on ABORT)
const STATUS = 1; // worker: CHANNEL_IDLE / BUSY / PAUSED
const CUR_COOKIE = 2; // worker: cookie of the descriptor in flight, 0 if none
const CONTROL_SEQ = 3; // main: bumped before every control-plane request, so the worker yields to its event loop
const GENERATION = 4; // main: restart count of the actor (the worker reports it in stats)
const EXIT = 5; // main: 1 asks the worker loop to return (close)
const TERMINATE = 6; // main sets, worker clears: a terminate is pending (survives a worker crash)
const CUR_XFER = 3; // f64 index: bytes of the in-flight descriptor's chunks already started
const CUR_ALLOC = 4; // f64 index: size of the in-flight descriptor

export const CHANNEL_IDLE = 0;
export const CHANNEL_BUSY = 1;
export const CHANNEL_PAUSED = 2;

export const CONTROL_BLOCK_BYTES = 64;

export class ChannelControlBlock {
  readonly buffer: SharedArrayBuffer;
  private readonly i32: Int32Array;
  private readonly f64: Float64Array;

  static create(): ChannelControlBlock {
    return new ChannelControlBlock(new SharedArrayBuffer(CONTROL_BLOCK_BYTES));
  }

  constructor(buffer: SharedArrayBuffer) {
    this.buffer = buffer;
    this.i32 = new Int32Array(buffer, 0, 8);
    this.f64 = new Float64Array(buffer, 0, 8);
  }

  issueSeq(): number { return Atomics.load(this.i32, ISSUE_SEQ); }
  bumpIssue(): void { Atomics.add(this.i32, ISSUE_SEQ, 1); }
  controlSeq(): number { return Atomics.load(this.i32, CONTROL_SEQ); }
  bumpControl(): void { Atomics.add(this.i32, CONTROL_SEQ, 1); }
  generation(): number { return Atomics.load(this.i32, GENERATION); }
  setGeneration(g: number): void { Atomics.store(this.i32, GENERATION, g); }
  exitRequested(): boolean { return Atomics.load(this.i32, EXIT) !== 0; }
  requestExit(): void { Atomics.store(this.i32, EXIT, 1); }
  terminatePending(): boolean { return Atomics.load(this.i32, TERMINATE) !== 0; }
  setTerminatePending(pending: boolean): void { Atomics.store(this.i32, TERMINATE, pending ? 1 : 0); }

  status(): number { return Atomics.load(this.i32, STATUS); }
  setStatus(s: number): void { Atomics.store(this.i32, STATUS, s); }

  /** The in-flight descriptor. The cookie is stored last so a reader that sees it sees the sizes. */
  setCurrent(cookie: number, alloc: number, xfer: number): void {
    this.f64[CUR_ALLOC] = alloc;
    this.f64[CUR_XFER] = xfer;
    Atomics.store(this.i32, CUR_COOKIE, cookie);
  }
  setXfer(xfer: number): void { this.f64[CUR_XFER] = xfer; }
  clearCurrent(): void { Atomics.store(this.i32, CUR_COOKIE, 0); }
  currentCookie(): number { return Atomics.load(this.i32, CUR_COOKIE); }
  /** Residue of the in-flight descriptor, descriptor-granular like dw-edma (alloc_sz - xfer_sz). */
  currentResidue(): number { return this.f64[CUR_ALLOC]! - this.f64[CUR_XFER]!; }
}
