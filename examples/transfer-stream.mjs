// Subscribe to a transfer stream: the host moves a buffer into EP memory through a
// delegated read channel, and a second subscriber watches every completion of the testbed.
// Run: npm run build && node examples/transfer-stream.mjs
import { createTestbed } from 'epdma';
import { lastValueFrom } from 'rxjs';

const bed = await createTestbed();
try {
  const watcher = bed.completions$.subscribe((c) =>
    console.log(`${c.channel.name} cookie ${c.cookie}: ${c.result}, ${c.bytes} bytes in ${Number(c.completedNs - c.submittedNs) / 1000} us`));

  const chan = await bed.host.dma.requestChannel({ direction: 'mem-to-dev' });
  const src = bed.host.memory.alloc(1 << 20);
  const dst = bed.endpoint.memory.alloc(1 << 20);
  src.bytes.fill(0x5a);

  for (let i = 0; i < 3; i++) {
    await lastValueFrom(chan.transfer({ local: src, remote: dst.addr, length: src.length }));
  }
  console.log('EP memory holds the data:', dst.bytes.every((b) => b === 0x5a));
  watcher.unsubscribe();
  await chan.release();
} finally {
  await bed.close(); // Node 20 has no `await using` in plain JS
}
