#!/usr/bin/env node
/**
 * Soak: traffic on every channel of a testbed while channel workers crash, the link flaps,
 * channels are terminated and released/requested again; every cookie is accounted for (each
 * submitted descriptor settles exactly once, completions$ reports it at most once), every
 * 'ok' transfer's bytes and the guard bytes around them are checked, and every crash and
 * restart must show up exactly once on events$.
 *
 *   npm run soak -- [--duration 60s] [--size 16384] [--depth 4] [--json]
 *
 * Exits 1 if anything was lost, duplicated or corrupted, or the event counts disagree. Runs
 * against the built dist/ (npm run build first).
 */
import { createTestbed } from '../dist/api/index.js';

const GUARD = 64;
const POISON = 0xa5;

function parseArgs(argv) {
  const o = { durationMs: 60_000, size: 16384, depth: 4, json: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[i + 1];
    if (a === '--json') o.json = true;
    else if (a === '--duration') {
      const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(v ?? '');
      if (m === null) throw new Error(`--duration ${v}: expected e.g. 500ms, 30s, 2m`);
      o.durationMs = Number(m[1]) * (m[2] === 'm' ? 60_000 : m[2] === 's' ? 1000 : 1);
      i++;
    } else if (a === '--size' || a === '--depth') {
      const n = Number(v);
      if (!Number.isSafeInteger(n) || n < 1) throw new Error(`${a} ${v}: expected a positive integer`);
      o[a.slice(2)] = n;
      i++;
    } else throw new Error(`unknown argument ${a}`);
  }
  return o;
}

/** Deterministic per-transfer pattern: never all POISON, differs per cookie and offset. */
function fillPattern(bytes, length, seed) {
  for (let i = 0; i < length; i++) bytes[i] = (seed * 31 + i * 7 + (i >>> 8)) & 0xff ^ 0x5a;
}

export async function soak(options) {
  const o = { durationMs: 5000, size: 16384, depth: 4, ...options };
  const tb = await createTestbed({
    endpoint: { memoryBytes: 16 << 20, writeChannels: 2, readChannels: 2 },
    host: { memoryBytes: 16 << 20 },
    // Crashes come faster than OTP's default intensity allows: the soak wants restarts, not stops.
    supervision: { maxRestarts: 1000, withinMs: 1000, backoffMs: 2 },
  });
  const r = {
    durationMs: o.durationMs, transfers: 0, bytes: 0, aborted: 0, abortReasons: {},
    lost: 0, duplicated: 0, corrupted: 0, strayBytes: 0,
    crashCalls: 0, crashFailures: 0, flaps: 0, terminates: 0, churns: 0,
    events: { 'channel-crashed': 0, 'channel-restarted': 0, 'channel-stopped': 0, 'link-down': 0, 'link-up': 0 },
    failures: [],
  };
  const eventSub = tb.events$.subscribe((e) => {
    if (e.type in r.events) r.events[e.type]++;
  });
  const lanes = [];
  try {
    for (const side of [tb.host, tb.endpoint]) {
      const other = side === tb.host ? tb.endpoint : tb.host;
      for (const info of side.dma.channels) {
        const chan = await side.dma.requestChannel({ name: info.name });
        const memToDev = info.direction === 'mem-to-dev';
        const srcMem = memToDev ? side.memory : other.memory;
        const dstMem = memToDev ? other.memory : side.memory;
        const lane = { side, info, chan, memToDev, slots: [], inflight: 0, gate: null, drained: null, era: 0, settled: new Map(), reported: new Map(), sub: null };
        for (let i = 0; i < o.depth; i++) lane.slots.push({ src: srcMem.alloc(o.size), dst: dstMem.alloc(o.size + 2 * GUARD) });
        lanes.push(lane);
      }
    }
    const watch = (lane) => {
      lane.sub = lane.chan.completions$.subscribe((c) => {
        const n = (lane.reported.get(c.cookie) ?? 0) + 1;
        lane.reported.set(c.cookie, n);
        if (n > 1) r.duplicated++;
      });
    };
    lanes.forEach(watch);

    let running = true;
    const deadline = performance.now() + o.durationMs;
    const runSlot = async (lane, slot, slotIndex) => {
      let seed = slotIndex + 1;
      while (running) {
        if (lane.gate !== null) {
          await lane.gate;
          continue;
        }
        seed = (seed * 1103515245 + 12345) >>> 0;
        const length = 1 + (seed % o.size);
        fillPattern(slot.src.bytes, length, seed);
        slot.dst.bytes.fill(POISON);
        const local = lane.memToDev ? slot.src.addr : slot.dst.addr + GUARD;
        const remote = lane.memToDev ? slot.dst.addr + GUARD : slot.src.addr;
        lane.inflight++;
        let c;
        try {
          lane.chan.configure({ deviceAddr: remote });
          const d = lane.chan.prepSlaveSingle(local, length);
          const cookie = d.submit();
          lane.chan.issuePending();
          c = await d.done;
          if (c.cookie !== cookie) r.failures.push(`${lane.info.name}: done of cookie ${cookie} carries cookie ${c.cookie}`);
        } finally {
          lane.inflight--;
          if (lane.inflight === 0 && lane.drained !== null) lane.drained();
        }
        // Cookies restart at 1 after a release/request: one accounting era per request.
        const key = `${lane.era}:${c.cookie}`;
        if (lane.settled.has(key)) r.duplicated++;
        lane.settled.set(key, true);
        if (c.result !== 'ok') {
          r.aborted++;
          const why = (c.reason ?? c.result).replace(/ at 0x[0-9a-f]+/, '');
          r.abortReasons[why] = (r.abortReasons[why] ?? 0) + 1;
          continue;
        }
        r.transfers++;
        r.bytes += c.bytes;
        const dst = slot.dst.bytes;
        for (let i = 0; i < length; i++) {
          if (dst[GUARD + i] !== slot.src.bytes[i]) {
            r.corrupted++;
            if (r.failures.length < 8) r.failures.push(`${lane.info.name} cookie ${c.cookie}: byte ${i} is ${dst[GUARD + i]}, expected ${slot.src.bytes[i]}`);
            break;
          }
        }
        for (let i = 0; i < dst.length; i++) {
          if ((i < GUARD || i >= GUARD + length) && dst[i] !== POISON) r.strayBytes++;
        }
      }
    };
    const work = lanes.flatMap((lane) => lane.slots.map((slot, i) => runSlot(lane, slot, i)));

    // Chaos: one action at a time, each awaited, so every call is accounted for.
    const pick = (list) => list[Math.floor(Math.random() * list.length)];
    const pause = (ms) => new Promise((res) => setTimeout(res, ms));
    while (performance.now() < deadline) {
      const action = Math.random();
      const lane = pick(lanes);
      if (action < 0.35) {
        r.crashCalls++;
        try {
          await tb.faults.crashChannel(lane.info.name);
        } catch (err) {
          r.crashFailures++;
          r.failures.push(`crashChannel(${lane.info.name}): ${err.message}`);
        }
      } else if (action < 0.55) {
        r.flaps++;
        await tb.linkDown();
        await pause(5 + Math.random() * 20);
        await tb.linkUp();
      } else if (action < 0.8) {
        r.terminates++;
        await lane.chan.terminateSync();
      } else {
        // Churn: quiesce the lane, release its channel, request it again.
        r.churns++;
        let open;
        lane.gate = new Promise((res) => (open = res));
        if (lane.inflight > 0) await new Promise((res) => (lane.drained = res));
        lane.drained = null;
        lane.sub.unsubscribe();
        await lane.chan.release();
        lane.chan = await lane.side.dma.requestChannel({ name: lane.info.name });
        lane.era++;
        lane.reported = new Map();
        watch(lane);
        lane.gate = null;
        open();
      }
      await pause(10 + Math.random() * 30);
    }
    running = false;
    // Every descriptor must settle: what has not within the grace period is lost.
    let timer;
    const grace = new Promise((res) => (timer = setTimeout(res, 15_000, 'timeout')));
    const outcome = await Promise.race([Promise.all(work), grace]);
    clearTimeout(timer);
    if (outcome === 'timeout') {
      r.lost = lanes.reduce((n, l) => n + l.inflight, 0);
      throw Object.assign(new Error(`soak: ${r.lost} descriptors never settled`), { report: r });
    }
    // The last crash's restart must be on events$ before the counts are compared; the side
    // engines' settled() (not in the public types) resolves once it is.
    for (const lane of lanes) await lane.side.dma.settled?.(lane.info.name);
    for (const lane of lanes) {
      for (const slot of lane.slots) {
        (lane.memToDev ? lane.side.memory : otherSide(tb, lane.side).memory).free(slot.src);
        (lane.memToDev ? otherSide(tb, lane.side).memory : lane.side.memory).free(slot.dst);
      }
      lane.sub.unsubscribe();
      await lane.chan.release();
    }
  } finally {
    eventSub.unsubscribe();
    await tb.close();
  }
  const ev = r.events;
  const successfulCrashes = r.crashCalls - r.crashFailures;
  r.ok = r.lost === 0 && r.duplicated === 0 && r.corrupted === 0 && r.strayBytes === 0 && r.crashFailures === 0 &&
    ev['channel-crashed'] === successfulCrashes && ev['channel-restarted'] === successfulCrashes && ev['channel-stopped'] === 0 &&
    ev['link-down'] === r.flaps && ev['link-up'] === r.flaps && r.failures.length === 0;
  return r;
}

function otherSide(tb, side) {
  return side === tb.host ? tb.endpoint : tb.host;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const o = parseArgs(process.argv.slice(2));
  const started = Date.now();
  const r = await soak(o);
  if (o.json) process.stdout.write(`${JSON.stringify(r)}\n`);
  else {
    const s = (Date.now() - started) / 1000;
    console.log(`soak ${s.toFixed(1)} s: ${r.transfers} transfers ok (${(r.bytes / 2 ** 20).toFixed(1)} MiB), ${r.aborted} aborted`);
    console.log(`  chaos: ${r.crashCalls} crashChannel (${r.crashFailures} failed), ${r.flaps} link flaps, ${r.terminates} terminates, ${r.churns} channel churns`);
    console.log(`  events: ${JSON.stringify(r.events)}`);
    console.log(`  lost ${r.lost}, duplicated ${r.duplicated}, corrupted ${r.corrupted}, stray bytes ${r.strayBytes}`);
    console.log(`  aborted by reason: ${JSON.stringify(r.abortReasons)}`);
    for (const f of r.failures) console.log(`  FAIL ${f}`);
    console.log(r.ok ? 'OK' : 'FAILED');
  }
  process.exitCode = r.ok ? 0 : 1;
}
