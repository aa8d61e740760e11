import { describe, it, expect } from 'vitest';
import { counter, makePayload, sameBytes, sendStream, seqOf, useNtbTestbed } from './ntb-harness.js';

describe('NTB transport: traffic over a real testbed', () => {
  const bed = useNtbTestbed();

  it('moves 3000 random-size payloads each way at once on 2 queues, in order and byte-exact', async () => {
    const copyBytes = 1024;
    const t = await bed.open({ queues: 2, mtu: 16384, ringEntries: 32, copyBytes });
    const perStream = 750; // 2 queues x 2 directions x 750 = 3000 payloads each way
    const streams = [
      { stream: 1, tx: t.host.queue(0), rx: t.endpoint.queue(0) },
      { stream: 2, tx: t.host.queue(1), rx: t.endpoint.queue(1) },
      { stream: 3, tx: t.endpoint.queue(0), rx: t.host.queue(0) },
      { stream: 4, tx: t.endpoint.queue(1), rx: t.host.queue(1) },
    ];
    const checks = streams.map(({ stream, rx }) => {
      const c = counter(perStream);
      let mismatches = 0;
      const sub = rx.receive$.subscribe((d) => {
        const want = makePayload(stream, c.count, rx.maxPayload, copyBytes);
        if (!sameBytes(d, want)) mismatches++;
        c.poke();
      });
      return { c, sub, mismatches: () => mismatches };
    });
    const sent = await Promise.all(streams.map(({ stream, tx }) => sendStream(tx, stream, perStream, copyBytes)));
    await Promise.all(checks.map((k) => k.c.done));
    for (const k of checks) k.sub.unsubscribe();

    expect(checks.map((k) => [k.c.count, k.mismatches()])).toEqual(streams.map(() => [perStream, 0]));
    streams.forEach(({ tx, rx }, i) => {
      const s = tx.stats;
      expect(s.txPkts).toBe(perStream);
      expect(s.txAsync).toBe(sent[i]!.dmaSized); // DMA for every payload >= copyBytes ...
      expect(s.txMemcpy).toBe(perStream - sent[i]!.dmaSized); // ... and the CPU for the rest
      expect(s.txStagingCopies).toBe(sent[i]!.staged); // plain arrays only; allocPayload ones went in place
      expect(s.dmaErrors + s.memcpyFallbacks).toBe(0);
      const r = rx.stats;
      expect(r.rxPkts).toBe(perStream);
      expect(r.rxMemcpy).toBe(perStream);
      expect(r.rxBytes).toBe(s.txBytes);
      expect(r.rxErrVer + r.rxErrOflow).toBe(0);
    });
    expect(t.host.queue(0).stats.txDmaChannel).toMatch(/^host\/rd\d$/);
    expect(t.endpoint.queue(1).stats.txDmaChannel).toMatch(/^endpoint\/wr\d$/);
  }, 120_000);

  it('switches between CPU and DMA exactly at copyBytes', async () => {
    const t = await bed.open({ mtu: 8192, ringEntries: 16, copyBytes: 1024 });
    const q = t.host.queue(0);
    const sizes = [1, 1023, 1024, 1025, 100, 8180, 1023, 4096];
    const got: number[] = [];
    const c = counter(sizes.length);
    t.endpoint.queue(0).receive$.subscribe((d) => {
      got.push(d.length);
      c.poke();
    });
    await Promise.all(sizes.map((n) => q.send(new Uint8Array(n).fill(n & 0xff))));
    await c.done;
    expect(got).toEqual(sizes);
    expect(q.stats).toMatchObject({ txAsync: 4, txMemcpy: 4, txPkts: 8, dmaErrors: 0, txStagingCopies: 8 });
    expect(q.maxPayload).toBe(8180);
  });

  it('uses the CPU for everything with useDma: false (no channel requested)', async () => {
    const t = await bed.open({ mtu: 8192, ringEntries: 8, useDma: false });
    const sizes = [5000, 8000, 10, 2048];
    const c = counter(sizes.length * 2);
    const got: number[][] = [[], []];
    t.endpoint.queue(0).receive$.subscribe((d) => { got[0]!.push(d.length); c.poke(); });
    t.host.queue(0).receive$.subscribe((d) => { got[1]!.push(d.length); c.poke(); });
    await Promise.all(sizes.flatMap((n) => [t.host.queue(0).send(new Uint8Array(n)), t.endpoint.queue(0).send(new Uint8Array(n))]));
    await c.done;
    expect(got).toEqual([sizes, sizes]);
    for (const q of [t.host.queue(0), t.endpoint.queue(0)]) {
      expect(q.stats).toMatchObject({ txAsync: 0, txMemcpy: 4, txDmaChannel: null });
    }
  });

  it('sends allocPayload buffers in place (no staging copy) and rejects bad lengths like ntb', async () => {
    const t = await bed.open({ mtu: 4096, ringEntries: 8 });
    const q = t.endpoint.queue(0);
    const buf = q.allocPayload(4084);
    for (let i = 0; i < buf.length; i++) buf[i] = i & 0xff;
    const received: Uint8Array[] = [];
    const c = counter(2);
    t.host.queue(0).receive$.subscribe((d) => { received.push(d); c.poke(); });
    await q.send(buf);
    await q.send(buf.subarray(100, 3100));
    await c.done;
    expect(sameBytes(received[0]!, buf)).toBe(true);
    expect(sameBytes(received[1]!, buf.subarray(100, 3100))).toBe(true);
    expect(q.stats).toMatchObject({ txStagingCopies: 0, txAsync: 2 });
    q.freePayload(buf);
    expect(() => q.freePayload(buf)).toThrow(/EINVAL: endpoint qp0: freePayload/);

    await expect(q.send(new Uint8Array(0))).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(q.send(new Uint8Array(4085))).rejects.toMatchObject({ code: 'EIO', message: expect.stringContaining('4085 exceeds maxPayload 4084') });
    expect(() => t.host.queue(1)).toThrow(/EINVAL: host: queue 1 outside 0..0/);
  });

  it('gives back every byte of both memories once both ports are closed', async () => {
    type Accounted = { bytesInUse: number };
    const inUse = () => [(bed.testbed.host.memory as unknown as Accounted).bytesInUse, (bed.testbed.endpoint.memory as unknown as Accounted).bytesInUse];
    const before = inUse();
    const t = await bed.open({ queues: 3, mtu: 4096, ringEntries: 8 });
    const kept = t.host.queue(2).allocPayload(1000); // never freed by the user: the transport frees it
    const c = counter(2);
    t.endpoint.queue(2).receive$.subscribe(() => c.poke());
    await t.host.queue(2).send(kept.fill(3));
    await t.host.queue(2).send(new Uint8Array(50)); // staged: allocates the staging area
    await c.done;
    expect(inUse()[0]).toBeGreaterThan(before[0]!);
    await t.host.close();
    expect(inUse()[0]).toBeGreaterThan(before[0]!); // the endpoint may still DMA into host rings
    await t.endpoint.close();
    expect(inUse()).toEqual(before);
  });

  it('delivers views of the ring with zeroCopyReceive and copies by default', async () => {
    const t = await bed.open({ mtu: 4096, ringEntries: 4, zeroCopyReceive: true });
    const views: Uint8Array[] = [];
    const seqs: number[] = [];
    const c = counter(20);
    t.endpoint.queue(0).receive$.subscribe((d) => {
      views.push(d);
      seqs.push(seqOf(d)); // read during the callback: valid
      c.poke();
    });
    for (let seq = 0; seq < 20; seq++) await t.host.queue(0).send(makePayload(9, seq, 4084, 4096));
    await c.done;
    expect(seqs).toEqual([...Array(20).keys()]);
    // A view is ring memory: the 4-entry ring was reused, so views alias earlier ones.
    expect(views[0]!.buffer).toBe(views[4]!.buffer);
    expect(views[0]!.byteOffset).toBe(views[4]!.byteOffset);
    expect(t.endpoint.queue(0).stats).toMatchObject({ rxAsync: 20, rxMemcpy: 0 });
  });
});
