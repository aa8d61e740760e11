#!/usr/bin/env node
/**
 * Main-thread heap bytes allocated per 64-byte transfer in steady state (issue 12, item 1):
 * `npm run alloc` (or node --expose-gc --min-semi-space-size=256 --max-semi-space-size=256
 * scripts/alloc-per-op.mjs
 * [--ops N] [--depth N] [--root DIR]).
 *
 * For each way of consuming completions it runs a warm-up, collects garbage, and then counts
 * what the main thread's heap grew by over N transfers with `depth` in flight on one channel.
 * The young generation is made large enough that no collection runs inside the window, so the
 * growth is what was allocated; a window in which the collector did run is reported as invalid
 * (exit 1) rather than as a number. Channel workers have heaps of their own: not counted.
 *
 * Modes:
 *   none        nobody subscribed: windows of `depth`, the last descriptor's `done` awaited
 *   subscriber  a completions$ subscriber resubmits from its callback (small-ops)
 *   batch       a completionBatches$ subscriber resubmits per batch (small-ops-batch)
 * What a mode must allocate per transfer: the TxDescriptor prep returns; with a subscriber, the
 * Completion it is handed (and its two bigint timestamps). Everything else is per drain pass
 * or per wakeup and shrinks per transfer as passes grow.
 */
import { PerformanceObserver } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const { values } = parseArgs({
  options: {
    ops: { type: 'string', default: '200000' },
    depth: { type: 'string', default: '32' },
    root: { type: 'string', default: path.join(path.dirname(fileURLToPath(import.meta.url)), '..') },
  },
});
const OPS = Number(values.ops);
const DEPTH = Number(values.depth);
if (typeof globalThis.gc !== 'function') {
  console.error('alloc-per-op: run with --expose-gc (npm run alloc does)');
  process.exit(2);
}
const { createTestbed } = await import(path.join(path.resolve(values.root), 'dist/api/index.js'));

let gcs = 0;
// Collections the script forces itself (flag kGCCallbackFlagForced) are not counted.
const FORCED = 4;
const observer = new PerformanceObserver((list) => {
  for (const e of list.getEntries()) if ((e.detail.flags & FORCED) === 0) gcs++;
});
observer.observe({ entryTypes: ['gc'] });

const bed = await createTestbed();
const src = bed.host.memory.alloc(64);
const dst = bed.endpoint.memory.alloc(64);

/** Runs `ops` transfers with one way of consuming completions; resolves when all completed. */
async function run(mode, ops) {
  const chan = await bed.host.dma.requestChannel({ direction: 'mem-to-dev' });
  chan.configure({ deviceAddr: dst.addr });
  let submitted = 0;
  let completed = 0;
  let finish;
  const finished = new Promise((resolve) => (finish = resolve));
  const submit = () => {
    chan.prepSlaveSingle(src.addr, 64).submit();
    submitted++;
  };
  let issueQueued = false;
  const issue = () => {
    issueQueued = false;
    chan.issuePending();
  };
  const onCompletion = () => {
    completed++;
    if (submitted < ops) {
      submit();
      if (!issueQueued) {
        issueQueued = true;
        queueMicrotask(issue);
      }
    } else if (completed === ops) finish();
  };
  let sub;
  if (mode === 'subscriber') sub = chan.completions$.subscribe(onCompletion);
  else if (mode === 'batch') {
    sub = bed.host.dma.completionBatches$.subscribe((batch) => {
      for (let i = 0; i < batch.length; i++) {
        completed++;
        if (submitted < ops) submit();
      }
      if (completed === ops) finish();
      else chan.issuePending();
    });
  } else {
    // Windows of `depth`: only the last descriptor of a window is awaited through `done`.
    for (;;) {
      let last;
      while (submitted < ops && submitted - completed < DEPTH) {
        last = chan.prepSlaveSingle(src.addr, 64);
        last.submit();
        submitted++;
      }
      chan.issuePending();
      await last.done;
      completed = submitted;
      if (completed === ops) break;
    }
    finish();
  }
  if (mode !== 'none') {
    for (let i = 0; i < DEPTH && submitted < ops; i++) submit();
    chan.issuePending();
  }
  await finished;
  sub?.unsubscribe();
  await chan.release();
}

let invalid = false;
console.log(`main-thread heap growth per 64-byte transfer, ${OPS} transfers, depth ${DEPTH} (${values.root})`);
for (const mode of ['none', 'subscriber', 'batch']) {
  await run(mode, Math.max(20_000, OPS / 10)); // warm-up: optimized code, grown queues
  globalThis.gc();
  await new Promise((r) => setImmediate(r));
  const gcBefore = gcs;
  const before = process.memoryUsage().heapUsed;
  await run(mode, OPS);
  const grown = process.memoryUsage().heapUsed - before;
  await new Promise((r) => setImmediate(r)); // let the observer see a collection in the window
  const collected = gcs - gcBefore;
  if (collected > 0) invalid = true;
  console.log(`${mode.padEnd(10)} ${collected > 0 ? `invalid: ${collected} collections ran in the window (raise --max-semi-space-size)` : `${(grown / OPS).toFixed(1)} bytes/transfer`}`);
}
observer.disconnect();
await bed.close();
process.exitCode = invalid ? 1 : 0;
