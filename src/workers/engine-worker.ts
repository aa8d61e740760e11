/**
 * Entry point of the endpoint process's engine worker (two-process mode): the DesignWare
 * engines of the DELEGATED channels, whose drivers run in another process (the host's channel
 * workers). The EP-local channels keep stepping their own engines in their channel workers.
 *
 * Loop: step every engine that wants it; when none did anything, back off (BACKOFF.engineIdle):
 * spin a little, then sample the engine-wake word, re-check, and sleep on it with the addon's
 * futex (a doorbell written by the host process bumps the word and futex-wakes it). DONE/ABORT futex-wake the host's
 * waiting channel worker through the register file's crossProcessNotify.
 *
 * The main thread talks to it only through a small control block (exit, reset requests), so
 * the loop never has to return to the event loop.
 */
import { workerData } from 'node:worker_threads';
import { AddressSpace } from '../device/bus/address-space.js';
import { ChannelEngine } from '../device/engine/channel-engine.js';
import { EpdmaError } from '../device/errors.js';
import { MmioRegisterFile } from '../device/regs/register-file.js';
import { crossProcessWait, crossProcessWake, loadNativeAddon } from '../native/native-addon.js';
import { ENGINE_CTL, type EngineWorkerData } from '../protocol/engine-worker-data.js';
import { Backoff, BACKOFF, SequenceWord } from '../protocol/backoff.js';

const data = workerData as EngineWorkerData;

if (loadNativeAddon() === null) throw new EpdmaError('EOPNOTSUPP', 'engine worker: cross-process wakeups need the native addon');

const file = new MmioRegisterFile(data.registers, data.mapFormat);
file.crossProcessNotify = (view, index) => {
  crossProcessWake(view, index);
};
const ctl = new Int32Array(data.control);
const local = AddressSpace.fromDescription(data.local);
const remote = AddressSpace.fromDescription(data.remote);
const localData = data.localData !== undefined ? AddressSpace.fromDescription(data.localData) : undefined;
const engines = data.channels.map((c) => new ChannelEngine({
  registers: file,
  kind: c.kind,
  ch: c.hwChannel,
  local,
  remote,
  ...(localData !== undefined ? { localData } : {}),
  llRegion: c.llRegion,
  ...(data.linkBytesPerSec !== undefined ? { linkBytesPerSec: data.linkBytesPerSec } : {}),
}));
const shadow = file.shadowWords;
const WAKE = MmioRegisterFile.ENGINE_WAKE_INDEX;

/** Forgets everything a departed host left on the delegated channels. */
function resetChannels(): void {
  for (const e of engines) {
    e.reset();
    file.takeDoorbell(e.kind, e.ch);
    file.takeStop(e.kind, e.ch);
    file.hwAnd(e.regs.intStatus, ~(e.regs.doneBit | e.regs.abortBit));
  }
}

function anyWantsStep(): boolean {
  for (let i = 0; i < engines.length; i++) if (engines[i]!.wantsStep) return true;
  return false;
}

/** Something to do without a new doorbell: a latched start/stop, an exit or reset request. */
function pending(): boolean {
  return anyWantsStep() || Atomics.load(ctl, ENGINE_CTL.EXIT) !== 0 || Atomics.load(ctl, ENGINE_CTL.RESET_REQ) !== Atomics.load(ctl, ENGINE_CTL.RESET_ACK);
}

const backoff = new Backoff(BACKOFF.engineIdle);
// A doorbell after the sample changes the word, so the wait returns at once; every sleep is counted.
const engineWake = new SequenceWord(shadow, WAKE, (view, index, seq, timeoutMs) => {
  Atomics.add(ctl, ENGINE_CTL.SLEEPS, 1);
  return crossProcessWait(view, index, seq, timeoutMs);
});

for (;;) {
  if (Atomics.load(ctl, ENGINE_CTL.EXIT) !== 0) break;
  const req = Atomics.load(ctl, ENGINE_CTL.RESET_REQ);
  if (req !== Atomics.load(ctl, ENGINE_CTL.RESET_ACK)) {
    resetChannels();
    Atomics.store(ctl, ENGINE_CTL.RESET_ACK, req);
    Atomics.notify(ctl, ENGINE_CTL.RESET_ACK);
  }
  let did = false;
  for (let i = 0; i < engines.length; i++) {
    const e = engines[i]!;
    if (e.wantsStep) {
      e.step();
      did = true;
    }
  }
  if (did) backoff.onWork();
  else backoff.idle(engineWake, pending);
}
