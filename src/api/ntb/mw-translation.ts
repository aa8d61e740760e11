import { EpdmaError, hex } from '../../device/errors.js';
import { join64, lower32, upper32 } from '../../device/wordpart.js';

/**
 * The inbound translation of a side's memory windows (ntb_mw_set_trans): after allocating the
 * receive buffer for window n, a side programs "window n lands at bus address A, size S". On a
 * real NTB the peer then writes through its outbound window and the hardware translates; a DMA
 * engine needs the target address itself, so the peer reads the translation to aim its DMA
 * (and its CPU writes of headers and rx_info) at the buffer. Words: per window
 * {addr_hi, addr_lo, size_hi, size_lo}, in shared memory like the spads.
 */

const WORDS_PER_MW = 4;

export interface MwTarget {
  readonly addr: number;
  readonly size: number;
}

export class MwTranslation {
  readonly view: Int32Array;

  static create(mwCount: number): MwTranslation {
    return new MwTranslation(new SharedArrayBuffer(4 * WORDS_PER_MW * mwCount));
  }

  constructor(buffer: SharedArrayBuffer) {
    this.view = new Int32Array(buffer);
  }

  get count(): number {
    return this.view.length / WORDS_PER_MW;
  }

  /** ntb_mw_set_trans: the size is written last, so a reader seeing a size sees the address. */
  set(mw: number, addr: number, size: number): void {
    const w = this.word(mw);
    if (!Number.isSafeInteger(addr) || addr < 0 || !Number.isSafeInteger(size) || size <= 0) {
      throw new EpdmaError('EINVAL', `memory window ${mw}: translation ${hex(addr)}+${hex(size)} is not a bus range`);
    }
    Atomics.store(this.view, w, upper32(addr));
    Atomics.store(this.view, w + 1, lower32(addr));
    Atomics.store(this.view, w + 3, lower32(size));
    Atomics.store(this.view, w + 2, upper32(size));
  }

  /** ntb_mw_clear_trans. */
  clear(mw: number): void {
    const w = this.word(mw);
    for (let i = 0; i < WORDS_PER_MW; i++) Atomics.store(this.view, w + i, 0);
  }

  /** Where window `mw` lands, or undefined if it is not programmed. */
  target(mw: number): MwTarget | undefined {
    const w = this.word(mw);
    const size = join64(Atomics.load(this.view, w + 2), Atomics.load(this.view, w + 3));
    if (size === 0) return undefined;
    const addr = join64(Atomics.load(this.view, w), Atomics.load(this.view, w + 1));
    return { addr, size };
  }

  private word(mw: number): number {
    if (!Number.isInteger(mw) || mw < 0 || mw >= this.count) throw new EpdmaError('EINVAL', `memory window ${mw} outside 0..${this.count - 1}`);
    return mw * WORDS_PER_MW;
  }
}
