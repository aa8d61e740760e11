/**
 * Entry point of one channel actor's worker thread: the channel's driver half (dw-edma core
 * + per-layout ops) and, in-process, its engine, in one polling loop.
 *
 * The loop runs in slices: it polls rings, engine and status registers without returning to
 * the event loop while there is work, and yields (setImmediate) when the main thread posted
 * a control request, after a slice of ~2 ms, or after an idle sleep, so comlink requests are
 * served without a message per transfer on the data path.
 *
 * In a testbed the workers share the cores through a CoreBudget: a worker runs only while it
 * holds one of cores - 1 cores, gives it up when it runs out of work or, at the end of its
 * turn (TURN_MS from taking it), to a worker waiting for one; the main thread keeps the last
 * core.
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
import { CoreBudget, TURN_MS } from '../protocol/core-budget.js';
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
const cores = data.coreBudget === undefined ? null : new CoreBudget(data.coreBudget.buffer, data.coreBudget.slot, data.coreBudget.cap);
let idle = new IdleBackoff({ ...data.idle, budget: cores });

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

// This loop steps the channel's engine and polls its status itself: nobody sleeps on the words.
if (engine !== null) file.wakesWaiters = false;

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

/**
 * The control counter as read before the worker's last event-loop turn. The main thread bumps
 * it after posting a request, so every request counted here was on the worker's port for that
 * turn; one counted after it makes the loop yield again. (Read at the start of the next slice
 * instead, it could count a request that arrived after the turn, and the worker would park on
 * its kick word with the message unread.)
 */
let seenControl = control.controlSeq();
let crashRequest: string | null = null;
const recheck = (): boolean => core.hasWork() || control.controlSeq() !== seenControl || (engine !== null && engine.wantsStep) || control.exitRequested();

/**
 * Control calls that wait for the loop to reach a state (a requested pause took effect, a
 * terminate was carried out). The loop changes that state itself, so it settles them where
 * it does, and returns to the event loop so the answer goes out; nothing polls on a timer.
 */
interface LoopWaiter {
  readonly reached: () => boolean;
  readonly resolve: () => void;
}
const waiters: LoopWaiter[] = [];

function until(reached: () => boolean): Promise<void> {
  if (reached() || control.exitRequested()) return Promise.resolve();
  return new Promise((resolve) => {
    waiters.push({ reached, resolve });
  });
}

/** Resolves the waiters whose state was reached (all of them on exit); true if any was. */
function settleWaiters(): boolean {
  const exiting = control.exitRequested();
  let settled = false;
  for (let i = waiters.length - 1; i >= 0; i--) {
    const w = waiters[i]!;
    if (!exiting && !w.reached()) continue;
    waiters.splice(i, 1);
    w.resolve();
    settled = true;
  }
  return settled;
}

/**
 * Empty polls a worker keeps its core while the main thread owes it a refill (~50-100 us): with
 * 8 channels on 2 cores, workers ran dry ~200 times a second each, handing the core off each
 * time, because the main thread drained ~80 us after a publish.
 */
const HOLD_DRY_POLLS = 1000;
let heldDry = 0;

/** Waiting for a core of the CoreBudget (the worker has work, but cap workers run). */
const coreWait = cores === null ? null : new Backoff(cores.waitPolicy);
/** The worker gave its core to a waiter: its next wait does not take it straight back. */
let yielded = false;
/** When the worker's turn on the core it holds ends (TURN_MS after it took the core). */
let turnEnd = 0;
/**
 * The worker ran dry and gave its core up while others waited: it waits for a turn like a
 * worker with work (see CoreBudget). The main thread refills its ring meanwhile, and its kick
 * then finds no worker asleep to wake only to wait for a core.
 */
let queued = false;
/** This turn moved something; a turn taken in the queue that finds the ring still empty parks on the kick word. */
let workedThisTurn = false;
const takeCore = (): boolean => {
  if (yielded || !cores!.tryRun()) return false;
  turnEnd = performance.now() + TURN_MS;
  queued = false;
  workedThisTurn = false;
  return true;
};

function loop(): void {
  const deadline = performance.now() + SLICE_MS;
  let n = 0;
  for (;;) {
    if (crashRequest !== null) throw new Error(crashRequest);
    if (control.exitRequested()) {
      cores?.release();
      core.flush();
      settleWaiters();
      return;
    }
    if (cores !== null && !cores.running && (queued || core.hasWork() || (engine !== null && engine.wantsStep)) && !takeCore()) {
      const r = coreWait!.idle(cores, takeCore);
      yielded = false;
      if (r === IDLE_TIMED_OUT) break;
    } else {
      let did = false;
      if (engine !== null && engine.wantsStep) {
        engine.step();
        did = true;
      }
      if (core.poll()) did = true;
      // Publish once the main thread has as much to refill as the ring still holds, so it
      // resubmits while this worker copies the rest instead of after the ring ran dry (and
      // before a park, and at least every PUBLISH_BATCH records).
      const unpublished = core.unpublished();
      if (unpublished > 0 && (!did || unpublished >= PUBLISH_BATCH || unpublished >= submissions.available())) core.flush();
      if (waiters.length > 0 && settleWaiters()) break;
      if (did) {
        workedThisTurn = true;
        idle.onWork();
        hardware.onWork();
        heldDry = 0;
      } else if (cores !== null && cores.running && heldDry < HOLD_DRY_POLLS && completions.undrained() > 0) {
        // Out of work, but the main thread has this channel's records to drain and refills
        // the ring from them: keep the core a while. Giving it up costs a handoff (a waiter's
        // wake, and this worker's kick and core wait later), more than the refill takes.
        heldDry++;
      } else if (!core.waitingForHardware) {
        heldDry = 0;
        if (cores !== null && cores.running && workedThisTurn && cores.othersWaiting()) {
          // The waiter this wakes takes the core; this worker queues behind it.
          cores.release();
          queued = true;
          yielded = true;
        } else {
          cores?.release();
          yielded = false;
          // A kick means work: go on without an event-loop turn (a control request shows up in
          // controlSeq below). After a timeout, yield so the worker's event loop runs.
          if (idle.onIdle(kick, recheck) === IDLE_TIMED_OUT) break;
        }
      } else if (crossProcess) {
        hardware.idle(irqWord, statusRaised);
      }
    }
    if (control.controlSeq() !== seenControl) break;
    if ((++n & 63) === 0) {
      const now = performance.now();
      // The turn is over: the channels waiting for a core take theirs. (It counts from when
      // the core was taken, not from this slice: a worker that waited for the core inside this
      // slice would otherwise give it up after 64 polls.)
      if (cores !== null && cores.running && now > turnEnd && cores.othersWaiting()) {
        cores.yieldToWaiter();
        yielded = true;
        break;
      }
      if (now > deadline) break;
    }
  }
  core.flush();
  seenControl = control.controlSeq();
  setImmediate(loop);
}

const pauseSettled = (): boolean => !core.pausePending;
const terminateDone = (): boolean => control.terminatePending() === TERMINATE_NONE;

const api: ChannelWorkerControl = {
  waitPaused: async () => {
    await until(pauseSettled);
    return core.paused;
  },
  terminate: async () => {
    await until(terminateDone);
    core.flush();
  },
  quiesce: (ownsDirection) => ops.quiesce(ownsDirection),
  stats: (): ChannelWorkerStats => ({
    name: data.name,
    generation: data.generation,
    ...core.counters,
    idleWakeups: idle.wakeups,
    idleTimeouts: idle.timeouts,
    crowdedParks: idle.crowdedParks,
    coreWaits: cores?.waits ?? 0,
    coreYields: cores?.yields ?? 0,
    coreOverruns: cores?.overruns ?? 0,
    engine: engine === null ? null : { ...engine.counters },
  }),
  registerDump: () => ops.dump(),
  configure: (cfg) => {
    if (cfg.policy !== 'adaptive' && cfg.policy !== 'spin' && cfg.policy !== 'sleep') {
      throw new EpdmaError('EINVAL', `idle policy '${String(cfg.policy)}' is not adaptive, spin or sleep`);
    }
    idle = new IdleBackoff({ ...data.idle, policy: cfg.policy, budget: cores });
  },
  crash: (message) => {
    crashRequest = message;
  },
};

exposeControl(api);
setImmediate(loop);
