/**
 * faults.crashChannel and events$ (issue 14 item 7): concurrent crash calls on one channel
 * used to land on one worker twice, or on a worker still restarting, so the calls, the
 * channel-crashed and the channel-restarted counts disagreed. Each call now kills exactly one
 * running worker: per channel the events alternate crashed, restarted, one pair per call.
 */
import { describe, expect, it } from 'vitest';
import type { RuntimeEvent } from '../../dist/api/index.js';
import { Opened, waitFor } from './testbed-support.js';

const opened = new Opened();

describe('crashChannel', () => {
  it('concurrent calls on two channels: one crashed and one restarted event per call, alternating', async () => {
    const bed = await opened.testbed({
      endpoint: { writeChannels: 1, readChannels: 1, memoryBytes: 1 << 20 },
      host: { memoryBytes: 1 << 20 },
      supervision: { maxRestarts: 100, withinMs: 1000, backoffMs: 5 },
    });
    try {
      const events: RuntimeEvent[] = [];
      const sub = bed.events$.subscribe((e) => {
        if (e.type.startsWith('channel-')) events.push(e);
      });
      const calls = [
        ...Array.from({ length: 5 }, () => bed.faults.crashChannel('host/rd0')),
        ...Array.from({ length: 3 }, () => bed.faults.crashChannel('endpoint/wr0')),
      ];
      await Promise.all(calls);
      await waitFor(() => events.filter((e) => e.type === 'channel-restarted').length >= 8, 'every restart reported');
      sub.unsubscribe();
      for (const [name, n] of [['host/rd0', 5], ['endpoint/wr0', 3]] as const) {
        const mine = events.filter((e) => e.name === name).map((e) => e.type);
        expect(mine).toEqual(Array.from({ length: n }, () => ['channel-crashed', 'channel-restarted']).flat());
      }
      // Still a working channel after all that.
      const ch = opened.channel(await bed.host.dma.requestChannel({ name: 'host/rd0' }));
      const src = opened.alloc(bed.host.memory, 64);
      const dst = opened.alloc(bed.endpoint.memory, 64);
      src.bytes.fill(7);
      ch.configure({ deviceAddr: dst.addr });
      const d = ch.prepSlaveSingle(src.addr, 64);
      d.submit();
      ch.issuePending();
      expect((await d.done).result).toBe('ok');
      expect(dst.bytes.every((b) => b === 7)).toBe(true);
    } finally {
      await opened.closeAll();
    }
  });
});
