import type { HeaderLayout, MapFormatName } from './metadata-format.js';

/**
 * One BAR window as the metadata describes it: the BAR, the BAR-local byte offset, the size in
 * bytes, and the EP-local DMA address the engine uses for the same memory. Offsets and addresses
 * are bigints: the format carries 64-bit lo/hi halves and the kernel accepts any 64-bit value, so
 * the codec keeps every one exactly (a model that needs numbers converts with toModelNumber).
 */
export interface MetadataWindow {
  bar: number;
  offset: bigint;
  size: number;
  addr: bigint;
}

export interface ChannelEntry {
  /** Must equal the entry's index in its table (rev 1 consumers require dense 0-based order). */
  hwChannel: number;
  /** The channel's linked-list (descriptor) window. */
  desc: { bar: number; offset: bigint; size: number; addr: bigint };
  /** Present iff the entry's A bit (aux window valid) is set. */
  aux?: { bar: number; offset: bigint; size: number; addr: bigint };
}

/** The decoded metadata blob (API.md "Metadata BAR codec"). */
export interface MetadataLayout {
  revision: number;
  /** Total blob length in bytes (the 16-bit length field), not the BAR size. */
  length: number;
  regBar: number;
  /** Register window offset in regBar (64-bit). */
  regOffset: bigint;
  regSize: number;
  layout: 'dw-edma';
  mapFormat: MapFormatName;
  /** H: the host has asked the EP to make the windows usable. */
  hostRequest: boolean;
  /** R: the EP has programmed every window the metadata describes. */
  ready: boolean;
  /** Byte stride of channel entries (>= 0x2c; extra bytes per entry are reserved). */
  entrySize: number;
  /** EP-to-RC ("write") channels, table index == hwChannel. */
  write: ChannelEntry[];
  /** RC-to-EP ("read") channels, table index == hwChannel. */
  read: ChannelEntry[];
  /** Where H lives and where the tables start; absent means 'v4'. */
  headerLayout?: HeaderLayout;
}

;
