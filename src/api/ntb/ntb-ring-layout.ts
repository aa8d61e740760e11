import { EpdmaError, hex } from '../../device/errors.js';

/**
 * One queue's receive ring as ntb_transport lays it out (reference 8.3): `maxEntry` frames of
 * `maxFrame` bytes; payload from a frame's start, the 12-byte `struct ntb_payload_header
 * { u32 ver; u32 len; u32 flags; }` in its LAST 12 bytes; after the frames the 4-byte
 * `struct ntb_rx_info { u32 entry; }`. The ring lives in the receiver's memory; the producer
 * writes payload (DMA or CPU) and headers (CPU) into it, and the consumer publishes how far it
 * has consumed into the rx_info word at the tail of the PRODUCER's receive ring of the same
 * queue (both directions share one geometry).
 *
 * All words are little-endian u32 accessed through an Int32Array over the shared memory, so
 * the flags word can be published with Atomics.store after len/ver (a release store: a reader
 * that sees DESC_DONE sees the payload and the rest of the header).
 */

export const NTB_HEADER_BYTES = 12;
export const NTB_RX_INFO_BYTES = 4;
/** The producer finished the frame (payload and header are valid). */
export const DESC_DONE_FLAG = 1 << 0;
/** A zero-length control frame: the producer's queue is going down (ntb_send_link_down). */
export const LINK_DOWN_FLAG = 1 << 1;

const HDR_VER = 0;
const HDR_LEN = 1;
const HDR_FLAGS = 2;

export interface NtbHeader {
  ver: number;
  len: number;
  flags: number;
}

export class NtbRing {
  /** The ring and its rx_info word, as a view of the shared memory that holds them. */
  readonly bytes: Uint8Array;
  readonly maxFrame: number;
  readonly maxEntry: number;
  private readonly words: Int32Array;
  private readonly rxInfoWord: number;

  constructor(bytes: Uint8Array, maxFrame: number, maxEntry: number) {
    if (bytes.byteOffset % 4 !== 0) throw new EpdmaError('EINVAL', `ntb ring: byteOffset ${hex(bytes.byteOffset)} is not 4-byte aligned`);
    if (!Number.isSafeInteger(maxFrame) || maxFrame % 4 !== 0 || maxFrame <= NTB_HEADER_BYTES) {
      throw new EpdmaError('EINVAL', `ntb ring: frame size ${maxFrame} must be a multiple of 4 above ${NTB_HEADER_BYTES}`);
    }
    if (!Number.isSafeInteger(maxEntry) || maxEntry < 2) throw new EpdmaError('EINVAL', `ntb ring: ${maxEntry} entries (at least 2)`);
    if (maxFrame * maxEntry + NTB_RX_INFO_BYTES > bytes.length) {
      throw new EpdmaError('EINVAL', `ntb ring: ${maxEntry} x ${hex(maxFrame)} frames + rx_info exceed the region of ${hex(bytes.length)} bytes`);
    }
    this.bytes = bytes;
    this.maxFrame = maxFrame;
    this.maxEntry = maxEntry;
    this.words = new Int32Array(bytes.buffer, bytes.byteOffset, bytes.length >>> 2);
    this.rxInfoWord = (maxFrame * maxEntry) >>> 2;
  }

  /** Largest payload a frame carries (ntb_transport_max_size without DMA alignment). */
  get maxPayload(): number {
    return this.maxFrame - NTB_HEADER_BYTES;
  }

  frameOffset(index: number): number {
    return index * this.maxFrame;
  }

  private headerWord(index: number): number {
    return ((index + 1) * this.maxFrame - NTB_HEADER_BYTES) >>> 2;
  }

  /** The flags word, loaded with acquire semantics before the rest of the header is read. */
  flags(index: number): number {
    return Atomics.load(this.words, this.headerWord(index) + HDR_FLAGS) >>> 0;
  }

  ver(index: number): number {
    return this.words[this.headerWord(index) + HDR_VER]! >>> 0;
  }

  len(index: number): number {
    return this.words[this.headerWord(index) + HDR_LEN]! >>> 0;
  }

  readHeader(index: number): NtbHeader {
    const flags = this.flags(index);
    return { ver: this.ver(index), len: this.len(index), flags };
  }

  /** Producer side: len and ver first, flags last, so DESC_DONE publishes the whole frame. */
  writeHeader(index: number, ver: number, len: number, flags: number): void {
    const w = this.headerWord(index);
    this.words[w + HDR_VER] = ver | 0;
    this.words[w + HDR_LEN] = len | 0;
    Atomics.store(this.words, w + HDR_FLAGS, flags | 0);
  }

  /** Consumer side: the slot is free again (ntb clears hdr->flags before publishing the index). */
  clearFlags(index: number): void {
    Atomics.store(this.words, this.headerWord(index) + HDR_FLAGS, 0);
  }

  /** Zeroes every header (ntb_transport_setup_qp_mw does this for a fresh ring). */
  clearHeaders(): void {
    for (let i = 0; i < this.maxEntry; i++) {
      const w = this.headerWord(i);
      this.words[w + HDR_VER] = 0;
      this.words[w + HDR_LEN] = 0;
      Atomics.store(this.words, w + HDR_FLAGS, 0);
    }
  }

  /** A view of a frame's payload bytes. */
  payload(index: number, len: number): Uint8Array {
    const off = this.frameOffset(index);
    return this.bytes.subarray(off, off + len);
  }

  readRxInfo(): number {
    return Atomics.load(this.words, this.rxInfoWord) >>> 0;
  }

  writeRxInfo(entry: number): void {
    Atomics.store(this.words, this.rxInfoWord, entry | 0);
  }
}

/** Ring successor of an index (tx_index / rx_index advance modulo the entry count). */
export function nextIndex(index: number, entries: number): number {
  return index + 1 === entries ? 0 : index + 1;
}

/**
 * ntb_transport's full rule: the producer may not fill the slot the consumer last reported as
 * consumed, so at most `entries - 1` frames are outstanding and full is distinguishable from
 * empty without a shared count.
 */
export function txRingFull(txIndex: number, remoteEntry: number): boolean {
  return txIndex === remoteEntry;
}

/** Frames outstanding between the producer's index and the consumer's published one. */
export function framesOutstanding(txIndex: number, remoteEntry: number, entries: number): number {
  return (txIndex - remoteEntry - 1 + entries) % entries;
}

/** The rx_info value of a fresh ring: "everything consumed up to the last slot". */
export function initialRemoteEntry(entries: number): number {
  return entries - 1;
}
