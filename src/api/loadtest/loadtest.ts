import { Observable } from 'rxjs';
import { EpdmaError, hex } from '../../device/errors.js';
import { createCpuPool, type CpuPool } from '../../workers/cpu-pool.js';
import type { Completion, DmaBuffer, DmaChannel, DmaMemory, Testbed } from '../types.js';
import { LoadStatsAccumulator, type LoadProgress } from './load-stats.js';

export interface LoadTestOptions {
  side?: 'host' | 'endpoint' | 'both';
  channels?: number | 'all';
  size?: number | [min: number, max: number];
  depth?: number;
  durationMs?: number;
  iterations?: number;
  verify?: boolean;
  /**
   * Duration runs only: run this long first, then reset every counter and the clock, so the
   * rates and percentiles leave out start-up (pools spinning up, caches cold). Default 0.
   */
  warmupMs?: number;
  /** Progress snapshot period (default 250 ms). */
  progressMs?: number;
  /** Fault injection for tests: called after a transfer completed, before it is verified. */
  onCompleted?: (info: { channel: string; transfer: number; dst: DmaBuffer; window: { offset: number; length: number } }) => void;
}

/** What a finished run can give a report besides the last progress. */
export interface LoadTestRun {
  readonly accumulator: LoadStatsAccumulator;
  readonly firstMismatches: string[];
  readonly errorReasons: string[];
}

/** Guard bytes on each side of a destination window (verify checks nothing outside is written). */
export const GUARD = 64;
const MAX_REPORTS = 8;

interface Slot {
  readonly src: DmaBuffer;
  /** Destination buffer with guard bytes around the window [GUARD, GUARD + max). */
  readonly dst: DmaBuffer;
}

interface Lane {
  readonly chan: DmaChannel;
  readonly name: string;
  readonly srcMem: DmaMemory;
  readonly dstMem: DmaMemory;
  /** Local (this side's) buffer is the source for mem-to-dev, the destination otherwise. */
  readonly memToDev: boolean;
  readonly slots: Slot[];
  issued: number;
  issueQueued: boolean;
}

/**
 * dmatest/fio-style load over a testbed's channels (API.md "Load test"): each channel keeps
 * `depth` transfers in flight, sizes fixed or random in a range, for a duration or a number of
 * iterations per channel. With verify, every transfer's source is filled with a position-
 * and seed-encoding pattern and its destination window poisoned with guard bytes around it
 * (in the piscina pool, off the channels' threads); after completion the window and guards
 * are checked. Emits a snapshot every `progressMs` and a final one, then completes.
 * Unsubscribing stops issuing and releases the channels.
 */
export function loadTest(testbed: Testbed, options: LoadTestOptions = {}, run?: (r: LoadTestRun) => void): Observable<LoadProgress> {
  const o = normalize(options);
  return new Observable<LoadProgress>((subscriber) => {
    let stopped = false;
    let pool: CpuPool | undefined;
    const lanes: Lane[] = [];
    let timer: NodeJS.Timeout | undefined;
    let warmupTimer: NodeJS.Timeout | undefined;
    const allocated: { mem: DmaMemory; buf: DmaBuffer }[] = [];
    const firstMismatches: string[] = [];
    const errorReasons: string[] = [];

    const cleanup = async (): Promise<void> => {
      stopped = true;
      if (timer !== undefined) clearInterval(timer);
      clearTimeout(warmupTimer);
      await Promise.allSettled(lanes.map((l) => l.chan.release()));
      for (const a of allocated.splice(0)) {
        try { a.mem.free(a.buf); } catch { /* already freed */ }
      }
      await pool?.close();
    };

    (async () => {
      const picked = await pickChannels(testbed, o.side, o.channels);
      const acc = new LoadStatsAccumulator(picked.map((p) => p.chan.info.name));
      run?.({ accumulator: acc, firstMismatches, errorReasons });
      const alloc = (mem: DmaMemory, bytes: number): DmaBuffer => {
        try {
          const buf = mem.alloc(bytes, { align: 64 });
          allocated.push({ mem, buf });
          return buf;
        } catch (err) {
          throw new EpdmaError('ENOMEM', `loadtest: ${picked.length} channels x depth ${o.depth} x ${hex(o.maxSize)} bytes do not fit in memory (${(err as Error).message})`);
        }
      };
      for (const p of picked) {
        lanes.push(p);
        for (let i = 0; i < o.depth; i++) p.slots.push({ src: alloc(p.srcMem, o.maxSize), dst: alloc(p.dstMem, o.maxSize + 2 * GUARD) });
      }
      if (o.verify) pool = createCpuPool({ maxThreads: 1 });
      let started = performance.now();
      let deadline = o.iterations === undefined ? started + o.warmupMs + o.durationMs : Infinity;
      timer = setInterval(() => subscriber.next(acc.snapshot(performance.now() - started, false)), o.progressMs);
      timer.unref();
      if (o.warmupMs > 0) {
        warmupTimer = setTimeout(() => {
          acc.reset();
          started = performance.now();
          // The measured part lasts durationMs however late this timer fired.
          deadline = started + o.durationMs;
        }, o.warmupMs).unref();
      }

      const issueSoon = (lane: Lane): void => {
        // One doorbell per channel per tick, however many slots submitted in it.
        if (lane.issueQueued) return;
        lane.issueQueued = true;
        queueMicrotask(() => {
          lane.issueQueued = false;
          lane.chan.issuePending();
        });
      };

      const runSlot = async (lane: Lane, slot: Slot, slotIndex: number): Promise<void> => {
        const stats = acc.channel(lane.name);
        let seed = slotIndex * 100_003 + 1;
        while (!stopped && performance.now() < deadline && (o.iterations === undefined || lane.issued < o.iterations)) {
          lane.issued++;
          const n = lane.issued;
          const length = o.minSize === o.maxSize ? o.maxSize : o.minSize + Math.floor(Math.random() * (o.maxSize - o.minSize + 1));
          seed = (seed + 7919) >>> 0;
          if (pool !== undefined) {
            await pool.fill({ src: sab(slot.src), srcOffset: slot.src.bytes.byteOffset, length, seed, dst: sab(slot.dst), dstOffset: slot.dst.bytes.byteOffset + GUARD, guardBytes: GUARD });
          }
          if (stopped) return;
          const local = lane.memToDev ? slot.src.addr : slot.dst.addr + GUARD;
          const remote = lane.memToDev ? slot.dst.addr + GUARD : slot.src.addr;
          lane.chan.configure({ deviceAddr: remote });
          const d = lane.chan.prepSlaveSingle(local, length);
          d.submit();
          issueSoon(lane);
          const c: Completion = await d.done;
          if (c.result !== 'ok') {
            stats.recordError();
            if (errorReasons.length < MAX_REPORTS) errorReasons.push(`${lane.name} cookie ${c.cookie}: ${c.result} ${c.reason ?? ''}`.trim());
            continue;
          }
          o.onCompleted?.({ channel: lane.name, transfer: n, dst: slot.dst, window: { offset: GUARD, length } });
          let mismatches = 0;
          if (pool !== undefined) {
            const v = await pool.verify({ dst: sab(slot.dst), dstOffset: slot.dst.bytes.byteOffset + GUARD, length, seed, guardBytes: GUARD, maxReports: MAX_REPORTS });
            mismatches = v.mismatches;
            for (const line of v.first) if (firstMismatches.length < MAX_REPORTS) firstMismatches.push(`${lane.name} transfer ${n}: ${line}`);
          }
          stats.recordTransfer(c.bytes, c.completedNs - c.submittedNs, mismatches);
        }
      };

      await Promise.all(lanes.flatMap((lane) => lane.slots.map((slot, i) => runSlot(lane, slot, i))));
      const final = acc.snapshot(performance.now() - started, true);
      await cleanup();
      if (!subscriber.closed) {
        subscriber.next(final);
        subscriber.complete();
      }
    })().catch(async (err: unknown) => {
      await cleanup();
      subscriber.error(err);
    });

    return () => {
      if (!stopped) void cleanup();
    };
  });
}

function sab(buf: DmaBuffer): SharedArrayBuffer {
  return buf.bytes.buffer as SharedArrayBuffer;
}

interface Normalized {
  side: 'host' | 'endpoint' | 'both';
  channels: number | 'all';
  minSize: number;
  maxSize: number;
  depth: number;
  durationMs: number;
  iterations: number | undefined;
  verify: boolean;
  warmupMs: number;
  progressMs: number;
  onCompleted: LoadTestOptions['onCompleted'];
}

function normalize(options: LoadTestOptions): Normalized {
  const side = options.side ?? 'both';
  if (side !== 'host' && side !== 'endpoint' && side !== 'both') throw new EpdmaError('EINVAL', `loadtest: side '${String(side)}' is not host, endpoint or both`);
  const channels = options.channels ?? 'all';
  if (channels !== 'all' && (!Number.isInteger(channels) || channels < 1)) throw new EpdmaError('EINVAL', `loadtest: channels ${String(channels)} is not a positive count or 'all'`);
  const size = options.size ?? 65536;
  const [minSize, maxSize] = Array.isArray(size) ? size : [size, size];
  if (!Number.isSafeInteger(minSize) || !Number.isSafeInteger(maxSize) || minSize < 1 || maxSize < minSize || maxSize > 0xffff_ffff) {
    throw new EpdmaError('EINVAL', `loadtest: size ${JSON.stringify(size)} must be 1..4 GiB-1, min <= max`);
  }
  const depth = options.depth ?? 16;
  if (!Number.isInteger(depth) || depth < 1 || depth > 1024) throw new EpdmaError('EINVAL', `loadtest: depth ${depth} must be 1..1024`);
  if (options.durationMs !== undefined && options.iterations !== undefined) throw new EpdmaError('EINVAL', 'loadtest: give durationMs or iterations, not both');
  const durationMs = options.durationMs ?? 5000;
  if (!(durationMs > 0)) throw new EpdmaError('EINVAL', `loadtest: durationMs ${durationMs} must be positive`);
  const iterations = options.iterations;
  if (iterations !== undefined && (!Number.isInteger(iterations) || iterations < 1)) throw new EpdmaError('EINVAL', `loadtest: iterations ${iterations} must be a positive count`);
  const progressMs = options.progressMs ?? 250;
  const warmupMs = options.warmupMs ?? 0;
  if (!(warmupMs >= 0) || (warmupMs > 0 && iterations !== undefined)) throw new EpdmaError('EINVAL', `loadtest: warmupMs ${warmupMs} must be >= 0, and only with durationMs`);
  return { side, channels, minSize, maxSize, depth, durationMs, iterations, verify: options.verify ?? true, warmupMs, progressMs, onCompleted: options.onCompleted };
}

async function pickChannels(bed: Testbed, side: Normalized['side'], count: number | 'all'): Promise<Lane[]> {
  const lanes: Lane[] = [];
  const sides = side === 'both' ? (['host', 'endpoint'] as const) : ([side] as const);
  for (const s of sides) {
    const own = s === 'host' ? bed.host : bed.endpoint;
    const other = s === 'host' ? bed.endpoint : bed.host;
    const infos = own.dma.channels;
    const want = count === 'all' ? infos.length : Math.min(count, infos.length);
    if (count !== 'all' && count > infos.length && side !== 'both') {
      throw new EpdmaError('EINVAL', `loadtest: ${count} channels asked, the ${s} side has ${infos.length}`);
    }
    for (const info of infos.slice(0, want)) {
      const chan = await own.dma.requestChannel({ name: info.name });
      const memToDev = info.direction === 'mem-to-dev';
      lanes.push({ chan, name: info.name, memToDev, srcMem: memToDev ? own.memory : other.memory, dstMem: memToDev ? other.memory : own.memory, slots: [], issued: 0, issueQueued: false });
    }
  }
  if (lanes.length === 0) throw new EpdmaError('EINVAL', `loadtest: no channels on side '${side}'`);
  return lanes;
}
