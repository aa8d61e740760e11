// Native memcpy (the addon's copy()) against TypedArray.prototype.set on shared memory.
//
// The design says the data-plane copy is `dst.set(src.subarray(...))`; this measures whether a
// native call would be worth its per-call cost. Both plain SharedArrayBuffers and file-backed
// mappings from mapShared (/dev/shm, as in two-process mode) are measured, and plain (unshared)
// ArrayBuffers for reference: V8 copies into and out of SharedArrayBuffers with relaxed-atomic
// loops rather than memcpy, which is the gap this bench exists to show.
//
//   node bench/native-copy.mjs [--reps 15] [--json]
//
// Each sample copies the same total (64 MiB, at least one copy) so small sizes are not lost in
// timer noise; set and native samples alternate; warm-up samples are dropped; the median of
// --reps samples is reported as GB/s (1e9 bytes/s) with native/set (> 1: native is faster).
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

const addonPath = new URL('../build/Release/epdma_native.node', import.meta.url);
let addon;
try {
  addon = createRequire(import.meta.url)(addonPath.pathname);
} catch (err) {
  console.error(`native-copy: cannot load ${addonPath.pathname} (${err.message}); run node scripts/build-native.mjs`);
  process.exit(1);
}

const args = process.argv.slice(2);
const repsArg = args.indexOf('--reps');
const REPS = repsArg >= 0 ? Number(args[repsArg + 1]) : 15;
const JSON_OUT = args.includes('--json');
const WARMUP = 3;
const BYTES_PER_SAMPLE = 64 * 1024 * 1024;
const SIZES = [4 * 1024, 64 * 1024, 1024 * 1024, 16 * 1024 * 1024];

function label(size) {
  return size >= 1024 * 1024 ? `${size / (1024 * 1024)} MiB` : `${size / 1024} KiB`;
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

// One sample: `iterations` copies of `size` bytes; returns GB/s.
function sampleSet(dst, src, size, iterations) {
  const view = src.subarray(0, size);
  const t0 = performance.now();
  for (let i = 0; i < iterations; i++) dst.set(view, 0);
  const ms = performance.now() - t0;
  return (size * iterations) / (ms * 1e6);
}

function sampleNative(dst, src, size, iterations) {
  const t0 = performance.now();
  for (let i = 0; i < iterations; i++) addon.copy(dst, 0, src, 0, size);
  const ms = performance.now() - t0;
  return (size * iterations) / (ms * 1e6);
}

function measure(memory, dst, src, size) {
  // Touch every page first so page faults are not measured.
  src.fill(0xa5);
  dst.fill(0);
  const iterations = Math.max(1, Math.floor(BYTES_PER_SAMPLE / size));
  const setRuns = [];
  const nativeRuns = [];
  for (let rep = 0; rep < WARMUP + REPS; rep++) {
    // Alternate which goes first so drift (frequency, other load) hits both alike.
    const first = rep % 2 === 0;
    const a = first ? sampleSet(dst, src, size, iterations) : sampleNative(dst, src, size, iterations);
    const b = first ? sampleNative(dst, src, size, iterations) : sampleSet(dst, src, size, iterations);
    if (rep < WARMUP) continue;
    setRuns.push(first ? a : b);
    nativeRuns.push(first ? b : a);
  }
  if (dst[size - 1] !== 0xa5) throw new Error(`copy did not reach the last byte (${memory}, ${label(size)})`);
  const set = median(setRuns);
  const native = median(nativeRuns);
  return { memory, size, label: label(size), iterations, setGBps: set, nativeGBps: native, ratio: native / set };
}

const results = [];
const dir = mkdtempSync('/dev/shm/epdma-bench-copy-');
try {
  for (const size of SIZES) {
    const src = new Uint8Array(new SharedArrayBuffer(size));
    const dst = new Uint8Array(new SharedArrayBuffer(size));
    results.push(measure('sab', dst, src, size));
  }
  for (const size of SIZES) {
    results.push(measure('ab', new Uint8Array(size), new Uint8Array(size), size));
  }
  for (const size of SIZES) {
    const src = new Uint8Array(addon.mapShared(join(dir, `src-${size}`), size));
    const dst = new Uint8Array(addon.mapShared(join(dir, `dst-${size}`), size));
    results.push(measure('mmap', dst, src, size));
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

if (JSON_OUT) {
  process.stdout.write(`${JSON.stringify({ reps: REPS, results }, null, 2)}\n`);
} else {
  console.log(`native copy() vs TypedArray.prototype.set, median of ${REPS} samples (GB/s = 1e9 B/s)`);
  console.log('memory  size      set GB/s  native GB/s  native/set');
  for (const r of results) {
    console.log(
      `${r.memory.padEnd(6)}  ${r.label.padEnd(8)}  ${r.setGBps.toFixed(2).padStart(8)}  ${r.nativeGBps
        .toFixed(2)
        .padStart(11)}  ${r.ratio.toFixed(2).padStart(10)}`,
    );
  }
}
