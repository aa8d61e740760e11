/**
 * ChannelCore's bound on waiting for the other side: work held by a closed gate (READY clear),
 * a chunk in flight under a closed gate, or one the other side may have dropped by resetting the
 * engine, completes 'aborted' with a 'link down' reason after linkDownTimeoutMs, and not before.
 * No engine runs here, so a started chunk never finishes unless the test raises its status: the
 * exact situation of a chunk lost on the other side. Time is vitest's fake performance clock.
 */
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ChannelCore } from '../../dist/dw-edma/channel-core.js';
import { createChannelOps } from '../../dist/dw-edma/create-channel-ops.js';
import { ChannelControlBlock, CHANNEL_BUSY, CHANNEL_IDLE, REQUEST_MASK, REQUEST_STOP, STATE_HOLD, TERMINATE_ALL } from '../../dist/protocol/channel-control-block.js';
import { CompletionRing, COMPLETION_REASONS, COMPLETION_RESULTS, Reason } from '../../dist/protocol/completion-ring.js';
import { SubmissionRing } from '../../dist/protocol/submission-ring.js';
import { MmioRegisterFile } from '../../dist/device/regs/register-file.js';
import { channelRegisters } from '../../dist/device/regs/channel-registers.js';

const TIMEOUT_MS = 200;
const LL_BYTES = 4096;

interface Record {
  cookie: number;
  result: string;
  reason: string;
  bytes: number;
  residue: number;
}

function rig(options: { resets?: boolean } = {}) {
  const file = MmioRegisterFile.create('unroll', { writeChannels: 1, readChannels: 1 });
  const regs = channelRegisters('unroll', 'read', 0);
  const ll = { buffer: new SharedArrayBuffer(LL_BYTES), bufferOffset: 0, size: LL_BYTES, paddr: 0x7000_0000 };
  const ops = createChannelOps(file, regs, ll, { remote: true, funcNo: 0 });
  const sub = SubmissionRing.create(64);
  const comp = CompletionRing.create(64);
  const ctl = ChannelControlBlock.create();
  const gateWord = new Int32Array(new SharedArrayBuffer(4));
  Atomics.store(gateWord, 0, 1);
  const resetWord = new Int32Array(new SharedArrayBuffer(4));
  const core = new ChannelCore({
    ops,
    direction: 'mem-to-dev',
    quirks: 'contract',
    submissions: sub,
    completions: comp,
    control: ctl,
    gate: { buffer: gateWord.buffer as SharedArrayBuffer, byteOffset: 0, index: 0, mask: 1 },
    lastFault: () => file.lastFault('read', 0),
    onPublish: () => undefined,
    linkDownTimeoutMs: TIMEOUT_MS,
    resets: options.resets === true ? { view: resetWord, index: 0 } : null,
  });
  const records: Record[] = [];
  const drain = (): Record[] => {
    core.flush();
    comp.drain((ring, slot) => {
      records.push({
        cookie: ring.cookieAt(slot),
        result: COMPLETION_RESULTS[ring.resultAt(slot)]!,
        reason: COMPLETION_REASONS[ring.reasonAt(slot)]!,
        bytes: ring.bytesAt(slot),
        residue: ring.residueAt(slot),
      });
    });
    return records;
  };
  let cookie = 0;
  const submit = (length = 4096): number => {
    cookie++;
    sub.pushSingle(cookie, 0, 0x8000_0000, 0x1_0000_0000 + cookie * 0x1_0000, length);
    // issuePending as the main thread does it: mark the channel busy, then drop the hold its
    // issuing code keeps on the first DONE.
    ctl.issue(() => sub.available(), true);
    for (;;) {
      const st = ctl.state();
      if ((st & STATE_HOLD) === 0 || ctl.compareAndSwapState(st, st & ~STATE_HOLD)) break;
    }
    return cookie;
  };
  /** terminateAsync as the main thread does it on a running channel: pending word, then STOP. */
  const terminate = (): void => {
    ctl.setTerminatePending(TERMINATE_ALL);
    for (;;) {
      const st = ctl.state();
      if (ctl.compareAndSwapState(st, (st & ~REQUEST_MASK) | REQUEST_STOP)) break;
    }
  };
  return {
    core, ctl, file, regs, drain, submit, terminate,
    linkDown: () => Atomics.store(gateWord, 0, 0),
    linkUp: () => Atomics.store(gateWord, 0, 1),
    resetByEndpoint: () => Atomics.add(resetWord, 0, 1),
    raiseDone: () => file.hwOr(regs.intStatus, regs.doneBit),
    doorbells: () => file.takeDoorbell('read', 0),
  };
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['performance'] });
});
afterEach(() => {
  vi.useRealTimers();
});

/** Polls the core, advancing the clock in steps, until `ms` passed in total. */
function pollFor(core: ChannelCore, ms: number, stepMs = 10): void {
  for (let t = 0; t < ms; t += stepMs) {
    core.poll();
    vi.advanceTimersByTime(stepMs);
  }
  core.poll();
}

describe('ChannelCore link-down deadline', () => {
  it('queued work under a closed gate waits linkDownTimeoutMs, then fails; later work fails at once while the link stays down', () => {
    const r = rig();
    r.linkDown();
    const a = r.submit();
    const b = r.submit(8192);
    pollFor(r.core, TIMEOUT_MS - 20);
    expect(r.drain()).toEqual([]);
    expect(r.doorbells()).toBe(false); // nothing reached the hardware
    pollFor(r.core, 40);
    const linkDown = COMPLETION_REASONS[Reason.LINK_DOWN];
    expect(r.drain()).toEqual([
      { cookie: a, result: 'aborted', reason: linkDown, bytes: 0, residue: 4096 },
      { cookie: b, result: 'aborted', reason: linkDown, bytes: 0, residue: 8192 },
    ]);
    const c = r.submit();
    r.core.poll();
    expect(r.drain().at(-1)).toMatchObject({ cookie: c, result: 'aborted', reason: linkDown });
    expect(r.core.counters.aborted).toBe(3);
    // The link is back: work runs again and the clock starts from scratch next time.
    r.linkUp();
    const d = r.submit();
    expect(r.core.poll()).toBe(true);
    expect(r.doorbells()).toBe(true);
    r.raiseDone();
    r.core.poll();
    expect(r.drain().at(-1)).toMatchObject({ cookie: d, result: 'ok', bytes: 4096 });
    expect(r.ctl.status()).toBe(CHANNEL_IDLE);
  });

  it('a chunk in flight when READY clears is given up on after the timeout', () => {
    const r = rig();
    const c = r.submit(4096);
    r.core.poll();
    expect(r.ctl.status()).toBe(CHANNEL_BUSY);
    r.linkDown();
    pollFor(r.core, TIMEOUT_MS - 20);
    expect(r.drain()).toEqual([]);
    pollFor(r.core, 40);
    expect(r.drain()).toEqual([{ cookie: c, result: 'aborted', reason: COMPLETION_REASONS[Reason.LINK_DOWN], bytes: 0, residue: 0 }]);
    expect(r.ctl.status()).toBe(CHANNEL_IDLE);
  });

  it('a chunk in flight when the endpoint resets its channels is given up on after the timeout, and its late DONE is not the next chunk\'s', () => {
    const r = rig({ resets: true });
    const a = r.submit();
    r.core.poll();
    expect(r.doorbells()).toBe(true);
    pollFor(r.core, TIMEOUT_MS * 2);
    expect(r.drain()).toEqual([]); // the gate is open and nothing was reset: the chunk just runs long
    r.resetByEndpoint();
    pollFor(r.core, TIMEOUT_MS - 20);
    expect(r.drain()).toEqual([]);
    pollFor(r.core, 40);
    expect(r.drain()).toEqual([{ cookie: a, result: 'aborted', reason: COMPLETION_REASONS[Reason.ENDPOINT_RESET], bytes: 0, residue: 0 }]);
    // The lost chunk finishes after all: that DONE must not complete the next descriptor.
    r.raiseDone();
    const b = r.submit();
    r.core.poll();
    expect(r.doorbells()).toBe(true);
    r.core.poll();
    expect(r.drain()).toHaveLength(1);
    r.raiseDone();
    r.core.poll();
    expect(r.drain().at(-1)).toMatchObject({ cookie: b, result: 'ok' });
  });

  it('progress stops the clock: a gate that closes and reopens within the timeout loses nothing', () => {
    const r = rig();
    const cookies: number[] = [];
    for (let round = 0; round < 5; round++) {
      r.linkDown();
      cookies.push(r.submit());
      pollFor(r.core, TIMEOUT_MS * 0.8);
      r.linkUp();
      r.core.poll();
      expect(r.doorbells()).toBe(true);
      r.raiseDone();
      r.core.poll();
    }
    expect(r.drain().map((x) => [x.cookie, x.result])).toEqual(cookies.map((c) => [c, 'ok']));
  });

  it('a terminate pending on a chunk that is given up on reports the descriptor terminated', () => {
    const r = rig();
    const a = r.submit();
    const b = r.submit();
    r.core.poll();
    r.linkDown();
    r.terminate();
    pollFor(r.core, TIMEOUT_MS + 20);
    expect(r.drain().map((x) => [x.cookie, x.reason])).toEqual([[a, 'terminated'], [b, 'terminated']]);
    expect(r.core.busy).toBe(false);
  });

  it('property: under any schedule of submissions, gate flaps, clock steps and hardware DONEs, every descriptor completes exactly once, in order; aborts only for a link that was down', () => {
    type Op = { op: 'submit' } | { op: 'gate' } | { op: 'advance'; ms: number } | { op: 'done' } | { op: 'poll' };
    const ops = fc.array(fc.oneof(
      fc.constant<Op>({ op: 'submit' }),
      fc.constant<Op>({ op: 'gate' }),
      fc.integer({ min: 1, max: TIMEOUT_MS }).map((ms): Op => ({ op: 'advance', ms })),
      fc.constant<Op>({ op: 'done' }),
      fc.constant<Op>({ op: 'poll' }),
    ), { maxLength: 80 });
    fc.assert(fc.property(ops, (schedule) => {
      const r = rig();
      const submitted: number[] = [];
      let up = true;
      let everDown = false;
      for (const s of schedule) {
        if (s.op === 'submit') submitted.push(r.submit());
        else if (s.op === 'gate') {
          up = !up;
          everDown ||= !up;
          if (up) r.linkUp();
          else r.linkDown();
        } else if (s.op === 'advance') vi.advanceTimersByTime(s.ms);
        else if (s.op === 'done') {
          // The hardware finishes what was started (a doorbell since the last DONE).
          if (r.doorbells()) r.raiseDone();
        } else r.core.poll();
      }
      // Link up, hardware answering: everything drains.
      r.linkUp();
      for (let i = 0; i < submitted.length * 4 + 4 && r.drain().length < submitted.length; i++) {
        r.core.poll();
        if (r.doorbells()) r.raiseDone();
        r.core.poll();
      }
      const done = r.drain();
      expect(done.map((x) => x.cookie)).toEqual(submitted);
      for (const x of done) {
        if (x.result === 'ok') continue;
        expect(x.result).toBe('aborted');
        expect(x.reason).toBe(COMPLETION_REASONS[Reason.LINK_DOWN]);
        expect(everDown).toBe(true);
      }
    }), { numRuns: 300 });
  });
});
