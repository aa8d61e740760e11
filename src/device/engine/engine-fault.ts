/**
 * Why an engine aborted a channel. Stored in the register block's fault log so the driver
 * (in any thread or process) can name the reason in the completion.
 */
export const EngineFault = {
  NONE: 0,
  SOURCE_UNMAPPED: 1,
  DESTINATION_UNMAPPED: 2,
  LL_OUTSIDE_REGION: 3,
  CHANNEL_DISABLED: 4,
  STOPPED: 5,
  LL_LOOP: 6,
} as const;

const TEXT: Record<number, string> = {
  [EngineFault.SOURCE_UNMAPPED]: 'source address not mapped',
  [EngineFault.DESTINATION_UNMAPPED]: 'destination address not mapped',
  [EngineFault.LL_OUTSIDE_REGION]: 'linked-list element outside the LL region',
  [EngineFault.CHANNEL_DISABLED]: 'DMA engine or channel disabled',
  [EngineFault.STOPPED]: 'channel stopped by doorbell',
  [EngineFault.LL_LOOP]: 'linked list loops without a data element',
};

export function engineFaultText(code: number): string {
  return TEXT[code] ?? `unknown fault ${code}`;
}
