/**
 * A side that shuts down under loadTest (its endpoint process died, its channel was stopped for
 * good) settles what was in flight in one batch, often right after the last good completions.
 * The run ends with a final snapshot that counts every one of them: a relaunch refused for the
 * first completion of the batch must not skip the rest (the CLI's row "the attached endpoint
 * process dies" once reported 0 errors that way).
 *
 * The testbed is a stand-in with one host channel whose batches the test emits, so the batch's
 * order is exact rather than left to a race.
 */
import { lastValueFrom, Subject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { EpdmaError, loadTest } from '../../../dist/api/index.js';
import type { ChannelInfo, Completion, LoadProgress, Testbed } from '../../../dist/api/index.js';

const INFO: ChannelInfo = { side: 'host', kind: 'write', hwChannel: 0, direction: 'mem-to-dev', name: 'host/wr0' } as ChannelInfo;
const SIZE = 64;

function standIn() {
  const batches = new Subject<readonly Completion[]>();
  const state = { cookies: 0, issued: 0, stopped: undefined as string | undefined, released: 0 };
  const refuseIfStopped = (what: string): void => {
    if (state.stopped !== undefined) throw new EpdmaError('ESHUTDOWN', `host/wr0: ${what}: channel stopped: ${state.stopped}`);
  };
  const chan = {
    info: INFO,
    configure: () => refuseIfStopped('configure'),
    prepSlaveSingle: () => {
      refuseIfStopped('prepSlaveSingle');
      return { submit: () => ++state.cookies };
    },
    issuePending: () => {
      refuseIfStopped('issuePending');
      state.issued = state.cookies;
    },
    release: async () => {
      state.released++;
    },
  };
  let next = 0x1000;
  const memory = {
    alloc: (bytes: number) => {
      const addr = next;
      next += bytes;
      return { addr, bytes };
    },
    free: () => undefined,
  };
  const side = (channels: ChannelInfo[]) => ({
    dma: { channels, requestChannel: async () => chan, completionBatches$: batches.asObservable() },
    memory,
  });
  const bed = { host: side([INFO]), endpoint: side([]) } as unknown as Testbed;
  const completion = (cookie: number, ok: boolean): Completion => ({
    cookie, channel: INFO, result: ok ? 'ok' : 'aborted', residue: ok ? 0 : SIZE, bytes: ok ? SIZE : 0,
    submittedNs: 1_000n, completedNs: 2_000n,
    ...(ok ? {} : { reason: 'channel stopped: test', reasonCode: 'channel-stopped' }),
  } as Completion);
  return { bed, batches, state, completion };
}

describe('loadTest when the side shuts down under it', () => {
  it('the last good completions and the aborted ones in one batch: every one counted, the run ends', async () => {
    const { bed, batches, state, completion } = standIn();
    const depth = 4;
    const final = lastValueFrom(loadTest(bed, { side: 'host', channels: 1, depth, size: SIZE, iterations: 1000, verify: false, progressMs: 60_000 }));
    await expect.poll(() => state.issued).toBe(depth);

    // Two good rounds, each relaunched: six transfers issued, four in flight.
    batches.next([completion(1, true), completion(2, true)]);
    expect(state.issued).toBe(depth + 2);
    // The side stops: the next good one finds its relaunch refused, the rest were aborted.
    state.stopped = 'endpoint process 1234 died';
    batches.next([completion(3, true), completion(4, false), completion(5, false), completion(6, false)]);

    const p: LoadProgress = await final;
    expect(p.final).toBe(true);
    expect(p.transfers).toBe(3);
    expect(p.bytes).toBe(3 * SIZE);
    expect(p.errors).toBe(3);
    expect(p.channels.map((c) => [c.name, c.transfers, c.errors])).toEqual([['host/wr0', 3, 3]]);
    expect(state.cookies).toBe(depth + 2); // nothing submitted after the refusal
    expect(state.released).toBe(1);
  });
});
