// A pipeline with RxJS operators: the endpoint streams 64 KiB blocks into host memory over
// all of its write channels at once; the merged completion stream is windowed into a
// throughput reading every 100 ms.
// Run: npm run build && node examples/rx-pipeline.mjs
import { createTestbed } from 'epdma';
import { bufferTime, filter, lastValueFrom, map, mergeMap, range, take } from 'rxjs';

const bed = await createTestbed();
try {
  const channels = await Promise.all(bed.endpoint.dma.channels.map((c) => bed.endpoint.dma.requestChannel({ name: c.name })));
  const block = 64 * 1024;
  const src = bed.endpoint.memory.alloc(block);
  const dst = bed.host.memory.alloc(block * channels.length);

  const rate = bed.endpoint.dma.completions$.pipe(
    bufferTime(100),
    filter((batch) => batch.length > 0),
    map((batch) => batch.reduce((sum, c) => sum + c.bytes, 0) / 0.1 / 1e6),
    take(5),
  ).subscribe((mbps) => console.log(`EP -> host: ${mbps.toFixed(0)} MB/s`));

  // 4000 transfers, spread over the channels, at most 8 in flight per channel.
  await lastValueFrom(range(0, 4000).pipe(
    mergeMap((i) => {
      const k = i % channels.length;
      return channels[k].transfer({ local: src, remote: dst.addr + k * block, length: block });
    }, 8 * channels.length),
  ), { defaultValue: undefined });
  rate.unsubscribe();
  await Promise.all(channels.map((c) => c.release()));
  console.log('all channels released');
} finally {
  await bed.close(); // Node 20 has no `await using` in plain JS
}
