import type { HeaderLayout, MapFormatName } from './metadata-format.js';

/**
 * One BAR window as the metadata describes it: the BAR, the BAR-local byte offset, the size in
 * bytes, and the EP-local DMA address the engine uses for the same memory. Offsets and addresses
 * are JS numbers: the format carries 64-bit lo/hi halves, combined as hi * 2**32 + lo, and the
 * parser refuses values of 2**53 and above instead of rounding them.
 */
export interface MetadataWindow {
  bar: number;
  offset: number;
  size: number;
  addr: number;
}

export interface ChannelEntry {
  /** Must equal the entry's index in its table (rev 1 consumers require dense 0-based order). */
  hwChannel: number;
  /** The channel's linked-list (descriptor) window. */
  desc: { bar: number; offset: number; size: number; addr: number };
  /** Present iff the entry's A bit (aux window valid) is set. */
  aux?: { bar: number; offset: number; size: number; addr: number };
}

/** The decoded metadata blob (API.md "Metadata BAR codec"). */
export interface MetadataLayout {
  revision: number;
  /** Total blob length in bytes (the 16-bit length field), not the BAR size. */
  length: number;
  regBar: number;
  regOffset: number;
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

export type { HeaderLayout, MapFormatName };
