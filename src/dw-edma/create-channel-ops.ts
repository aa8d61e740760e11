import type { LlRegion } from '../device/dma-chip.js';
import type { ChannelRegisterSet } from '../device/regs/channel-registers.js';
import type { MmioRegisterFile } from '../device/regs/register-file.js';
import type { ChannelOps, ChannelOpsOptions } from './channel-ops.js';
import { EdmaV0ChannelOps } from './edma-v0-ops.js';
import { HdmaChannelOps } from './hdma-ops.js';

/**
 * Fills the channel's ops table once, from its map format, as dw_edma_probe registers the v0
 * or the HDMA core: the only place on the driver side that looks at the register family.
 */
export function createChannelOps(file: MmioRegisterFile, regs: ChannelRegisterSet, ll: LlRegion, options: ChannelOpsOptions): ChannelOps {
  return regs.family === 'v0' ? new EdmaV0ChannelOps(file, regs, ll, options) : new HdmaChannelOps(file, regs, ll, options);
}
