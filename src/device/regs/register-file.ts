import { EpdmaError, hex } from '../errors.js';
import { EDMA_V0, EDMA_V0_DOORBELL, EDMA_V0_MAX_NR_CH, EDMA_V0_WINDOW_BYTES } from './edma-v0-regs.js';
import { HDMA_V0, HDMA_V0_BITS, HDMA_V0_CH, HDMA_V0_MAX_NR_CH, HDMA_V0_WINDOW_BYTES } from './hdma-v0-regs.js';
import { registerFamily, type MapFormat } from './map-format.js';
import type { ChannelKind } from './channel-registers.js';
import { join64, lower32, upper32 } from '../wordpart.js';

/** What a CPU write to a register does besides storing the value. */
const EFFECT_STORE = 0;
const EFFECT_W1C = 1; // write-one-to-clear: clears those bits in the target status register
const EFFECT_READ_ONLY = 2; // hardware-owned status: CPU writes are dropped
const EFFECT_DOORBELL_V0 = 3; // channel number in [2:0]: latches a start (or stop) event
const EFFECT_DOORBELL_HDMA = 4; // START bit: latches a start event for this channel

/**
 * Shadow words after the architectural window. They are the model's stand-in for what a
 * register write *does* inside the hardware: a doorbell write is an event, not a stored value,
 * so several channels ringing the shared v0 doorbell cannot overwrite each other's request.
 */
const SHADOW_BYTES = 512;
const SH_DOORBELL = 0; // + kind: pending start mask (bit = channel)
const SH_STOP = 2; // + kind: pending stop mask
const SH_ENGINE_WAKE = 4; // bumped on every doorbell: an engine in another thread waits on it
const SH_IRQ = 8; // + kind * 8 + ch: interrupt sequence per channel (waiters sleep on it)
/**
 * + (kind * 8 + ch) * 4: the model's fault log (code, address lo, address hi, spare). Real
 * eDMA v0 has only coarse err_status bits and HDMA none; the log lets a driver tell the user
 * *which* address faulted, like a vendor debug register would.
 */
const SH_FAULT = 32;

function kindIndex(kind: ChannelKind): number {
  return kind === 'write' ? 0 : 1;
}

/**
 * The DMA controller's register block: a SharedArrayBuffer holding the register window plus
 * shadow event words. CPU accesses (`read32`/`write32`) apply each register's side effects
 * (W1C, doorbell events, read-only status); the engine uses the `hw*` methods, which store
 * directly. Any thread or process that has the buffer can construct an equal view.
 */
export class MmioRegisterFile {
  readonly buffer: SharedArrayBuffer;
  readonly format: MapFormat;
  readonly windowBytes: number;
  readonly words: Int32Array;
  private readonly shadow: Int32Array;
  private readonly effect: Uint8Array;
  private readonly target: Int32Array;
  /**
   * Set in a process that shares this register block with another process (two-process
   * mode): called after the Atomics.notify of a doorbell (engine wake) and of an interrupt,
   * with the word that changed, so a futex wake reaches waiters in the other process too.
   */
  crossProcessNotify?: (view: Int32Array, index: number) => void;
  /**
   * Whether another thread may sleep on the engine-wake and interrupt words of this view (an
   * engine worker, a channel worker waiting for an engine elsewhere). A channel worker that
   * steps its own engine in its loop clears it: its doorbells then leave the engine-wake word
   * alone and its interrupts bump their sequence without an Atomics.notify, a call that takes
   * V8's process-wide futex lock (two per transfer otherwise: with them, 64-byte transfers ran
   * at ~300 k/s on this project's 2-core machine, without them ~540 k/s).
   */
  wakesWaiters = true;

  /** The register window the hardware decodes for `format` (what a BAR maps). */
  static windowBytesFor(format: MapFormat): number {
    return registerFamily(format) === 'v0' ? EDMA_V0_WINDOW_BYTES : HDMA_V0_WINDOW_BYTES;
  }

  /** The window plus the model's shadow words (what the shared register block holds). */
  static bytesFor(format: MapFormat): number {
    return MmioRegisterFile.windowBytesFor(format) + SHADOW_BYTES;
  }

  /** A freshly reset register block with the channel counts the hardware reports. */
  static create(format: MapFormat, counts: { writeChannels: number; readChannels: number }, buffer?: SharedArrayBuffer): MmioRegisterFile {
    const regs = new MmioRegisterFile(buffer ?? new SharedArrayBuffer(MmioRegisterFile.bytesFor(format)), format);
    const max = registerFamily(format) === 'v0' ? EDMA_V0_MAX_NR_CH : HDMA_V0_MAX_NR_CH;
    for (const [what, n] of [['write', counts.writeChannels], ['read', counts.readChannels]] as const) {
      if (!Number.isInteger(n) || n < 0 || n > max) throw new EpdmaError('EINVAL', `${what} channel count ${n} out of range 0..${max}`);
    }
    if (registerFamily(format) === 'v0') {
      // ctrl: WR count [3:0], RD count [19:16] (PCIE_DMA_NUM_WR_CHAN / _RD_CHAN).
      regs.hwStore(EDMA_V0.ctrl, counts.writeChannels | (counts.readChannels << 16));
    }
    return regs;
  }

  constructor(buffer: SharedArrayBuffer, format: MapFormat) {
    const family = registerFamily(format);
    this.format = format;
    this.windowBytes = MmioRegisterFile.windowBytesFor(format);
    if (buffer.byteLength < this.windowBytes + SHADOW_BYTES) {
      throw new EpdmaError('EINVAL', `register block for ${format} needs ${hex(this.windowBytes + SHADOW_BYTES)} bytes, got ${hex(buffer.byteLength)}`);
    }
    this.buffer = buffer;
    this.words = new Int32Array(buffer, 0, this.windowBytes / 4);
    this.shadow = new Int32Array(buffer, this.windowBytes, SHADOW_BYTES / 4);
    this.effect = new Uint8Array(this.windowBytes / 4);
    this.target = new Int32Array(this.windowBytes / 4);
    if (family === 'v0') {
      this.setEffect(EDMA_V0.wrDoorbell, EFFECT_DOORBELL_V0, 0);
      this.setEffect(EDMA_V0.rdDoorbell, EFFECT_DOORBELL_V0, 1);
      this.setEffect(EDMA_V0.wrIntClear, EFFECT_W1C, EDMA_V0.wrIntStatus);
      this.setEffect(EDMA_V0.rdIntClear, EFFECT_W1C, EDMA_V0.rdIntStatus);
      for (const off of [EDMA_V0.wrIntStatus, EDMA_V0.rdIntStatus, EDMA_V0.wrErrStatus, EDMA_V0.rdErrStatusLo, EDMA_V0.rdErrStatusHi, EDMA_V0.ctrl]) {
        this.setEffect(off, EFFECT_READ_ONLY, 0);
      }
    } else {
      for (let ch = 0; ch < HDMA_V0_MAX_NR_CH; ch++) {
        for (const kind of [0, 1]) {
          const base = HDMA_V0.chStride * ch + kind * HDMA_V0.rdOffset;
          this.setEffect(base + HDMA_V0_CH.doorbell, EFFECT_DOORBELL_HDMA, kind * 8 + ch);
          this.setEffect(base + HDMA_V0_CH.intClear, EFFECT_W1C, base + HDMA_V0_CH.intStat);
          this.setEffect(base + HDMA_V0_CH.intStat, EFFECT_READ_ONLY, 0);
          this.setEffect(base + HDMA_V0_CH.chStat, EFFECT_READ_ONLY, 0);
        }
      }
    }
  }

  private setEffect(offset: number, effect: number, target: number): void {
    this.effect[offset >> 2] = effect;
    this.target[offset >> 2] = target;
  }

  private index(offset: number): number {
    if (!Number.isInteger(offset) || offset < 0 || offset + 4 > this.windowBytes || (offset & 3) !== 0) {
      throw new EpdmaError('EINVAL', `register access at ${hex(offset)}: outside the ${hex(this.windowBytes)}-byte window or not 32-bit aligned`);
    }
    return offset >> 2;
  }

  /** CPU read (32-bit). Doorbell and int_clear never store, so they read as 0. */
  read32(offset: number): number {
    return Atomics.load(this.words, this.index(offset)) >>> 0;
  }

  /** CPU write (32-bit) with the register's side effect. */
  write32(offset: number, value: number): void {
    const i = this.index(offset);
    const v = value | 0;
    switch (this.effect[i]) {
      case EFFECT_STORE:
        // A store of the value the register holds changes nothing: skip the locked store (the
        // driver rewrites enable, control1 and LLP with the same values on every descriptor).
        if (Atomics.load(this.words, i) !== v) Atomics.store(this.words, i, v);
        return;
      case EFFECT_W1C:
        Atomics.and(this.words, this.target[i]! >> 2, ~v);
        return;
      case EFFECT_READ_ONLY:
        return;
      case EFFECT_DOORBELL_V0: {
        const kind = this.target[i]!;
        const bit = 1 << (v & EDMA_V0_DOORBELL.CH_MASK);
        Atomics.or(this.shadow, ((v & EDMA_V0_DOORBELL.STOP) !== 0 ? SH_STOP : SH_DOORBELL) + kind, bit);
        this.wakeEngine();
        return;
      }
      case EFFECT_DOORBELL_HDMA: {
        if ((v & HDMA_V0_BITS.DOORBELL_START) === 0) return;
        const t = this.target[i]!;
        Atomics.or(this.shadow, SH_DOORBELL + (t >> 3), 1 << (t & 7));
        this.wakeEngine();
        return;
      }
      default:
        return;
    }
  }

  /**
   * Read-modify-write of a plain register under the driver's lock (dw->lock in the kernel).
   * Channel workers of one direction share int_mask and linked_list_err_en on eDMA v0, so
   * the RMW must be atomic across threads and processes.
   */
  setBits(offset: number, bits: number): void {
    const i = this.index(offset);
    // Bits already in place: nothing to write, and no locked RMW on a word every channel of the
    // direction shares (interrupt routing runs at every descriptor's first chunk).
    if ((Atomics.load(this.words, i) & bits) !== (bits | 0)) Atomics.or(this.words, i, bits | 0);
  }
  clearBits(offset: number, bits: number): void {
    const i = this.index(offset);
    if ((Atomics.load(this.words, i) & bits) !== 0) Atomics.and(this.words, i, ~bits);
  }

  private wakeEngine(): void {
    // The word only wakes an engine worker; a channel that steps its own engine needs none.
    if (!this.wakesWaiters) return;
    Atomics.add(this.shadow, SH_ENGINE_WAKE, 1);
    Atomics.notify(this.shadow, SH_ENGINE_WAKE);
    this.crossProcessNotify?.(this.shadow, SH_ENGINE_WAKE);
  }

  // ---- hardware side: the engine's own accesses, no CPU side effects ----

  hwLoad(offset: number): number {
    return Atomics.load(this.words, offset >> 2) >>> 0;
  }
  hwStore(offset: number, value: number): void {
    Atomics.store(this.words, offset >> 2, value | 0);
  }
  hwOr(offset: number, bits: number): void {
    Atomics.or(this.words, offset >> 2, bits | 0);
  }
  hwAnd(offset: number, bits: number): void {
    Atomics.and(this.words, offset >> 2, bits | 0);
  }

  /** Consumes a latched doorbell start for the channel; true if one was pending. */
  takeDoorbell(kind: ChannelKind, ch: number): boolean {
    return this.take(SH_DOORBELL + kindIndex(kind), 1 << ch);
  }
  takeStop(kind: ChannelKind, ch: number): boolean {
    return this.take(SH_STOP + kindIndex(kind), 1 << ch);
  }

  /**
   * Clears `bit` of a latch word, true if it was set. Only this channel clears its bit, so a
   * load that sees it clear needs no read-modify-write (the engine looks at its stop latch on
   * every step; a locked RMW on a word every channel shares costs far more than a load).
   */
  private take(index: number, bit: number): boolean {
    if ((Atomics.load(this.shadow, index) & bit) === 0) return false;
    return (Atomics.and(this.shadow, index, ~bit) & bit) !== 0;
  }
  /** True if a start is latched and not yet taken (does not consume it). */
  doorbellPending(kind: ChannelKind, ch: number): boolean {
    return (Atomics.load(this.shadow, SH_DOORBELL + kindIndex(kind)) & (1 << ch)) !== 0;
  }

  /** The engine-wake counter and its index in `shadowWords`, for Atomics.wait / futex. */
  get shadowWords(): Int32Array {
    return this.shadow;
  }
  static readonly ENGINE_WAKE_INDEX = SH_ENGINE_WAKE;
  static irqIndex(kind: ChannelKind, ch: number): number {
    return SH_IRQ + kindIndex(kind) * 8 + ch;
  }

  /** An interrupt was raised for the channel: bump its sequence and wake whoever waits. */
  signalIrq(kind: ChannelKind, ch: number): void {
    const i = MmioRegisterFile.irqIndex(kind, ch);
    Atomics.add(this.shadow, i, 1);
    if (!this.wakesWaiters) return;
    Atomics.notify(this.shadow, i);
    this.crossProcessNotify?.(this.shadow, i);
  }
  recordFault(kind: ChannelKind, ch: number, code: number, addr: number): void {
    const i = SH_FAULT + (kindIndex(kind) * 8 + ch) * 4;
    Atomics.store(this.shadow, i + 1, lower32(addr));
    Atomics.store(this.shadow, i + 2, upper32(addr));
    Atomics.store(this.shadow, i, code);
  }
  /** The last fault of the channel: `code` 0 means none (see `EngineFault`). */
  lastFault(kind: ChannelKind, ch: number): { code: number; addr: number } {
    const i = SH_FAULT + (kindIndex(kind) * 8 + ch) * 4;
    return { code: Atomics.load(this.shadow, i), addr: join64(Atomics.load(this.shadow, i + 2), Atomics.load(this.shadow, i + 1)) };
  }
  lastFaultCode(kind: ChannelKind, ch: number): number {
    return Atomics.load(this.shadow, SH_FAULT + (kindIndex(kind) * 8 + ch) * 4);
  }
  irqSeq(kind: ChannelKind, ch: number): number {
    return Atomics.load(this.shadow, MmioRegisterFile.irqIndex(kind, ch));
  }
}
