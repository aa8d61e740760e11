import { EpdmaError } from '../../device/errors.js';
import type { AddressSpace } from '../../device/bus/address-space.js';
import { BarAperture, type InboundWindow } from '../../device/bus/bar-aperture.js';
import { checkBarIndex, PCI_STD_NUM_BARS } from '../../device/epc/epc-features.js';
import { join64, lower32, upper32 } from '../../device/wordpart.js';
import { MIRROR_WORD_BASE } from './shm-layout.js';

/**
 * The endpoint's inbound windows (iATU) as the host process sees them. BAR windows change at
 * runtime (pci-epf-dma programs the DMA window submaps only after H, a link down drops them),
 * so the endpoint process publishes every change into control.mem and the host's apertures
 * translate through the latest published table.
 *
 * Per BAR a block of 128 Int32 words: a seqlock word (even = stable, odd = being written), the
 * window count, then up to 16 windows of six words (barOffset, size, localAddr, each as lo/hi
 * 32-bit halves). Every word is accessed with Atomics, so a reader never sees a torn value;
 * the seqlock makes the table consistent as a whole. (The design note said f64 per field;
 * 32-bit halves keep every access atomic.)
 */
const BAR_WORDS = 128;
const SEQ = 0;
const COUNT = 1;
const FIRST = 2;
const WINDOW_WORDS = 6;
export const MIRROR_MAX_WINDOWS = 16;
/** A writer that died mid-update leaves the seq odd: give up after this many tries. */
const READ_RETRIES = 10_000;

export class IatuMirror {
  private readonly words: Int32Array;
  private readonly cacheSeq = new Array<number>(PCI_STD_NUM_BARS).fill(-1);
  private readonly cache: (readonly InboundWindow[])[] = new Array<readonly InboundWindow[]>(PCI_STD_NUM_BARS).fill([]);

  constructor(control: Int32Array) {
    if (control.length < MIRROR_WORD_BASE + PCI_STD_NUM_BARS * BAR_WORDS) {
      throw new EpdmaError('EINVAL', `iATU mirror: control block of ${control.length * 4} bytes is too small for ${PCI_STD_NUM_BARS} BAR tables`);
    }
    this.words = control;
  }

  private base(bar: number): number {
    checkBarIndex(bar, 'iATU mirror');
    return MIRROR_WORD_BASE + bar * BAR_WORDS;
  }

  /** Endpoint side: publishes the windows now in force for `bar`. */
  write(bar: number, windows: readonly InboundWindow[]): void {
    if (windows.length > MIRROR_MAX_WINDOWS) {
      throw new EpdmaError('EINVAL', `iATU mirror: BAR${bar} has ${windows.length} windows, the mirror holds ${MIRROR_MAX_WINDOWS}`);
    }
    const w = this.words;
    const b = this.base(bar);
    Atomics.add(w, b + SEQ, 1); // odd: being written
    Atomics.store(w, b + COUNT, windows.length);
    windows.forEach((win, k) => {
      const at = b + FIRST + k * WINDOW_WORDS;
      storeU53(w, at, win.barOffset);
      storeU53(w, at + 2, win.size);
      storeU53(w, at + 4, win.localAddr);
    });
    Atomics.add(w, b + SEQ, 1); // even again: stable
  }

  /** Host side: the windows last published for `bar` (cached while nothing changed). */
  read(bar: number): readonly InboundWindow[] {
    const w = this.words;
    const b = this.base(bar);
    for (let tries = 0; tries < READ_RETRIES; tries++) {
      const s1 = Atomics.load(w, b + SEQ);
      if ((s1 & 1) !== 0) continue;
      if (s1 === this.cacheSeq[bar]) return this.cache[bar]!;
      const count = Math.min(Atomics.load(w, b + COUNT), MIRROR_MAX_WINDOWS);
      const out: InboundWindow[] = [];
      for (let k = 0; k < count; k++) {
        const at = b + FIRST + k * WINDOW_WORDS;
        out.push({ barOffset: loadU53(w, at), size: loadU53(w, at + 2), localAddr: loadU53(w, at + 4) });
      }
      if (Atomics.load(w, b + SEQ) !== s1) continue;
      this.cacheSeq[bar] = s1;
      this.cache[bar] = out;
      return out;
    }
    return []; // the writer died mid-update: nothing is reliably mapped
  }
}

function storeU53(w: Int32Array, at: number, value: number): void {
  Atomics.store(w, at, lower32(value));
  Atomics.store(w, at + 1, upper32(value));
}

function loadU53(w: Int32Array, at: number): number {
  return join64(Atomics.load(w, at + 1), Atomics.load(w, at));
}

/**
 * A BAR of an endpoint in another process: same size and bus address as the endpoint
 * published, translated by the mirrored iATU into the host process's rebuild of the EP-local
 * address space (the mapped files). The host never programs it; the endpoint does.
 */
export class MirroredBarAperture extends BarAperture {
  private readonly mirror: IatuMirror;

  constructor(index: number, size: number, local: AddressSpace, mirror: IatuMirror, busAddr: number) {
    super(index, size, local);
    this.mirror = mirror;
    this.busAddr = busAddr;
  }

  protected override currentWindows(): readonly InboundWindow[] {
    return this.mirror.read(this.index);
  }

  override program(): void {
    throw new EpdmaError('EPERM', `BAR${this.index}: the inbound windows belong to the endpoint process; the host only mirrors them`);
  }

  override unprogram(): void {
    throw new EpdmaError('EPERM', `BAR${this.index}: the inbound windows belong to the endpoint process; the host only mirrors them`);
  }
}
