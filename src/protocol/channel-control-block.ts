/**
 * Words shared between a channel's handle on the main thread and its worker, beside the
 * rings: the channel's state (so both threads make the DMAengine state transitions of
 * dw-edma-core.c atomically, reference 6.5), what the main thread needs for `txStatus`
 * without asking the worker, and the counters that tell the worker when to look up from
 * its loop.
 *
 * Every field has its own bytes: Int32 words 0-6 (word 7 spare), then one float64 at byte 32.
 * (An earlier layout put float64 fields over Int32 words, so the terminate flag was the low
 * half of a byte count.)
 *
 * The STATE word packs what must change together in one compare-and-swap:
 *   bits 0-1  status      CHANNEL_IDLE / BUSY / PAUSED (dw-edma's chan->status)
 *   bits 2-3  request     REQUEST_NONE / STOP / PAUSE  (chan->request)
 *   bit  4    RUNNING     a chunk is started on the hardware and its DONE/ABORT not yet handled
 *   bit  5    HALTED      IDLE after an ABORT or a STOP: issued work waits for the next
 *                         issuePending, a refill of the ring from the main thread does not start it
 *   bit  6    HOLD        set with BUSY by an issuePending, cleared when the main thread's
 *                         synchronous code that issued it has run (a microtask): the DONE of
 *                         the chunk it started is acted on only then, as the kernel's interrupt
 *                         comes after the code that called issue_pending (and pause right after
 *                         issuePending always lands on that chunk's boundary)
 *   bits 8-31 issue count bumped by the main thread whenever it put work into the ring, so a
 *                         worker going IDLE on an empty ring fails its swap if work came meanwhile
 * The main thread sets BUSY|RUNNING in issuePending (the kernel starts the first chunk before
 * issue_pending returns), requests PAUSE/STOP and resumes; the worker acts on requests at chunk
 * boundaries. Both use compareAndSwapState and keep the issue count, so no transition of one
 * thread is lost to the other.
 */
const STATE = 0;
const CUR_COOKIE = 1; // worker: cookie of the descriptor in flight, 0 if none
const CUR_FLAGS = 2; // worker: CURRENT_CHUNKS_LEFT when the in-flight descriptor has chunks not started
const CONTROL_SEQ = 3; // main: bumped after every control-plane request is posted, so the worker yields to its event loop and finds it
const GENERATION = 4; // main: restart count of the actor (the worker reports it in stats)
const EXIT = 5; // main: 1 asks the worker loop to return (close)
const TERMINATE = 6; // main sets, worker clears: TERMINATE_* pending (survives a worker crash)
const CUR_RESIDUE_BYTE = 32; // float64 at byte 32: residue of the in-flight descriptor

export const CHANNEL_IDLE = 0;
export const CHANNEL_BUSY = 1;
export const CHANNEL_PAUSED = 2;
const STATUS_MASK = 0x3;

export const REQUEST_NONE = 0;
export const REQUEST_STOP = 1 << 2;
export const REQUEST_PAUSE = 2 << 2;
export const REQUEST_MASK = 0x3 << 2;

export const STATE_RUNNING = 1 << 4;
export const STATE_HALTED = 1 << 5;
export const STATE_HOLD = 1 << 6;
const STATE_ISSUE_ONE = 1 << 8;
const STATE_ISSUE_MASK = ~0xff;

const CURRENT_CHUNKS_LEFT = 1;

/** What a pending terminate asks of the worker. */
export const TERMINATE_NONE = 0;
/** DMAengine terminate: complete every unfinished descriptor 'terminated' (no callback). */
export const TERMINATE_ALL = 1;
/** Channel release in 'dw-edma' mode: drop every descriptor, as vchan_free_chan_resources. */
export const TERMINATE_FREE = 2;

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
    this.f64 = new Float64Array(buffer, CUR_RESIDUE_BYTE, 1);
  }

  controlSeq(): number { return Atomics.load(this.i32, CONTROL_SEQ); }
  bumpControl(): void { Atomics.add(this.i32, CONTROL_SEQ, 1); }
  generation(): number { return Atomics.load(this.i32, GENERATION); }
  setGeneration(g: number): void { Atomics.store(this.i32, GENERATION, g); }
  exitRequested(): boolean { return Atomics.load(this.i32, EXIT) !== 0; }
  requestExit(): void { Atomics.store(this.i32, EXIT, 1); }
  terminatePending(): number { return Atomics.load(this.i32, TERMINATE); }
  setTerminatePending(what: number): void { Atomics.store(this.i32, TERMINATE, what); }

  /** The whole STATE word (status | request | RUNNING | HALTED). */
  state(): number { return Atomics.load(this.i32, STATE); }
  status(): number { return Atomics.load(this.i32, STATE) & STATUS_MASK; }
  /** True if the word still was `expected` and now is `next`. */
  compareAndSwapState(expected: number, next: number): boolean {
    return Atomics.compareExchange(this.i32, STATE, expected, next) === expected;
  }
  /** Unconditional: only for a restarted worker, which owns the state while it rebuilds it. */
  setState(s: number): void { Atomics.store(this.i32, STATE, s); }

  /**
   * The main thread put work into the submission ring (issue_pending, or a refill of issued
   * work that waited for room): bump the issue count, and if the channel is IDLE with no
   * request pending and has issued work (`queued` entries in the ring, or a descriptor still
   * in flight), mark it BUSY with a chunk started, as the kernel's issue_pending does before it
   * returns. A refill (`fromIssue` false) does not restart a channel HALTED by an ABORT or a
   * STOP. Returns true if it started a chunk (BUSY | RUNNING | HOLD): the caller drops HOLD
   * once its issuing code has run.
   */
  issue(queued: () => number, fromIssue: boolean): boolean {
    for (;;) {
      const s = this.state();
      const bumped = (s + STATE_ISSUE_ONE) | 0;
      const inFlight = this.currentCookie() !== 0;
      const idle = (s & STATUS_MASK) === CHANNEL_IDLE && (s & REQUEST_MASK) === REQUEST_NONE && (fromIssue || (s & STATE_HALTED) === 0);
      if (!idle || (!inFlight && queued() === 0)) {
        if (this.compareAndSwapState(s, bumped)) return false;
        continue;
      }
      // start_transfer finds a chunk unless the descriptor in flight has none left (dw-edma's
      // hang after a pause on the last chunk: BUSY with nothing running).
      const chunk = inFlight ? this.currentHasChunksLeft() : true;
      if (this.compareAndSwapState(s, withState(bumped, CHANNEL_BUSY | (chunk ? STATE_RUNNING | STATE_HOLD : 0)))) return chunk;
    }
  }

  /** The in-flight descriptor. The cookie is stored last so a reader that sees it sees the rest. */
  setCurrent(cookie: number, residue: number, chunksLeft: boolean): void {
    this.f64[0] = residue;
    Atomics.store(this.i32, CUR_FLAGS, chunksLeft ? CURRENT_CHUNKS_LEFT : 0);
    Atomics.store(this.i32, CUR_COOKIE, cookie);
  }
  /** A chunk of the in-flight descriptor started. */
  setProgress(residue: number, chunksLeft: boolean): void {
    this.f64[0] = residue;
    Atomics.store(this.i32, CUR_FLAGS, chunksLeft ? CURRENT_CHUNKS_LEFT : 0);
  }
  clearCurrent(): void {
    Atomics.store(this.i32, CUR_COOKIE, 0);
    Atomics.store(this.i32, CUR_FLAGS, 0);
  }
  currentCookie(): number { return Atomics.load(this.i32, CUR_COOKIE); }
  /** True if the in-flight descriptor still has chunks that were not started. */
  currentHasChunksLeft(): boolean { return (Atomics.load(this.i32, CUR_FLAGS) & CURRENT_CHUNKS_LEFT) !== 0; }
  /**
   * Residue of the in-flight descriptor `cookie` (alloc_sz - xfer_sz, descriptor-granular like
   * dw-edma), or -1 if it is no longer the one in flight. The cookie is read on both sides of
   * the residue, so a residue of the next descriptor is never reported for this one.
   */
  currentResidue(cookie: number): number {
    if (Atomics.load(this.i32, CUR_COOKIE) !== cookie) return -1;
    const r = this.f64[0]!;
    return Atomics.load(this.i32, CUR_COOKIE) === cookie ? r : -1;
  }
}

export function stateStatus(s: number): number { return s & STATUS_MASK; }
export function stateRequest(s: number): number { return s & REQUEST_MASK; }
/** `s` with its status/request/RUNNING/HALTED bits replaced by `bits`, the issue count kept. */
export function withState(s: number, bits: number): number { return (s & STATE_ISSUE_MASK) | bits; }
