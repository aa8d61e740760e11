import type { ChannelKind } from './regs/channel-registers.js';

/**
 * A DMA transfer's direction as DMAengine names it, seen from the side that drives the
 * channel: 'mem-to-dev' moves this side's memory to the other side, 'dev-to-mem' the reverse.
 * Channel kinds keep the endpoint's naming (write: EP -> host, read: host -> EP), so the same
 * kind has opposite directions on the two sides (see channelDirection).
 */
export type Direction = 'mem-to-dev' | 'dev-to-mem';

/** Every Direction, for validating one that came from outside. */
export const DIRECTIONS: readonly Direction[] = ['mem-to-dev', 'dev-to-mem'];

/** The side whose dw-edma instance drives a channel: the EP's local one or the host's remote one. */
export type ChannelSide = 'endpoint' | 'host';

/** The kinds in the order dw-edma sets channels up: every write channel, then every read one. */
export const CHANNEL_KINDS: readonly ChannelKind[] = ['write', 'read'];

/**
 * 'wr' / 'rd': a kind as dw-edma abbreviates it (wr_ch_cnt, the configfs wr_chans/rd_chans), and
 * so in channel names and the CLI's --wr-chans/--rd-chans.
 */
export function kindAbbreviation(kind: ChannelKind): 'wr' | 'rd' {
  return kind === 'write' ? 'wr' : 'rd';
}

/** A channel's name on its side, e.g. 'endpoint/wr2', 'host/rd0'. */
export function channelName(side: ChannelSide, kind: ChannelKind, hwChannel: number): string {
  return `${side}/${kindAbbreviation(kind)}${hwChannel}`;
}

/**
 * Reference 6.6: on the EP's local instance a write channel is MEM_TO_DEV (EP memory is the
 * source) and a read channel DEV_TO_MEM; the host's remote instance sees each the other way
 * round (a write channel's source is the device, a read channel's is host memory).
 */
export function channelDirection(side: ChannelSide, kind: ChannelKind): Direction {
  return (side === 'endpoint') === (kind === 'write') ? 'mem-to-dev' : 'dev-to-mem';
}

/** The inverse of channelDirection: the kind of channel that moves data in `direction` on `side`. */
export function channelKindFor(side: ChannelSide, direction: Direction): ChannelKind {
  return (side === 'endpoint') === (direction === 'mem-to-dev') ? 'write' : 'read';
}

/** What names a channel (the fields of the API's ChannelInfo). */
export interface ChannelIdentity {
  readonly side: ChannelSide;
  readonly kind: ChannelKind;
  readonly hwChannel: number;
  readonly direction: Direction;
  readonly name: string;
}

export function channelIdentity(side: ChannelSide, kind: ChannelKind, hwChannel: number): ChannelIdentity {
  return { side, kind, hwChannel, direction: channelDirection(side, kind), name: channelName(side, kind, hwChannel) };
}
