/**
 * A terminate that a crash interrupts (ChannelHandle.workerTerminated): the worker dies while
 * the terminate is pending, the supervisor restarts it, and the restarted worker finishes the
 * terminate (the pending word survives) before it runs anything. The handle awaits that
 * restart (ChannelActor.whenRunning), never a timer; a channel stopped for good instead has
 * nothing left to terminate, and synchronize() settles.
 */
import { describe, expect, it } from 'vitest';
import type { ChannelHandle } from '../../dist/api/dma-channel.js';
import type { TxDescriptor } from '../../dist/api/types.js';
import {
  collect, EP_RAM_BASE, fillPattern, HOST_RAM_BASE, nonZero, view, waitFor, within, type SideFixture, useSideFixture,
} from '../support/side-fixture.js';

const open = useSideFixture();

const MB = 1024 * 1024;

/** Four 1 MiB descriptors on a 4 MB/s link (~250 ms each: a terminate cannot outrun the first). */
function queueSlow(f: SideFixture, ch: ChannelHandle): TxDescriptor[] {
  fillPattern(f.epRam.bytes.subarray(0, MB), 5);
  const descs: TxDescriptor[] = [];
  for (let i = 0; i < 4; i++) {
    ch.configure({ deviceAddr: HOST_RAM_BASE + i * MB });
    const d = ch.prepSlaveSingle(EP_RAM_BASE, MB);
    d.submit();
    descs.push(d);
  }
  ch.issuePending();
  return descs;
}

const eventsOf = (f: SideFixture, name: string): string[] => f.events.filter((e) => e.name === name).map((e) => e.type);

describe('terminate interrupted by a crash', () => {
  it('synchronize resolves after the restart, once the restarted worker finished the terminate; every cookie settles once', async () => {
    const f = await open({ linkBytesPerSec: 4_000_000, supervision: { backoffMs: 1 } });
    const ch = await f.request('endpoint/wr0');
    const stream = collect(ch.completions$);
    const tail0 = ch.actor.submissions.tail();
    const descs = queueSlow(f, ch);
    // Taken, not only current (the worker names it current just before consuming the entry):
    // the crash must find it taken for the count of crashed cookies below.
    await waitFor(() => ch.actor.control.currentCookie() === 1 && ch.actor.submissions.tail() !== tail0, 'cookie 1 taken');
    ch.terminateAsync();
    await f.side.crash('endpoint/wr0');
    let synchronized = 0;
    await within(ch.synchronize().then(() => synchronized++), 'synchronize across the crash', 20_000);
    // Settled by the restart, not before it: the restart is on the event stream, the new
    // generation runs, and it has already finished the terminate it inherited.
    expect(eventsOf(f, 'endpoint/wr0')).toEqual(['channel-started', 'channel-crashed', 'channel-restarted']);
    expect(ch.actor.state).toBe('running');
    expect(ch.actor.generation).toBe(1);
    expect(ch.actor.control.terminatePending()).toBe(0);
    const s = await ch.actor.call('stats');
    expect(s.generation).toBe(1);
    expect(s.descriptors).toBe(0); // the restarted worker ran nothing it inherited

    const done = await within(Promise.all(descs.map((d) => d.done)), 'every cookie');
    expect(done.map((c) => c.cookie)).toEqual([1, 2, 3, 4]);
    for (const c of done) expect(c.result).toBe('aborted');
    // The crash took cookie 1 (and any the dead worker had taken); the restarted worker
    // terminated the rest: together, each cookie exactly once.
    const crashed = done.filter((c) => c.reason === 'channel worker crashed').length;
    expect(crashed).toBeGreaterThanOrEqual(1);
    expect(s.terminated + crashed).toBe(4);
    expect(synchronized).toBe(1);
    // Terminated descriptors never reach the stream (no callback) and never write their memory.
    expect(stream.items.filter((c) => c.reason !== 'channel worker crashed')).toEqual([]);
    for (let i = 1; i < 4; i++) expect(nonZero(view(f.hostRam, HOST_RAM_BASE + i * MB, MB))).toBe(0);
  }, 30_000);

  it('on a channel the crash stops for good, synchronize settles and everything completes aborted', async () => {
    const f = await open({ linkBytesPerSec: 4_000_000, supervision: { maxRestarts: 0 } });
    const ch = await f.request('endpoint/wr0');
    const descs = queueSlow(f, ch);
    await waitFor(() => ch.actor.control.currentCookie() === 1, 'cookie 1 in flight');
    ch.terminateAsync();
    await f.side.crash('endpoint/wr0');
    await within(ch.synchronize(), 'synchronize on a stopped channel');
    expect(ch.actor.state).toBe('stopped');
    expect(eventsOf(f, 'endpoint/wr0')).toEqual(['channel-started', 'channel-crashed', 'channel-stopped']);
    await expect(ch.actor.whenRunning()).rejects.toMatchObject({ code: 'ESHUTDOWN' });
    const done = await within(Promise.all(descs.map((d) => d.done)), 'every cookie');
    for (const c of done) expect(c.result).toBe('aborted');
    expect(done.map((c) => c.cookie)).toEqual([1, 2, 3, 4]);
  });
});
