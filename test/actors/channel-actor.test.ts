/**
 * Channel actors as whole units (worker thread + rings + control plane): the submission ring
 * overflowing and wrapping, the kick/sleep protocol through the whole stack, the control
 * plane (register dumps, calls after the worker is gone) and what an idle side costs.
 */
import { describe, expect, it } from 'vitest';
import { ChannelActor } from '../../dist/actors/channel-actor.js';
import { EpdmaError } from '../../dist/device/errors.js';
import { CHANNEL_STATUS, EDMA_V0_CONTROL1 } from '../../dist/device/regs/edma-v0-regs.js';
import { CompletionDoorbell } from '../../dist/protocol/completion-doorbell.js';
import { RESULT_OK, type CompletionRing } from '../../dist/protocol/completion-ring.js';
import { SUBMISSION_FLAG_INTERRUPT } from '../../dist/protocol/submission-ring.js';
import type { ChannelHandle } from '../../dist/api/dma-channel.js';
import type { TxDescriptor } from '../../dist/api/types.js';
import {
  collect, EP_RAM_BASE, fillPattern, HOST_RAM_BASE, macrotask, sameBytes, streamsCaughtUp, view,
  waitFor, within, useSideFixture,
} from '../support/side-fixture.js';

const open = useSideFixture();

async function rejection(p: Promise<unknown>): Promise<EpdmaError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(EpdmaError);
  return err as EpdmaError;
}

describe('submission ring overflow and wrap-around', () => {
  it('5000 single-segment descriptors (more than the 4096-entry ring holds) complete once each, in order', async () => {
    const f = await open();
    const ch = await f.request('endpoint/wr0');
    fillPattern(f.epRam.bytes, 13);
    const stream = collect(ch.completions$);
    ch.configure({ deviceAddr: HOST_RAM_BASE });
    const N = 5000;
    const descs: TxDescriptor[] = [];
    for (let i = 0; i < N; i++) {
      // Every descriptor lands at its own device address (configure per descriptor).
      ch.configure({ deviceAddr: HOST_RAM_BASE + i * 16 });
      const d = ch.prepSlaveSingle(EP_RAM_BASE + i * 16, 16);
      d.submit();
      descs.push(d);
    }
    ch.issuePending(); // one issue for all: 2 entries each, so most wait in the overflow queue
    const done = await within(Promise.all(descs.map((d) => d.done)), '5000 descriptors');
    expect(done.every((c, i) => c.cookie === i + 1 && c.result === 'ok')).toBe(true);
    await streamsCaughtUp(ch);
    expect(ch.actor.completions.tail()).toBe(N); // the worker produced one record per descriptor
    expect(stream.items).toHaveLength(N);
    expect(stream.items.every((c, i) => c.cookie === i + 1)).toBe(true);
    expect(sameBytes(view(f.hostRam, HOST_RAM_BASE, N * 16), view(f.epRam, EP_RAM_BASE, N * 16))).toBe(true);
    expect((await ch.actor.call('stats')).descriptors).toBe(N);
    expect(ch.outstanding).toBe(0);
    // Sequence numbers went round the ring more than twice.
    expect(ch.actor.submissions.tail()).toBe(2 * N);
  });

  it('a ChannelActor with an 8-entry ring carries SG descriptors that wrap the ring end', async () => {
    const f = await open();
    fillPattern(f.epRam.bytes, 17);
    const doorbell = CompletionDoorbell.create();
    const crashes: string[] = [];
    const actor = new ChannelActor({
      spec: { ...f.spec('write', 1), doorbell: doorbell.buffer },
      submissionCapacity: 8,
      onCrash: (_a, reason) => crashes.push(reason),
    });
    try {
      await actor.start();
      expect(actor.alive).toBe(true);
      expect(actor.submissions.maxSegments).toBe(4);
      const got: { cookie: number; result: number; bytes: number }[] = [];
      const visit = (ring: CompletionRing, slot: number): void => {
        got.push({ cookie: ring.cookieAt(slot), result: ring.resultAt(slot), bytes: ring.bytesAt(slot) });
      };
      const N = 300;
      let next = 0;
      let device = HOST_RAM_BASE;
      const expected: { segs: { addr: number; length: number }[]; len: number }[] = [];
      const end = Date.now() + 20_000;
      while (got.length < N) {
        if (Date.now() > end) throw new Error(`only ${got.length} of ${N} completions`);
        // 1..3 segments: 2..4 entries, so descriptors straddle the end of the 8-entry ring.
        while (next < N) {
          const nseg = 1 + (next % 3);
          const addrs = Array.from({ length: nseg }, (_, k) => EP_RAM_BASE + next * 256 + k * 64);
          const lens = Array.from({ length: nseg }, (_, k) => 8 + k * 8 + (next % 5));
          const seq = actor.submissions.pushSg(next + 1, SUBMISSION_FLAG_INTERRUPT, device, addrs, lens, nseg);
          if (seq < 0) break;
          const len = lens.reduce((a, b) => a + b, 0);
          expected.push({ segs: addrs.map((addr, k) => ({ addr, length: lens[k]! })), len });
          device += len;
          next++;
        }
        actor.control.issue(() => actor.submissions.available(), true); // what issuePending does
        actor.kickWorker();
        actor.completions.drain(visit);
        await macrotask();
      }
      expect(got.map((g) => g.cookie)).toEqual(Array.from({ length: N }, (_, i) => i + 1));
      expect(got.every((g) => g.result === RESULT_OK)).toBe(true);
      expect(got.map((g) => g.bytes)).toEqual(expected.map((e) => e.len));
      // The device image is the concatenation of every descriptor's segments.
      const image: number[] = [];
      for (const e of expected) for (const s of e.segs) image.push(...view(f.epRam, s.addr, s.length));
      expect(sameBytes(view(f.hostRam, HOST_RAM_BASE, image.length), Uint8Array.from(image))).toBe(true);
      expect(crashes).toEqual([]);
    } finally {
      await actor.stop('closed');
    }
    expect(actor.alive).toBe(false);
    expect(actor.state).toBe('closed');
    expect(crashes).toEqual([]);
  });
});

describe('kick/sleep race through the whole stack', () => {
  it('short bursts with gaps (the worker falls asleep in between) all complete; a lost kick would hang', async () => {
    // Sleeping workers, and a sleep timeout of a minute: only a kick can wake them in time.
    const f = await open({ writeChannels: 1, readChannels: 1, idle: { policy: 'sleep', sleepMs: 60_000, maxSleepMs: 60_000 } });
    const wr = await f.request('endpoint/wr0');
    const rd = await f.request('endpoint/rd0');
    fillPattern(f.epRam.bytes, 1);
    fillPattern(f.hostRam.bytes, 2);
    const side = collect(f.side.completions$);
    wr.configure({ deviceAddr: HOST_RAM_BASE + 0x80_0000 });
    rd.configure({ deviceAddr: HOST_RAM_BASE });
    const BURSTS = 150;
    // Gaps of different kinds between bursts; one of them lasts until both workers sleep.
    const asleep = (): Promise<void> => waitFor(() => wr.actor.kick.isSleeping() && rd.actor.kick.isSleeping(), 'both workers asleep');
    const gaps: (() => Promise<unknown>)[] = [macrotask, asleep, () => Promise.resolve()];
    let bursts = 0;
    let total = 0;
    const burst = async (ch: ChannelHandle, i: number): Promise<void> => {
      const n = 1 + (i % 4);
      let last: TxDescriptor | undefined;
      for (let k = 0; k < n; k++) {
        last = ch.prepSlaveSingle(EP_RAM_BASE + 0x10_0000 + ((i * 4 + k) % 512) * 64, 64);
        last.submit();
      }
      total += n;
      ch.issuePending();
      expect((await within(last!.done, `burst ${i} on ${ch.info.name}`)).result).toBe('ok');
      bursts++;
    };
    for (let i = 0; i < BURSTS; i++) {
      await Promise.all([burst(wr, i), burst(rd, i)]);
      await gaps[i % gaps.length]!();
    }
    expect(bursts).toBe(2 * BURSTS);
    await streamsCaughtUp(wr);
    await streamsCaughtUp(rd);
    expect(side.items).toHaveLength(total);
    const w = await wr.actor.call('stats');
    const r = await rd.actor.call('stats');
    expect(w.descriptors + r.descriptors).toBe(total);
    // The workers really slept between bursts and were woken by kicks, not by the timeout.
    expect(w.idleWakeups).toBeGreaterThan(0);
    expect(r.idleWakeups).toBeGreaterThan(0);
    expect(w.idleTimeouts + r.idleTimeouts).toBe(0);
  });
});

describe('control requests against a worker that spins, falls asleep or sleeps', () => {
  it('every call is answered; a request the worker slept on would hang (its sleep lasts a minute)', async () => {
    // Adaptive idling: the worker spins after each answer, then sleeps; only the wake that
    // follows a posted request brings it back in time. A worker that saw the request's
    // counter before the message reached its port, and went to sleep, would wait a minute.
    const f = await open({ writeChannels: 1, readChannels: 1, idle: { policy: 'adaptive', sleepMs: 60_000, maxSleepMs: 60_000 } });
    const wr = await f.request('endpoint/wr0');
    const asleep = (): Promise<void> => waitFor(() => wr.actor.kick.isSleeping(), 'worker asleep');
    const gaps: (() => Promise<unknown>)[] = [() => Promise.resolve(), macrotask, asleep];
    for (let i = 0; i < 240; i++) {
      const s = await within(wr.actor.call('stats'), `control call ${i}`);
      expect(s.name).toBe('endpoint/wr0');
      await gaps[i % gaps.length]!();
    }
    // Every wake came from a kick: no sleep ran out.
    expect((await wr.actor.call('stats')).idleTimeouts).toBe(0);
  });
});

describe('control plane', () => {
  it.each(['unroll', 'hdma-native'] as const)('registerDump shows the channel registers after a transfer (%s)', async (format) => {
    const f = await open({ format });
    const ch = await f.request('endpoint/wr0');
    ch.configure({ deviceAddr: HOST_RAM_BASE });
    const d = ch.prepSlaveSingle(EP_RAM_BASE, 1024);
    d.submit();
    ch.issuePending();
    expect((await d.done).result).toBe('ok');
    const dump = await ch.actor.call('registerDump');
    const { paddr } = f.ll('write', 0);
    // The engine stops on the region start after the link element jumped back.
    expect(dump.llpLo).toBe(paddr % 2 ** 32);
    expect(dump.llpHi).toBe(Math.floor(paddr / 2 ** 32));
    if (format === 'unroll') {
      expect((dump.control1! & EDMA_V0_CONTROL1.CS_MASK) >>> EDMA_V0_CONTROL1.CS_SHIFT).toBe(CHANNEL_STATUS.STOPPED);
      expect(dump.enable).toBe(1);
      expect(dump.intStatus! & 1).toBe(0); // DONE was cleared by the driver
    } else {
      expect(dump.chStat).toBe(CHANNEL_STATUS.STOPPED);
      expect(dump.intStatus).toBe(0);
    }
  });

  it('a control call after the worker is gone rejects ESHUTDOWN, and so does the channel API', async () => {
    const f = await open();
    const ch = await f.request('endpoint/wr0');
    ch.configure({ deviceAddr: HOST_RAM_BASE });
    expect((await ch.actor.call('stats')).generation).toBe(0);
    await f.close();
    expect(ch.actor.alive).toBe(false);
    for (const method of ['stats', 'registerDump', 'pause'] as const) {
      expect((await rejection(ch.actor.call(method))).code).toBe('ESHUTDOWN');
    }
    expect((await rejection(ch.pause())).code).toBe('ESHUTDOWN');
    expect(() => ch.prepSlaveSingle(EP_RAM_BASE, 64)).toThrow(/ESHUTDOWN/);
  });

  it('stats counts what the worker did, and the idle policy can be changed over the control plane', async () => {
    const f = await open();
    const ch = await f.request('endpoint/wr0');
    await ch.actor.call('configure', { policy: 'spin' });
    ch.configure({ deviceAddr: HOST_RAM_BASE });
    const d = ch.prepSlaveSingle(EP_RAM_BASE, 300);
    d.submit();
    ch.issuePending();
    await d.done;
    const s = await ch.actor.call('stats');
    expect(s).toMatchObject({ name: 'endpoint/wr0', generation: 0, descriptors: 1, chunks: 1, bytes: 300, aborted: 0, terminated: 0 });
    expect(s.engine).toMatchObject({ chunks: 1, elements: 1, bytes: 300, aborts: 0, localInterrupts: 1 });
    expect((await rejection(ch.actor.call('configure', { policy: 'nap' as 'spin' }))).code).toBe('EINVAL');
  });
});

describe('idle side', () => {
  // What an idle side costs in CPU is measured by the bench (idle scenario), not asserted
  // here: a share over wall time depends on the machine's load. What must hold is that idle
  // workers back off into timed sleeps instead of polling: their sleeps time out.
  it('idle channel workers sleep (their idle sleeps time out) and still answer the control plane', async () => {
    const f = await open({ writeChannels: 4, readChannels: 4 });
    expect(f.handles).toHaveLength(8);
    for (const h of f.handles) {
      await waitFor(() => h.actor.kick.isSleeping(), `${h.info.name} asleep`);
    }
    for (const h of f.handles) {
      await expect.poll(async () => (await h.actor.call('stats')).idleTimeouts, { timeout: 15_000, interval: 20 }).toBeGreaterThan(0);
    }
    for (const h of f.handles) expect((await h.actor.call('stats')).descriptors).toBe(0);
  });
});

describe('whenRunning (what waits out a crash)', () => {
  it('resolves at once while running; after a crash, on the restart, after its onRunning; rejects ESHUTDOWN once stopped or closed', async () => {
    const f = await open();
    const doorbell = CompletionDoorbell.create();
    const order: string[] = [];
    const actor = new ChannelActor({
      spec: { ...f.spec('write', 1), doorbell: doorbell.buffer },
      onCrash: (_a, reason) => order.push(`crash: ${reason}`),
    });
    try {
      const first = actor.whenRunning().then(() => order.push('first start'));
      await actor.start(() => order.push('onRunning 0'));
      await first;
      await actor.whenRunning();
      expect(order).toEqual(['onRunning 0', 'first start']);

      await actor.kill();
      expect(actor.state).toBe('crashed');
      expect(order).toHaveLength(3);
      expect(order[2]).toMatch(/^crash: /);
      order.length = 0;
      // Two waiters while crashed: both settle on the one restart, once.
      let settled = 0;
      const waiters = [actor.whenRunning(), actor.whenRunning()].map((p) => p.then(() => {
        settled++;
        order.push(`resumed at generation ${actor.generation}`);
      }));
      actor.generation++;
      await actor.start(() => order.push('onRunning 1'));
      await within(Promise.all(waiters), 'the waiters of the restart');
      expect(settled).toBe(2);
      expect(order).toEqual(['onRunning 1', 'resumed at generation 1', 'resumed at generation 1']);

      // Stopped for good while someone waits: ESHUTDOWN with the supervisor's reason.
      await actor.kill();
      const pending = rejection(actor.whenRunning());
      actor.markStopped('restart intensity exceeded');
      const err = await pending;
      expect(err.code).toBe('ESHUTDOWN');
      expect(err.message).toBe('ESHUTDOWN: endpoint/wr1: channel stopped: restart intensity exceeded');
      expect((await rejection(actor.whenRunning())).message).toBe(err.message);
    } finally {
      await actor.stop('closed');
    }
    expect((await rejection(actor.whenRunning())).message).toBe('ESHUTDOWN: endpoint/wr1: channel closed');
  });
});
