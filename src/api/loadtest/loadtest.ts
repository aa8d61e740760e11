import { Observable, type Subscription } from 'rxjs';
import { EpdmaError, isEpdmaError } from '../../device/errors.js';
import type { ChannelInfo, Completion, DmaBuffer, DmaChannel, DmaMemory, Testbed } from '../types.js';
import { LoadStatsAccumulator, type ChannelStatsAccumulator, type LoadProgress } from './load-stats.js';
import { sourcePattern } from './dmatest-pattern.js';
import { GUARD_BYTES, SLOT_PATTERN_STRIDE, SlotCheck, readOffset } from './slot-check.js';
import { SteadyState } from './steady-state.js';
import { checkBoolean, checkCount, checkDuration, checkEnum, checkLength, checkObject, checkOptions, show } from '../validate.js';

export interface LoadTestOptions {
  side?: 'host' | 'endpoint' | 'both';
  channels?: number | 'all';
  size?: number | [min: number, max: number];
  depth?: number;
  durationMs?: number;
  iterations?: number;
  verify?: boolean;
  /**
   * Ramp-up excluded from the rates (fio's ramp_time), run before `durationMs`. Default: until
   * the rate is steady (fio's steadystate: STEADY_WINDOWS windows of STEADY_WINDOW_MS within
   * STEADY_TOLERANCE of their mean), at least a tenth of the duration (at most 1 s), at most
   * twice the duration (at least 1 s, at most 10 s); 0 with `iterations`. LoadTestRun says how
   * long it was and whether the rate settled.
   */
  warmupMs?: number;
  /** Progress snapshot period (default 250 ms). */
  progressMs?: number;
  /**
   * Fault injection for tests: called after a transfer completed, before it is verified.
   * `window` is where in `dst` the transfer wrote, `source` where in `src` it read; `stale` is
   * what the window held before the transfer (writing it back fakes a lost write), undefined
   * with verify off, where the window is never prepared.
   */
  onCompleted?: (info: { channel: string; transfer: number; src: DmaBuffer; dst: DmaBuffer; window: { offset: number; length: number }; source: { offset: number; length: number }; stale: Buffer | undefined }) => void;
}

/** What a finished run can give a report besides the last progress. */
export interface LoadTestRun {
  readonly accumulator: LoadStatsAccumulator;
  readonly firstMismatches: string[];
  readonly errorReasons: string[];
  /** The warm-up that was excluded from the rates (ms; final once the measured part started). */
  warmupMs: number;
  /** A default warm-up: whether the rate settled (false: it ended at its longest). Undefined for a fixed one. */
  warmupSettled: boolean | undefined;
  /** Set when the run ended early because the testbed shut down under it (why). */
  shutdown: string | undefined;
}

const MAX_REPORTS = 8;
/** The default warm-up's steady-state test: 4 windows of 250 ms (fio's ss_dur 1 s), each within 10% of their mean. */
const STEADY_WINDOW_MS = 250;
const STEADY_WINDOWS = 4;
const STEADY_TOLERANCE = 0.1;
/** The default warm-up's longest: twice the duration, within [1 s, 10 s]. */
const STEADY_MAX_MS = 10_000;
/** The default warm-up's rule in words, for reports. */
export const STEADY_WARMUP_RULE = `${STEADY_WINDOWS} windows of ${STEADY_WINDOW_MS} ms within ${STEADY_TOLERANCE * 100}% of their mean`;
/**
 * Seed of the run's source pattern (any value: slots and uses differ by where they start in it,
 * SLOT_PATTERN_STRIDE apart).
 */
const PATTERN_SEED = 7919;

interface Slot {
  readonly check: SlotCheck | undefined;
  readonly src: DmaBuffer;
  readonly dst: DmaBuffer;
  /**
   * The slave config and local address of this slot's transfers, made once for each parity of
   * its uses: one of them is the source, read from offset 0 or SLOT_PATTERN_STRIDE (readOffset).
   */
  readonly configs: readonly { deviceAddr: number }[];
  readonly locals: readonly number[];
  /** Uses of the slot before the one in flight (its parity picks the source offset). */
  use: number;
  transfer: number;
  length: number;
}

interface Lane {
  readonly chan: DmaChannel;
  readonly name: string;
  readonly stats: ChannelStatsAccumulator;
  readonly slots: Slot[];
  /** Slots in flight, in submission (= completion) order: a fixed circular queue. */
  readonly fifo: Int32Array;
  head: number;
  inFlight: number;
  issued: number;
  /** Submitted since the last issuePending (one doorbell per lane per completion batch). */
  pending: boolean;
}

/**
 * dmatest/fio-style load over a testbed's channels (API.md "Load test"). Each channel keeps
 * `depth` transfers in flight, sizes fixed or random in a range, for a duration (after a
 * warm-up excluded from the rates) or a number of iterations per channel.
 *
 * It drives the channels the way a high-rate client does: completions arrive through each
 * side's `completionBatches$`, every completed slot is checked and resubmitted at once, and each
 * channel gets one issuePending per batch. With verify, each slot's source holds its own part of
 * a pattern made once, and the slot's uses read it alternately from two offsets whose bytes
 * differ everywhere, so a window the DMA did not write still holds the previous use's bytes (or
 * poison, where no recent use wrote) and fails at every byte; the guards around the window are
 * rewritten for every transfer (SlotCheck). The check is memcmp on this thread, with no pool
 * round trip, no promise per transfer and no poisoning of the bytes the worker writes next.
 * With verify off the transfers are the same (the same alternating source offsets), unchecked.
 * Emits a snapshot every `progressMs` after the warm-up and a final one, then completes.
 * Unsubscribing stops issuing and releases the channels.
 */
export function loadTest(testbed: Testbed, options: LoadTestOptions = {}, run?: (r: LoadTestRun) => void): Observable<LoadProgress> {
  checkObject(testbed, 'loadtest: testbed');
  const o = normalize(options);
  return new Observable<LoadProgress>((subscriber) => {
    let stopped = false;
    const lanes: Lane[] = [];
    const byChannel = new Map<ChannelInfo, Lane>();
    const subscriptions: Subscription[] = [];
    let timer: NodeJS.Timeout | undefined;
    let warmupTimer: NodeJS.Timeout | undefined;
    let steadyTimer: NodeJS.Timeout | undefined;
    const allocated: { mem: DmaMemory; buf: DmaBuffer }[] = [];
    const firstMismatches: string[] = [];
    const errorReasons: string[] = [];
    let finish: (() => void) | undefined;
    let fail: ((err: Error) => void) | undefined;

    const cleanup = async (): Promise<void> => {
      stopped = true;
      if (timer !== undefined) clearInterval(timer);
      if (warmupTimer !== undefined) clearTimeout(warmupTimer);
      if (steadyTimer !== undefined) clearInterval(steadyTimer);
      for (const s of subscriptions.splice(0)) s.unsubscribe();
      await Promise.allSettled(lanes.map((l) => l.chan.release()));
      for (const a of allocated.splice(0)) {
        try { a.mem.free(a.buf); } catch { /* the testbed closed first: its memory is gone */ }
      }
    };

    (async () => {
      const picked = await pickChannels(testbed, o.side, o.channels);
      const acc = new LoadStatsAccumulator(picked.map((p) => p.chan.info.name));
      const runInfo: LoadTestRun = { accumulator: acc, firstMismatches, errorReasons, warmupMs: 0, warmupSettled: undefined, shutdown: undefined };
      run?.(runInfo);
      const alloc = (mem: DmaMemory, bytes: number): DmaBuffer => {
        try {
          const buf = mem.alloc(bytes, { align: 64 });
          allocated.push({ mem, buf });
          return buf;
        } catch (err) {
          if (!isEpdmaError(err, 'ENOMEM')) throw err;
          throw new EpdmaError('ENOMEM', `loadtest: ${picked.length} channels x depth ${o.depth} x ${o.maxSize} bytes (plus ${2 * GUARD_BYTES} guard bytes each) do not fit in memory: lower --depth or --size (${(err as Error).message})`);
        }
      };
      // Each slot's source: the largest transfer, read from offset 0 or SLOT_PATTERN_STRIDE.
      const srcBytes = o.maxSize + SLOT_PATTERN_STRIDE;
      // Slot k's part of the pattern starts at 2k strides (its two uses one stride apart).
      const pattern = o.verify ? sourcePattern(PATTERN_SEED, srcBytes + (2 * picked.length * o.depth - 2) * SLOT_PATTERN_STRIDE) : undefined;
      const parities = [0, 1];
      for (const [laneIndex, p] of picked.entries()) {
        const slots: Slot[] = [];
        for (let i = 0; i < o.depth; i++) {
          const src = alloc(p.srcMem, srcBytes);
          const dst = alloc(p.dstMem, o.maxSize + 2 * GUARD_BYTES);
          const start = 2 * (laneIndex * o.depth + i) * SLOT_PATTERN_STRIDE;
          const check = pattern !== undefined ? new SlotCheck(src, dst, pattern.subarray(start, start + srcBytes)) : undefined;
          const dstAddr = dst.addr + GUARD_BYTES;
          const srcAddrs = parities.map((use) => src.addr + readOffset(use));
          slots.push({
            check, src, dst,
            configs: srcAddrs.map((srcAddr) => ({ deviceAddr: p.memToDev ? dstAddr : srcAddr })),
            locals: srcAddrs.map((srcAddr) => (p.memToDev ? srcAddr : dstAddr)),
            use: 0, transfer: 0, length: 0,
          });
        }
        const lane: Lane = { chan: p.chan, name: p.chan.info.name, stats: acc.channel(p.chan.info.name), slots, fifo: new Int32Array(o.depth), head: 0, inFlight: 0, issued: 0, pending: false };
        lanes.push(lane);
        byChannel.set(p.chan.info, lane);
      }

      const started = performance.now();
      const warm = o.warmup.maxMs > 0;
      let measureStart = warm ? Infinity : started;
      // Duration mode: the measured part runs durationMs from the end of the warm-up.
      let deadline = o.iterations === undefined && !warm ? started + o.durationMs : Infinity;
      const elapsed = (): number => Math.max(0, performance.now() - measureStart);

      /** Whether the lane gets another transfer (not stopped, iterations or time left). */
      const more = (lane: Lane): boolean =>
        !stopped && (o.iterations !== undefined ? lane.issued < o.iterations : performance.now() < deadline);
      const drawLength = (): number => (o.minSize === o.maxSize ? o.maxSize : o.minSize + Math.floor(Math.random() * (o.maxSize - o.minSize + 1)));

      /** Submits the lane's next transfer from a slot already prepared (guarded, and poisoned where needed) for it. */
      const launch = (lane: Lane, slotIndex: number, length: number): void => {
        const slot = lane.slots[slotIndex]!;
        slot.transfer = ++lane.issued;
        slot.length = length;
        const parity = slot.use & 1;
        lane.chan.configure(slot.configs[parity]!);
        lane.chan.prepSlaveSingle(slot.locals[parity]!, length).submit();
        lane.fifo[(lane.head + lane.inFlight) % lane.fifo.length] = slotIndex;
        lane.inFlight++;
        lane.pending = true;
      };

      const complete = (lane: Lane, c: Completion): void => {
        const slotIndex = lane.fifo[lane.head]!;
        lane.head = (lane.head + 1) % lane.fifo.length;
        lane.inFlight--;
        const slot = lane.slots[slotIndex]!;
        const again = more(lane);
        // The check leaves the slot prepared for its next transfer.
        const next = lane.issued + 1;
        const nextLength = again ? drawLength() : slot.length;
        if (c.result !== 'ok') {
          lane.stats.recordError();
          if (errorReasons.length < MAX_REPORTS) errorReasons.push(`${lane.name} cookie ${c.cookie}: ${c.result} ${c.reason ?? ''}`.trim());
          if (again) slot.check?.prepare(next, nextLength);
        } else {
          o.onCompleted?.({ channel: lane.name, transfer: slot.transfer, src: slot.src, dst: slot.dst, window: { offset: GUARD_BYTES, length: slot.length }, source: { offset: readOffset(slot.use), length: slot.length }, stale: slot.check?.staleWindow(slot.use, slot.transfer, slot.length) });
          let mismatches = 0;
          const bad = slot.check?.check(slot.use, slot.transfer, slot.length, next, nextLength) ?? null;
          if (bad !== null) {
            mismatches = bad.count;
            for (const line of bad.first) if (firstMismatches.length < MAX_REPORTS) firstMismatches.push(`${lane.name} transfer ${slot.transfer}: ${line}`);
          }
          lane.stats.recordTransfer(c.bytes, c.completedNs - c.submittedNs, mismatches);
        }
        slot.use++;
        if (again) launch(lane, slotIndex, nextLength);
      };

      /** The testbed closed (or the endpoint died) under the run: it ends with what it measured, it does not fail. */
      const shutDown = (err: unknown): void => {
        if (!isEpdmaError(err, 'ESHUTDOWN')) throw err;
        stopped = true;
        runInfo.shutdown ??= err.text;
      };

      const onBatch = (batch: readonly Completion[]): void => {
        // A shutdown fails what was in flight in the same batch as the last good completions:
        // a relaunch refused for one completion must not skip counting the rest.
        for (let i = 0; i < batch.length; i++) {
          const c = batch[i]!;
          const lane = byChannel.get(c.channel);
          if (lane === undefined || lane.inFlight === 0) continue;
          try {
            complete(lane, c);
          } catch (err) {
            shutDown(err);
          }
        }
        let busy = false;
        for (const lane of lanes) {
          if (lane.pending && !stopped) {
            lane.pending = false;
            try {
              lane.chan.issuePending();
            } catch (err) {
              shutDown(err);
            }
          }
          if (lane.inFlight > 0) busy = true;
        }
        if (!busy || stopped) finish?.();
      };

      const done = new Promise<void>((resolve, reject) => {
        finish = resolve;
        fail = reject;
      });
      const sides = new Set(lanes.map((l) => (l.chan.info.side === 'host' ? testbed.host : testbed.endpoint)));
      for (const side of sides) {
        subscriptions.push(side.dma.completionBatches$.subscribe({
          next: (batch) => {
          try {
            onBatch(batch);
          } catch (err) {
            fail?.(err as Error);
          }
        },
          // The testbed closed under the run: it ends with what it measured.
          complete: () => {
            runInfo.shutdown ??= 'the testbed closed';
            finish?.();
          },
        }));
      }
      const endWarmup = (): void => {
        if (steadyTimer !== undefined) clearInterval(steadyTimer);
        if (stopped) return;
        // fio's ramp_time: what ran so far does not count. The timeline starts at 0 bytes.
        for (const lane of lanes) {
          lane.stats.reset();
          lane.stats.sample(0);
        }
        measureStart = performance.now();
        runInfo.warmupMs = o.warmup.steady ? Math.round(measureStart - started) : o.warmup.minMs;
        if (o.iterations === undefined) deadline = measureStart + o.durationMs;
      };
      if (!warm) for (const lane of lanes) lane.stats.sample(0);
      else if (!o.warmup.steady) {
        warmupTimer = setTimeout(endWarmup, o.warmup.minMs);
        warmupTimer.unref();
      } else {
        // Each window's rate from the bytes moved in it (the timer's own lateness included).
        const steady = new SteadyState(STEADY_WINDOWS, STEADY_TOLERANCE);
        let windowStart = started;
        let windowBytes = 0;
        runInfo.warmupSettled = false;
        steadyTimer = setInterval(() => {
          const now = performance.now();
          let bytes = 0;
          for (const lane of lanes) bytes += lane.stats.bytes;
          const settled = steady.add(((bytes - windowBytes) * 1000) / Math.max(1, now - windowStart));
          windowStart = now;
          windowBytes = bytes;
          if ((settled && now - started >= o.warmup.minMs) || now - started >= o.warmup.maxMs) {
            // Whether the rate was steady when the warm-up ended, not at some window before.
            runInfo.warmupSettled = settled;
            endWarmup();
          }
        }, STEADY_WINDOW_MS);
        steadyTimer.unref();
      }
      timer = setInterval(() => {
        if (measureStart !== Infinity) subscriber.next(acc.snapshot(elapsed(), false));
      }, o.progressMs);
      timer.unref();

      for (const lane of lanes) {
        for (let i = 0; i < lane.slots.length && more(lane); i++) {
          const length = drawLength();
          lane.slots[i]!.check?.prepare(lane.issued + 1, length);
          launch(lane, i, length);
        }
      }
      onBatch([]);
      await done;
      if (measureStart === Infinity) measureStart = started; // the run ended inside the warm-up: nothing was excluded
      const final = acc.snapshot(elapsed(), true);
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

interface Normalized {
  side: 'host' | 'endpoint' | 'both';
  channels: number | 'all';
  minSize: number;
  maxSize: number;
  depth: number;
  durationMs: number;
  iterations: number | undefined;
  verify: boolean;
  /** Fixed (minMs === maxMs, not steady), until the rate is steady within [minMs, maxMs], or none (maxMs 0). */
  warmup: { readonly minMs: number; readonly maxMs: number; readonly steady: boolean };
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
  if (iterations !== undefined && opts.warmupMs !== undefined && opts.warmupMs !== 0) {
    throw new EpdmaError('EINVAL', `loadtest: warmupMs ${show(opts.warmupMs)} only with durationMs (iterations counts every transfer)`);
  }
  const fixedMs = opts.warmupMs === undefined ? undefined : opts.warmupMs === 0 ? 0 : checkDuration(opts.warmupMs, 'loadtest: warmupMs');
  const warmup = iterations !== undefined ? { minMs: 0, maxMs: 0, steady: false }
    : fixedMs !== undefined ? { minMs: fixedMs, maxMs: fixedMs, steady: false }
      : { minMs: Math.min(1000, Math.floor(durationMs / 10)), maxMs: Math.min(STEADY_MAX_MS, Math.max(1000, 2 * durationMs)), steady: true };
  if (opts.onCompleted !== undefined && typeof opts.onCompleted !== 'function') throw new EpdmaError('EINVAL', `loadtest: onCompleted ${show(opts.onCompleted)} is not a function`);
  return { side, channels, minSize, maxSize, depth, durationMs, iterations, verify, warmup, progressMs, onCompleted: opts.onCompleted };
}

/** A channel chosen for the run and where its sources and destinations live. */
interface Picked {
  readonly chan: DmaChannel;
  readonly srcMem: DmaMemory;
  readonly dstMem: DmaMemory;
  /** This side's buffer is the source for mem-to-dev, the destination otherwise. */
  readonly memToDev: boolean;
}

async function pickChannels(bed: Testbed, side: Normalized['side'], count: number | 'all'): Promise<Picked[]> {
  const lanes: Picked[] = [];
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
      lanes.push({ chan, memToDev, srcMem: memToDev ? own.memory : other.memory, dstMem: memToDev ? other.memory : own.memory });
    }
  }
  if (lanes.length === 0) throw new EpdmaError('EINVAL', `loadtest: no channels on side '${side}'`);
  return lanes;
}
