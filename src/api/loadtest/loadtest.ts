import { Observable } from 'rxjs';
import { EpdmaError, hex, isEpdmaError } from '../../device/errors.js';
import { createCpuPool, type CpuPool } from '../../workers/cpu-pool.js';
import type { Completion, DmaBuffer, DmaChannel, DmaMemory, Testbed } from '../types.js';
import { LoadStatsAccumulator, type LoadProgress } from './load-stats.js';
import { checkBoolean, checkCount, checkDuration, checkEnum, checkLength, checkObject, checkOptions, show } from '../validate.js';

export interface LoadTestOptions {
  side?: 'host' | 'endpoint' | 'both';
  channels?: number | 'all';
  size?: number | [min: number, max: number];
  depth?: number;
  durationMs?: number;
  iterations?: number;
  verify?: boolean;
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

const GUARD = 64;
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
  checkObject(testbed, 'loadtest: testbed');
  const o = normalize(options);
  return new Observable<LoadProgress>((subscriber) => {
    let stopped = false;
    let pool: CpuPool | undefined;
    const lanes: Lane[] = [];
    let timer: NodeJS.Timeout | undefined;
    const allocated: { mem: DmaMemory; buf: DmaBuffer }[] = [];
    const firstMismatches: string[] = [];
    const errorReasons: string[] = [];

    const cleanup = async (): Promise<void> => {
      stopped = true;
      if (timer !== undefined) clearInterval(timer);
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
          if (!isEpdmaError(err, 'ENOMEM')) throw err;
          throw new EpdmaError('ENOMEM', `loadtest: ${picked.length} channels x depth ${o.depth} x ${hex(o.maxSize)} bytes do not fit in memory (${(err as Error).message})`);
        }
      };
      for (const p of picked) {
        lanes.push(p);
        for (let i = 0; i < o.depth; i++) p.slots.push({ src: alloc(p.srcMem, o.maxSize), dst: alloc(p.dstMem, o.maxSize + 2 * GUARD) });
      }
      if (o.verify) pool = createCpuPool({ maxThreads: 1 });
      const started = performance.now();
      const deadline = o.iterations === undefined ? started + o.durationMs : Infinity;
      timer = setInterval(() => subscriber.next(acc.snapshot(performance.now() - started, false)), o.progressMs);
      timer.unref();

      const issueSoon = (lane: Lane): void => {
        // One doorbell per channel per tick, however many slots submitted in it.
        if (lane.issueQueued) return;
        lane.issueQueued = true;
        queueMicrotask(() => {
          lane.issueQueued = false;
          // The testbed may have closed under the run: the slot sees its descriptor aborted.
          if (!stopped) {
            try {
              lane.chan.issuePending();
            } catch {
              stopped = true;
            }
          }
        });
      };

      const runSlot = async (lane: Lane, slot: Slot, slotIndex: number): Promise<void> => {
        const stats = acc.channel(lane.name);
        const seed = slotIndex * 100_003 + 1;
        try {
          await slotLoop(lane, slot, stats, seed);
        } catch (err) {
          // The testbed closed under the run (ESHUTDOWN from a channel, the pool torn down
          // by cleanup): the run ends with what it measured, it does not fail.
          if (!stopped && !isEpdmaError(err, 'ESHUTDOWN')) throw err;
          stopped = true;
        }
      };

      const slotLoop = async (lane: Lane, slot: Slot, stats: ReturnType<typeof acc.channel>, seed: number): Promise<void> => {
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
  progressMs: number;
  onCompleted: LoadTestOptions['onCompleted'];
}

function normalize(options: LoadTestOptions): Normalized {
  const opts = checkOptions(options, 'loadtest: options');
  const side = checkEnum(opts.side ?? 'both', 'loadtest: side', ['host', 'endpoint', 'both']);
  const channels = opts.channels ?? 'all';
  if (channels !== 'all') checkCount(channels, 'loadtest: channels', 1, 64);
  const size = opts.size ?? 65536;
  if (Array.isArray(size) && size.length !== 2) throw new EpdmaError('EINVAL', `loadtest: size ${show(size)} must be a byte count or [min, max]`);
  const [minSize, maxSize] = Array.isArray(size) ? size : [size, size];
  checkLength(minSize, 'loadtest: size', 1, 0xffff_ffff);
  checkLength(maxSize, 'loadtest: size', 1, 0xffff_ffff);
  if (maxSize < minSize) throw new EpdmaError('EINVAL', `loadtest: size ${show(size)} has min > max`);
  const depth = checkCount(opts.depth ?? 16, 'loadtest: depth', 1, 1024);
  if (opts.durationMs !== undefined && opts.iterations !== undefined) throw new EpdmaError('EINVAL', 'loadtest: give durationMs or iterations, not both');
  const durationMs = checkDuration(opts.durationMs ?? 5000, 'loadtest: durationMs');
  const iterations = opts.iterations === undefined ? undefined : checkCount(opts.iterations, 'loadtest: iterations', 1, Number.MAX_SAFE_INTEGER);
  const verify = checkBoolean(opts.verify ?? true, 'loadtest: verify');
  // Below 10 ms the snapshots would only load the main thread the run is measuring.
  const progressMs = checkDuration(opts.progressMs ?? 250, 'loadtest: progressMs');
  if (progressMs < 10) throw new EpdmaError('EINVAL', `loadtest: progressMs ${progressMs} is below 10 ms`);
  if (opts.onCompleted !== undefined && typeof opts.onCompleted !== 'function') throw new EpdmaError('EINVAL', `loadtest: onCompleted ${show(opts.onCompleted)} is not a function`);
  return { side, channels, minSize, maxSize, depth, durationMs, iterations, verify, progressMs, onCompleted: opts.onCompleted };
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
