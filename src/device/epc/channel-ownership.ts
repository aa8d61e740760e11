import { EpdmaError } from '../errors.js';
import { createChannelEngineOps } from '../engine/create-channel-engine-ops.js';
import { channelRegisters, type ChannelKind } from '../regs/channel-registers.js';
import { CHANNEL_STATUS, EDMA_V0_INT } from '../regs/edma-v0-regs.js';
import { HDMA_V0_BITS } from '../regs/hdma-v0-regs.js';
import { registerFamily } from '../regs/map-format.js';
import type { MmioRegisterFile } from '../regs/register-file.js';

/** Who holds an engine channel of the EP-local dw-edma instance. */
export type ChannelOwner = 'free' | 'local' | 'delegated';

/** One CPU register write a quiesce performed, in order. */
interface RegisterWrite {
  readonly offset: number;
  readonly value: number;
}

/**
 * What `ch_quiesce` did on reclaim (reference 6.7): eDMA v0 can only turn a whole direction
 * off (mask every DONE/ABORT, clear them, engine_en 0); HDMA native quiesces the one channel
 * (int_setup masks, int_clear, ch_en 0).
 */
export interface QuiesceRecord {
  readonly kind: ChannelKind;
  readonly hwChannel: number;
  readonly scope: 'direction' | 'channel';
  readonly writes: readonly RegisterWrite[];
}

/** Every reclaim, with the quiesce flag the function passed. */
export interface ReclaimRecord {
  readonly kind: ChannelKind;
  readonly hwChannel: number;
  readonly funcNo: number;
  readonly quiesce: boolean;
}

/**
 * Ownership of the EP-local instance's channels: the EP-local DMAengine (`local`) or the host
 * through pci-epf-dma (`delegated`). Mirrors dw_edma_request_delegated_chan(): a delegated
 * channel stays allocated on the EP so no EP client can take it, and the EP never drives it.
 */
export class ChannelOwnership {
  private readonly regs: MmioRegisterFile;
  private readonly owners: Record<ChannelKind, ChannelOwner[]>;
  private readonly quiesces: QuiesceRecord[] = [];
  private readonly reclaims: ReclaimRecord[] = [];

  constructor(regs: MmioRegisterFile, writeChannels: number, readChannels: number) {
    this.regs = regs;
    this.owners = {
      write: new Array<ChannelOwner>(writeChannels).fill('free'),
      read: new Array<ChannelOwner>(readChannels).fill('free'),
    };
  }

  count(kind: ChannelKind): number {
    return this.owners[kind].length;
  }

  owner(kind: ChannelKind, hwChannel: number): ChannelOwner {
    const o = this.owners[kind][hwChannel];
    if (o === undefined) throw new EpdmaError('EINVAL', `${kind} channel ${hwChannel} out of range 0..${this.count(kind) - 1}`);
    return o;
  }

  get quiesceLog(): readonly QuiesceRecord[] {
    return this.quiesces;
  }

  get reclaimLog(): readonly ReclaimRecord[] {
    return this.reclaims;
  }

  /** dma_request_channel() by an EP-local client. */
  requestLocal(kind: ChannelKind, hwChannel: number): void {
    const o = this.owner(kind, hwChannel);
    if (o !== 'free') {
      throw new EpdmaError('EBUSY', `${kind} channel ${hwChannel} is ${o === 'delegated' ? 'delegated to the host' : 'already in use by an EP-local client'}`);
    }
    this.owners[kind][hwChannel] = 'local';
  }

  releaseLocal(kind: ChannelKind, hwChannel: number): void {
    if (this.owner(kind, hwChannel) === 'local') this.owners[kind][hwChannel] = 'free';
  }

  /** Delegation requires an unconfigured, idle channel (else EBUSY, like the kernel helper). */
  delegate(kind: ChannelKind, hwChannel: number): void {
    const o = this.owner(kind, hwChannel);
    if (o !== 'free') {
      throw new EpdmaError('EBUSY', `${kind} channel ${hwChannel} cannot be delegated: ${o === 'delegated' ? 'already delegated' : 'in use by an EP-local client'}`);
    }
    if (this.running(kind, hwChannel)) throw new EpdmaError('EBUSY', `${kind} channel ${hwChannel} cannot be delegated: it is running`);
    this.owners[kind][hwChannel] = 'delegated';
  }

  reclaim(kind: ChannelKind, hwChannel: number, funcNo: number, quiesce: boolean): void {
    if (this.owner(kind, hwChannel) !== 'delegated') return;
    if (quiesce) this.quiesce(kind, hwChannel);
    this.owners[kind][hwChannel] = 'free';
    this.reclaims.push({ kind, hwChannel, funcNo, quiesce });
  }

  private running(kind: ChannelKind, hwChannel: number): boolean {
    const r = channelRegisters(this.regs.format, kind, hwChannel);
    return createChannelEngineOps(this.regs, r).channelStatus() === CHANNEL_STATUS.RUNNING;
  }

  private quiesce(kind: ChannelKind, hwChannel: number): void {
    const r = channelRegisters(this.regs.format, kind, hwChannel);
    const writes: RegisterWrite[] = [];
    const w = (offset: number, value: number): void => {
      this.regs.write32(offset, value);
      writes.push({ offset, value: value >>> 0 });
    };
    if (registerFamily(this.regs.format) === 'v0') {
      const all = EDMA_V0_INT.DONE_MASK | EDMA_V0_INT.ABORT_MASK;
      w(r.intMask, all);
      w(r.intClear, all);
      w(r.enable, 0);
      this.quiesces.push({ kind, hwChannel, scope: 'direction', writes });
    } else {
      const masks = HDMA_V0_BITS.STOP_INT_MASK | HDMA_V0_BITS.ABORT_INT_MASK;
      w(r.intSetup, this.regs.read32(r.intSetup) | masks);
      w(r.intClear, HDMA_V0_BITS.STOP | HDMA_V0_BITS.ABORT);
      w(r.enable, 0);
      this.quiesces.push({ kind, hwChannel, scope: 'channel', writes });
    }
  }
}
