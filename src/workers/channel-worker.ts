/**
 * Entry point of one channel actor's worker thread: the channel's driver half (dw-edma core
 * + per-layout ops) and, in-process, its engine, in one polling loop.
 *
 * The loop runs in slices: it polls rings, engine and status registers without returning to
 * the event loop while there is work, and yields (setImmediate) when the main thread posted
 * a control request, after a slice of ~2 ms, or after an idle sleep, so comlink requests are
 * served without a message per transfer on the data path.
 */
import { workerData } from 'node:worker_threads';
import { AddressSpace } from '../device/bus/address-space.js';
import { ChannelEngine } from '../device/engine/channel-engine.js';
import { IommuTable } from '../device/bus/iommu-table.js';
import { channelRegisters } from '../device/regs/channel-registers.js';
import { MmioRegisterFile } from '../device/regs/register-file.js';
import { EpdmaError } from '../device/errors.js';
import { exposeControl } from '../protocol/control-plane.js';
import { crossProcessWait, crossProcessWake } from '../native/native-addon.js';
import { ChannelControlBlock, TERMINATE_NONE } from '../protocol/channel-control-block.js';
import type { ChannelWorkerControl, ChannelWorkerData, ChannelWorkerStats } from '../protocol/channel-worker-data.js';
import { ChannelCore } from '../dw-edma/channel-core.js';
import { STATUS_ABORT, STATUS_DONE, STATUS_NONE } from '../dw-edma/channel-ops.js';
import { createChannelOps } from '../dw-edma/create-channel-ops.js';
import { CompletionDoorbell } from '../protocol/completion-doorbell.js';
import { CompletionRing } from '../protocol/completion-ring.js';
import { Backoff, BACKOFF, SequenceWord } from '../protocol/backoff.js';
import { IDLE_TIMED_OUT, IdleBackoff, KickWord } from '../protocol/kick-word.js';
import { SubmissionRing } from '../protocol/submission-ring.js';
import { TraceRing } from '../protocol/trace-ring.js';
import { loadNativeAddon } from '../native/native-addon.js';

const data = workerData as ChannelWorkerData;
const SLICE_MS = 2;
const PUBLISH_BATCH = 64;

const file = new MmioRegisterFile(data.registers, data.mapFormat);
const regs = channelRegisters(data.mapFormat, data.kind, data.hwChannel);
const ops = createChannelOps(file, regs, data.ll, { remote: data.remote, funcNo: data.funcNo });
ops.configure();
const control = new ChannelControlBlock(data.control);
const kick = new KickWord(data.kick);
const doorbell = new CompletionDoorbell(data.doorbell);
const submissions = new SubmissionRing(data.submissions);
const completions = new CompletionRing(data.completions);
let idle = new IdleBackoff(data.idle);

const crossProcess = data.crossProcess === true && data.engine === null;
if (crossProcess) {
  // The main thread loaded the addon first; this thread reaches the same decision.
  if (loadNativeAddon() === null) throw new EpdmaError('EOPNOTSUPP', `${data.name}: cross-process channel without the native addon`);
  file.crossProcessNotify = (view, index) => {
    crossProcessWake(view, index);
  };
}
/**
 * A chunk is on an engine in another process and the status showed nothing: poll a little,
 * then sleep on the channel's interrupt word. The sequence is sampled BEFORE the status is
 * read again, so a DONE raised in between makes the wait return at once.
 */
const hardware = new Backoff(BACKOFF.remoteHardware);
const irqWord = new SequenceWord(file.shadowWords, MmioRegisterFile.irqIndex(data.kind, data.hwChannel), crossProcessWait);
const statusRaised = (): boolean => ops.status() !== STATUS_NONE;

/**
 * Native memcpy beats copyWithin/set on SharedArrayBuffers from 16 KiB on (measured on this
 * project's 2-core machine: ~12-14 GB/s vs ~30-36 GB/s at 16 KiB-4 MiB, and slower at 4 KiB
 * for its call cost; see the native-copy bench).
 */
const NATIVE_COPY_MIN_BYTES = 16 * 1024;
const addon = loadNativeAddon();

const engine = data.engine === null ? null : new ChannelEngine({
  registers: file,
  kind: data.kind,
  ch: data.hwChannel,
  local: AddressSpace.fromDescription(data.engine.local),
  remote: AddressSpace.fromDescription(data.engine.remote),
  llRegion: data.engine.llRegion,
  ...(data.engine.localData !== undefined ? { localData: AddressSpace.fromDescription(data.engine.localData) } : {}),
  ...(data.engine.iommu !== undefined ? { iommu: new IommuTable(data.engine.iommu) } : {}),
  ...(addon !== null ? { bigCopy: addon.copy, bigCopyBytes: NATIVE_COPY_MIN_BYTES } : {}),
  ...(data.engine.linkBytesPerSec !== undefined ? { linkBytesPerSec: data.engine.linkBytesPerSec } : {}),
});

if (data.generation > 0) {
  // A previous worker of this channel died mid-transfer: drop what it left on the hardware.
  // Its in-flight cookie was completed 'aborted' by the supervisor; the queue is intact.
  file.takeDoorbell(data.kind, data.hwChannel);
  file.takeStop(data.kind, data.hwChannel);
  ops.clear(STATUS_DONE);
  ops.clear(STATUS_ABORT);
}

const core = new ChannelCore({
  ops,
  direction: data.direction,
  quirks: data.quirks,
  submissions,
  completions,
  control,
  gate: data.gate,
  lastFault: () => file.lastFault(data.kind, data.hwChannel),
  onPublish: () => doorbell.ring(),
  ...(data.linkDownTimeoutMs !== undefined ? { linkDownTimeoutMs: data.linkDownTimeoutMs } : {}),
  resets: data.resets == null ? null : { view: new Int32Array(data.resets.buffer, data.resets.byteOffset), index: data.resets.index },
  trace: data.trace !== undefined ? new TraceRing(data.trace) : null,
});

// A pending terminate survives in the control block: the first poll finishes it before
// anything runs, so the restarted worker never runs descriptors the client terminated.
if (data.generation > 0) core.recoverAfterCrash();

let seenControl = control.controlSeq();
let crashRequest: string | null = null;
const recheck = (): boolean => core.hasWork() || control.controlSeq() !== seenControl || (engine !== null && engine.wantsStep) || control.exitRequested();

/**
 * Spinning keeps a wakeup off the critical path, but a spinning worker holds a core. With more
 * workers than cores they would take the core the main thread needs to resubmit, so only
 * `max` workers (cores - 1) spin at once; the rest sleep until kicked.
 */
const spinWord = data.spinSlots !== undefined ? new Int32Array(data.spinSlots.buffer, 0, 1) : null;
const spinMax = data.spinSlots?.max ?? 0;
let holdingSpin = false;
function tryTakeSpinSlot(): boolean {
  for (;;) {
    const v = Atomics.load(spinWord!, 0);
    if (v >= spinMax) return false;
    if (Atomics.compareExchange(spinWord!, 0, v, v + 1) === v) return true;
  }
}
function releaseSpinSlot(): void {
  if (holdingSpin) {
    holdingSpin = false;
    Atomics.sub(spinWord!, 0, 1);
  }
}

function loop(): void {
  seenControl = control.controlSeq();
  const deadline = performance.now() + SLICE_MS;
  let n = 0;
  for (;;) {
    if (crashRequest !== null) throw new Error(crashRequest);
    if (control.exitRequested()) {
      releaseSpinSlot();
      core.flush();
      return;
    }
    let did = false;
    if (engine !== null && engine.wantsStep) {
      engine.step();
      did = true;
    }
    if (core.poll()) did = true;
    if (core.unpublished() >= PUBLISH_BATCH || (!did && core.unpublished() > 0)) core.flush();
    if (did) {
      idle.onWork();
      hardware.onWork();
    } else if (!core.waitingForHardware) {
      if (spinWord !== null) {
        if (!holdingSpin && idle.wantsSpin) {
          if (tryTakeSpinSlot()) holdingSpin = true;
          else idle.skipSpin();
        }
        if (holdingSpin && !idle.wantsSpin) releaseSpinSlot();
      }
      const r = idle.onIdle(kick, recheck);
      // A kick means work: go on without an event-loop turn (a control request shows up in
      // controlSeq below). After a timeout, yield so the worker's event loop runs.
      if (r === IDLE_TIMED_OUT) break;
    } else if (crossProcess) {
      hardware.idle(irqWord, statusRaised);
    }
    if (control.controlSeq() !== seenControl) break;
    if ((++n & 63) === 0 && performance.now() > deadline) break;
  }
  releaseSpinSlot();
  core.flush();
  setImmediate(loop);
}

/** Resolves when `done()` holds, checking between loop slices. */
function until(done: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    const check = (): void => {
      if (done() || control.exitRequested()) resolve();
      else setImmediate(check);
    };
    check();
  });
}

const api: ChannelWorkerControl = {
  waitPaused: async () => {
    await until(() => !core.pausePending);
    return core.paused;
  },
  terminate: async () => {
    await until(() => control.terminatePending() === TERMINATE_NONE);
    core.flush();
  },
  quiesce: (ownsDirection) => ops.quiesce(ownsDirection),
  stats: (): ChannelWorkerStats => ({
    name: data.name,
    generation: data.generation,
    ...core.counters,
    idleWakeups: idle.wakeups,
    idleTimeouts: idle.timeouts,
    engine: engine === null ? null : { ...engine.counters },
  }),
  registerDump: () => ops.dump(),
  configure: (cfg) => {
    if (cfg.policy !== 'adaptive' && cfg.policy !== 'spin' && cfg.policy !== 'sleep') {
      throw new EpdmaError('EINVAL', `idle policy '${String(cfg.policy)}' is not adaptive, spin or sleep`);
    }
    idle = new IdleBackoff({ ...data.idle, policy: cfg.policy });
  },
  crash: (message) => {
    crashRequest = message;
  },
};

exposeControl(api);
setImmediate(loop);
