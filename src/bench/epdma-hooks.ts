/**
 * epdma's side of every bench scenario, through the public API only: a default testbed,
 * channels requested like an application would, completions taken from the RxJS streams.
 * Resubmission happens in the completion subscriber and issuePending is batched to one call
 * per channel per microtask, as a DMAengine client issuing from its callback would do.
 */
import { createTestbed } from '../api/testbed.js';
import type { Completion, DmaBuffer, DmaChannel, Testbed } from '../api/types.js';
import { createNtbTransport } from '../api/ntb/ntb-transport.js';
import { loadTest } from '../api/loadtest/loadtest.js';
import { lastValueFrom } from 'rxjs';
import type { EpdmaBenchHooks, NtbBenchOptions, NtbBenchResult } from './scenarios.js';
import { threadCpuTimeNs } from './harness.js';

const SLOTS = 4;

interface Lane {
  chan: DmaChannel;
  src: DmaBuffer;
  dst: DmaBuffer;
  issueQueued: boolean;
}

export async function createEpdmaBenchHooks(): Promise<EpdmaBenchHooks> {
  let bed: (Testbed & AsyncDisposable) | undefined;
  const testbed = async (): Promise<Testbed> => (bed ??= await createTestbed({ host: { memoryBytes: 128 << 20 } }));

  /** Channels moving host memory -> EP memory (host side) and EP -> host (endpoint side). */
  const lanes = async (count: number | 'all', size: number, depth: number): Promise<Lane[]> => {
    const b = await testbed();
    const infos = [...b.host.dma.channels, ...b.endpoint.dma.channels].filter((c) => c.direction === 'mem-to-dev');
    const picked = count === 'all' ? infos : infos.slice(0, count);
    const out: Lane[] = [];
    for (const info of picked) {
      const own = info.side === 'host' ? b.host : b.endpoint;
      const other = info.side === 'host' ? b.endpoint : b.host;
      const chan = await own.dma.requestChannel({ name: info.name });
      const src = own.memory.alloc(size);
      // Every transfer reads the same source; destinations rotate over a few slots.
      const dst = other.memory.alloc(size * SLOTS);
      chan.configure({ deviceAddr: dst.addr });
      out.push({ chan, src, dst, issueQueued: false });
    }
    return out;
  };

  const release = async (ls: Lane[]): Promise<void> => {
    const b = await testbed();
    for (const l of ls) {
      await l.chan.release();
      (l.chan.info.side === 'host' ? b.host : b.endpoint).memory.free(l.src);
      (l.chan.info.side === 'host' ? b.endpoint : b.host).memory.free(l.dst);
    }
  };

  /**
   * Keeps `depth` transfers in flight on every lane for `durationMs`, resubmitting from the
   * completion subscriber; returns completed transfers and bytes.
   */
  const saturate = async (ls: Lane[], size: number, depth: number, durationMs: number): Promise<{ ops: number; bytes: number; seconds: number }> => {
    let ops = 0;
    let bytes = 0;
    let running = true;
    let inFlight = 0;
    let drained: () => void = () => undefined;
    const allDone = new Promise<void>((r) => (drained = r));
    const submit = (l: Lane, slot: number): void => {
      l.chan.configure({ deviceAddr: l.dst.addr + slot * size });
      l.chan.prepSlaveSingle(l.src.addr, size).submit();
      inFlight++;
      if (!l.issueQueued) {
        l.issueQueued = true;
        queueMicrotask(() => {
          l.issueQueued = false;
          l.chan.issuePending();
        });
      }
    };
    const subs = ls.map((l) => l.chan.completions$.subscribe((c: Completion) => {
      inFlight--;
      if (c.result === 'ok') {
        ops++;
        bytes += c.bytes;
      }
      if (running) submit(l, c.cookie % SLOTS);
      else if (inFlight === 0) drained();
    }));
    const t0 = performance.now();
    for (const l of ls) for (let i = 0; i < depth; i++) submit(l, i % SLOTS);
    await new Promise((r) => setTimeout(r, durationMs));
    const seconds = (performance.now() - t0) / 1000;
    const counted = { ops, bytes, seconds };
    running = false;
    if (inFlight > 0) await allDone;
    for (const s of subs) s.unsubscribe();
    return counted;
  };

  return {
    async copyBandwidth({ channels, size, depth, durationMs }) {
      const ls = await lanes(channels, size, depth);
      try {
        const r = await saturate(ls, size, depth, durationMs);
        return r.bytes / r.seconds;
      } finally {
        await release(ls);
      }
    },

    async smallOps({ depth, durationMs }) {
      const ls = await lanes(1, 64, depth);
      try {
        const r = await saturate(ls, 64, depth, durationMs);
        return r.ops / r.seconds;
      } finally {
        await release(ls);
      }
    },

    async smallOpsBatch({ depth, durationMs }) {
      const ls = await lanes(1, 64, depth);
      const [lane] = ls;
      const l = lane!;
      const side = l.chan.info.side === 'host' ? (await testbed()).host : (await testbed()).endpoint;
      try {
        let ops = 0;
        let running = true;
        let inFlight = 0;
        let drained: () => void = () => undefined;
        const allDone = new Promise<void>((r) => (drained = r));
        // One resubmission per completion and one issuePending per batch, from the batch stream.
        const sub = side.dma.completionBatches$.subscribe((batch) => {
          for (let i = 0; i < batch.length; i++) {
            if (batch[i]!.channel !== l.chan.info) continue;
            inFlight--;
            if (batch[i]!.result === 'ok') ops++;
            if (running) {
              l.chan.prepSlaveSingle(l.src.addr, 64).submit();
              inFlight++;
            }
          }
          if (running) l.chan.issuePending();
          else if (inFlight === 0) drained();
        });
        const t0 = performance.now();
        for (let i = 0; i < depth; i++) l.chan.prepSlaveSingle(l.src.addr, 64).submit();
        inFlight = depth;
        l.chan.issuePending();
        await new Promise((r) => setTimeout(r, durationMs));
        const seconds = (performance.now() - t0) / 1000;
        const counted = ops;
        running = false;
        if (inFlight > 0) await allDone;
        sub.unsubscribe();
        return counted / seconds;
      } finally {
        await release(ls);
      }
    },

    async loadTest({ verify, durationMs }) {
      const final = await lastValueFrom(loadTest(await testbed(), { durationMs, verify }));
      if (final.errors > 0 || final.mismatches > 0) throw new Error(`loadtest: ${final.errors} errors, ${final.mismatches} mismatches`);
      return final.throughputBytesPerSec;
    },

    async latency({ samples }) {
      const [l] = await lanes(1, 64, 1);
      const lane = l!;
      const us: number[] = [];
      try {
        await new Promise<void>((resolve) => {
          let t = 0n;
          const sub = lane.chan.completions$.subscribe(() => {
            us.push(Number(process.hrtime.bigint() - t) / 1000);
            if (us.length >= samples) {
              sub.unsubscribe();
              resolve();
              return;
            }
            t = process.hrtime.bigint();
            lane.chan.prepSlaveSingle(lane.src.addr, 64).submit();
            lane.chan.issuePending();
          });
          t = process.hrtime.bigint();
          lane.chan.prepSlaveSingle(lane.src.addr, 64).submit();
          lane.chan.issuePending();
        });
      } finally {
        await release([lane]);
      }
      us.sort((a, b) => a - b);
      const at = (p: number): number => us[Math.min(us.length - 1, Math.floor(p * us.length))]!;
      return { p50Us: at(0.5), p99Us: at(0.99) };
    },

    async ntb(opts: NtbBenchOptions): Promise<NtbBenchResult> {
      const b = await testbed();
      const { host, endpoint } = await createNtbTransport(b, { queues: 1, mtu: opts.payload + 64, ringEntries: Math.max(16, opts.depth * 2), useDma: opts.useDma ?? true, zeroCopyReceive: true });
      try {
        const tx = host.queue(0);
        const rx = endpoint.queue(0);
        let received = 0;
        const sub = rx.receive$.subscribe((p) => (received += p.length));
        const payload = tx.allocPayload(opts.payload);
        payload.fill(0x3c);
        const cpu0 = threadCpuTimeNs();
        const t0 = performance.now();
        const deadline = t0 + opts.durationMs;
        const senders = Array.from({ length: opts.depth }, async () => {
          while (performance.now() < deadline) await tx.send(payload);
        });
        await Promise.all(senders);
        const seconds = (performance.now() - t0) / 1000;
        const cpuMs = (threadCpuTimeNs() - cpu0) / 1e6;
        sub.unsubscribe();
        const gib = received / 2 ** 30;
        return { bytesPerSec: received / seconds, mainThreadCpuMsPerGiB: gib > 0 ? cpuMs / gib : Infinity };
      } finally {
        await host.close();
        await endpoint.close();
      }
    },

    async idle({ durationMs }) {
      // A fresh default testbed (4 + 4 engine channels, 8 channel actors), left alone.
      await using idleBed = await createTestbed();
      void idleBed;
      await new Promise((r) => setTimeout(r, 1000)); // let the workers settle into their longest sleep
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      await new Promise((r) => setTimeout(r, durationMs));
      const c = process.cpuUsage(c0);
      const wallUs = (performance.now() - t0) * 1000;
      return (100 * (c.user + c.system)) / wallUs;
    },

    // A fresh testbed per scenario: no channel workers of one scenario run beside the next
    // scenario's peers, and no buffer or channel state leaks from one to the next.
    async afterScenario() {
      await bed?.close();
      bed = undefined;
    },

    async close() {
      await bed?.close();
      bed = undefined;
    },
  };
}
