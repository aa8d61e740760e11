import { describe, it, expect } from 'vitest';
import type { RuntimeEvent } from '../../../dist/api/types.js';
import { counter, makePayload, sameBytes, seqOf, useNtbTestbed } from './ntb-harness.js';

const range = (n: number): number[] => [...Array(n).keys()];

describe('NTB transport: DMA faults', () => {
  const bed = useNtbTestbed({ endpoint: { linkBytesPerSec: 50e6 } });


  it('a DMA channel crash mid traffic loses nothing: what it aborted is copied again by the CPU', async () => {
    const t = await bed.open({ mtu: 65600, ringEntries: 32, copyBytes: 1024 });
    const events: RuntimeEvent[] = [];
    const sub = bed.testbed.events$.subscribe((e) => events.push(e));
    const n = 200;
    const tx = t.host.queue(0);
    const got: number[] = [];
    let exact = 0;
    const c = counter(n);
    t.endpoint.queue(0).receive$.subscribe((d) => {
      got.push(seqOf(d));
      if (sameBytes(d, makePayload(31, got.length - 1, tx.maxPayload, 1024, 4))) exact++;
      c.poke();
      if (c.count === 40) void bed.testbed.faults.crashChannel('host/rd0');
    });
    await Promise.all(range(n).map((seq) => tx.send(makePayload(31, seq, tx.maxPayload, 1024, 4))));
    await c.done;
    sub.unsubscribe();
    expect(got).toEqual(range(n));
    expect(exact).toBe(n);
    expect(events.some((e) => e.type === 'channel-crashed' && e.name === 'host/rd0')).toBe(true);
    const s = tx.stats;
    // Every transfer the crash aborted (none if it fell between two transfers, which a loaded
    // machine makes possible) was copied again by the CPU, and counted as such;
    // frame-copier.test.ts proves the fallback itself on a scripted failure every time.
    expect(s.memcpyFallbacks).toBe(s.dmaErrors);
    expect(s.txAsync + s.txMemcpy - s.memcpyFallbacks).toBe(n);
  }, 60_000);
});
