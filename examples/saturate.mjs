// Saturate every channel of both sides with verified traffic for two seconds and print the
// fio-style summary: what `epdma loadtest` does, as a library call.
// Run: npm run build && node examples/saturate.mjs
import { createTestbed, loadTest } from 'epdma';
import { lastValueFrom } from 'rxjs';

const bed = await createTestbed();
try {
  const result = await lastValueFrom(loadTest(bed, { side: 'both', size: [4096, 256 * 1024], depth: 8, durationMs: 2000 }));
  for (const ch of result.channels) {
    console.log(`${ch.name.padEnd(13)} ${String(ch.transfers).padStart(6)} transfers ${(ch.throughputBytesPerSec / 1e6).toFixed(0).padStart(6)} MB/s p99 ${ch.p99Us.toFixed(0)} us`);
  }
  console.log(`total ${(result.throughputBytesPerSec / 1e6).toFixed(0)} MB/s, ${result.errors} errors, ${result.mismatches} mismatching bytes`);
  process.exitCode = result.errors + result.mismatches > 0 ? 1 : 0;
} finally {
  await bed.close(); // Node 20 has no `await using` in plain JS
}
