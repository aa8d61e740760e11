/**
 * timing.linkDownTimeoutMs in one process: an endpoint that zeroes its metadata CTRL word (READY
 * and H gone, no link-down call) holds host transfers only that long; they then complete
 * 'aborted' with reason 'link down', write nothing, and the channel works again once READY is back.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Completion, RuntimeEvent, Testbed } from '../../dist/api/index.js';
import { expectRejects, fill, firstDifference, isZero, Opened, waitFor, within } from './testbed-support.js';

const opened = new Opened();
afterEach(async () => {
  await opened.closeAll();
});

const TIMEOUT_MS = 300;
const small = { endpoint: { writeChannels: 1, readChannels: 1, memoryBytes: 4 << 20 }, host: { memoryBytes: 8 << 20 } } as const;
const CTRL_WORD = 2;

/** The EP's live metadata words: what a misbehaving endpoint function can write. */
function metadataWords(bed: Testbed): Uint32Array {
  return (bed as unknown as { epf: { metadataWords: Uint32Array } }).epf.metadataWords;
}

describe('linkDownTimeoutMs (in-process testbed)', () => {
  it('rejects values that are no deadline', async () => {
    for (const v of [0, -5, Number.NaN, Number.POSITIVE_INFINITY]) {
      await expectRejects(opened.testbed({ ...small, timing: { linkDownTimeoutMs: v } }), 'EINVAL', 'timing.linkDownTimeoutMs', String(v));
    }
  });

  it('a zeroed CTRL word: gated host transfers complete aborted "link down" after the timeout, not before, writing nothing; READY back, they run again', async () => {
    const bed = await opened.testbed({ ...small, timing: { linkDownTimeoutMs: TIMEOUT_MS } });
    const events: RuntimeEvent[] = [];
    const sub = bed.events$.subscribe((e) => events.push(e));
    try {
      const ch = opened.channel(await bed.host.dma.requestChannel({ direction: 'mem-to-dev' }));
      const src = opened.alloc(bed.host.memory, 64 * 1024);
      const dst = opened.alloc(bed.endpoint.memory, 64 * 1024);
      fill(src.bytes, 11);
      dst.bytes.fill(0);
      const words = metadataWords(bed);
      const ctrl = Atomics.load(words, CTRL_WORD);
      expect(ctrl >>> 31).toBe(1); // READY

      Atomics.store(words, CTRL_WORD, 0);
      await waitFor(() => events.some((e) => e.type === 'link-down'), 'the host seeing READY clear');
      ch.configure({ deviceAddr: dst.addr });
      const held = [0, 1, 2].map((k) => {
        const d = ch.prepSlaveSingle(src.addr + k * 16384, 16384);
        return { cookie: d.submit(), done: d.done };
      });
      ch.issuePending();
      const results: Completion[] = await within(Promise.all(held.map((h) => h.done)), 'the held transfers', TIMEOUT_MS + 10_000);
      expect(results.map((c) => [c.cookie, c.result, c.reason, c.bytes])).toEqual(
        held.map((h) => [h.cookie, 'aborted', 'link down: READY clear', 0]),
      );
      // The first waited the whole timeout; none ran on the vanished windows.
      expect(Number(results[0]!.completedNs - results[0]!.submittedNs) / 1e6).toBeGreaterThanOrEqual(TIMEOUT_MS);
      expect(isZero(dst.bytes)).toBe(true);

      // The endpoint sets CTRL again: READY is back, and so is the channel.
      Atomics.store(words, CTRL_WORD, ctrl);
      await waitFor(() => events.some((e) => e.type === 'link-up'), 'the host seeing READY again');
      const d = ch.prepSlaveSingle(src.addr, src.length);
      const cookie = d.submit();
      ch.issuePending();
      expect(await within(d.done, 'a transfer after READY is back')).toMatchObject({ cookie, result: 'ok', bytes: src.length });
      expect(firstDifference(dst.bytes, src.bytes)).toBe(-1);
    } finally {
      sub.unsubscribe();
    }
  });
});
