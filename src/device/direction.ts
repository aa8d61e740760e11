/**
 * A DMA transfer's direction as DMAengine names it, seen from the side that drives the
 * channel: 'mem-to-dev' moves this side's memory to the other side, 'dev-to-mem' the reverse.
 * Channel kinds keep the endpoint's naming (write: EP -> host, read: host -> EP), so the same
 * kind has opposite directions on the two sides (see channelDirection).
 */
export type Direction = 'mem-to-dev' | 'dev-to-mem';
