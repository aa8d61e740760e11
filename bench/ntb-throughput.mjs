// One-shot throughput probe of the NTB transport (not a test: vitest only runs *.test.ts).
// usage: node test/api/ntb/ntb-throughput.mjs [count=2000] [size=65536] [zero-copy-receive: zc]
// Sends `count` payloads of `size` bytes host->EP on one queue, once with DMA (payloads in host
// DMA memory from allocPayload: zero copy) and once with useDma: false (piscina CPU copies), and
// prints MB/s for each. Timing belongs here, never in the unit tests.
import { createRequire } from 'node:module';
import { createTestbed } from '../dist/api/testbed.js';
import { createNtbTransport } from '../dist/api/ntb/ntb-transport.js';

const { firstValueFrom, filter } = createRequire(import.meta.url)('rxjs');
const count = Number(process.argv[2] ?? 2000);
const size = Number(process.argv[3] ?? 65536);
const zeroCopyReceive = process.argv[4] === 'zc';

async function run(useDma) {
  const testbed = await createTestbed();
  const t = await createNtbTransport(testbed, { mtu: size + 64, ringEntries: 64, useDma, zeroCopyReceive });
  try {
    await firstValueFrom(t.host.link$.pipe(filter(Boolean)));
    await firstValueFrom(t.endpoint.link$.pipe(filter(Boolean)));
    const q = t.host.queue(0);
    const bufs = Array.from({ length: 64 }, (_, i) => q.allocPayload(size).fill(i));
    let received = 0;
    let bytes = 0;
    const all = new Promise((resolve) => {
      t.endpoint.queue(0).receive$.subscribe((d) => {
        bytes += d.length;
        if (++received === count) resolve();
      });
    });
    const start = process.hrtime.bigint();
    const sends = [];
    for (let i = 0; i < count; i++) sends.push(q.send(bufs[i % bufs.length]));
    await Promise.all(sends);
    await all;
    const ns = Number(process.hrtime.bigint() - start);
    const s = q.stats;
    console.log(`${useDma ? 'DMA     ' : 'CPU only'}${zeroCopyReceive ? ' (zero-copy receive)' : ''}: ${count} x ${size} B host->EP in ${(ns / 1e6).toFixed(0)} ms = ${(bytes / (ns / 1e9) / 1e6).toFixed(0)} MB/s` +
      ` (tx_async ${s.txAsync}, tx_memcpy ${s.txMemcpy}, staging ${s.txStagingCopies}, ring full ${s.txRingFull})`);
  } finally {
    await t.close();
    await testbed.close();
  }
}

await run(true);
await run(false);
