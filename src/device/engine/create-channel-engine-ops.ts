import type { ChannelRegisterSet } from '../regs/channel-registers.js';
import type { MmioRegisterFile } from '../regs/register-file.js';
import type { ChannelEngineOps } from './channel-engine-ops.js';
import { EdmaV0EngineOps } from './edma-v0-engine-ops.js';
import { HdmaEngineOps } from './hdma-engine-ops.js';

/** Picks the channel's hardware layout once, from its map format: the only place on the engine side that looks at the register family. */
export function createChannelEngineOps(file: MmioRegisterFile, regs: ChannelRegisterSet): ChannelEngineOps {
  return regs.family === 'v0' ? new EdmaV0EngineOps(file, regs) : new HdmaEngineOps(file, regs);
}
