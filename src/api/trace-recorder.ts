/**
 * `createTestbed({ trace: FILE })`, `epdma loadtest --trace FILE`, `epdma demo --trace FILE`:
 * a Chrome trace-event JSON file (`{ "traceEvents": [...] }`) that opens in the Perfetto UI
 * (ui.perfetto.dev) and in chrome://tracing.
 *
 * Tracks:
 *   pid 1 "testbed"                      link-up / link-down / ready (global instants)
 *   one pid per channel ("host/rd0"):
 *     tid 1 "engine"                     a 'chunk' span per chunk, from its doorbell to the DONE
 *                                        (or ABORT) that ended it, with a DONE/ABORT instant
 *     tid 2 "lifecycle"                  channel-started / -crashed / -restarted / -stopped
 *     tid 10.. "in flight N"             a span per descriptor from submit to completion, named
 *                                        by its cookie, args.bytes/result/residue. Descriptors
 *                                        queued together overlap in time, so each goes to the
 *                                        first lane that is free at its submit (lanes <= depth)
 *                                        and spans on one track always nest.
 *
 * Chunk starts come from the channel worker's trace ring (one record per chunk); a chunk ends
 * where the next chunk of the same descriptor starts (the worker starts it right after seeing
 * DONE), and the last one at the descriptor's completion time. Descriptors terminated by the
 * client produce no completion (DMAengine), so their open chunk is closed at the end of the
 * trace with args.unfinished. Events are streamed to the file as they are known.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import type { Subscription } from 'rxjs';
import { EpdmaError } from '../device/errors.js';
import { createTraceRingBuffer, TraceRing } from '../protocol/trace-ring.js';
import type { ChannelInfo, Completion, RuntimeEvent } from './types.js';

const TESTBED_PID = 1;
const ENGINE_TID = 1;
const LIFECYCLE_TID = 2;
const FIRST_LANE_TID = 10;
const FLUSH_BYTES = 256 * 1024;
const DRAIN_MS = 20;

/** Microseconds rounded to the ns (a plain number is cheaper to format than toFixed). */
const fixed = (us: number): number => Math.round(us * 1000) / 1000;

interface OpenChunk { startNs: number; bytes: number }

interface Track {
  readonly pid: number;
  readonly ring: TraceRing;
  /** Per cookie, the chunk that started last and has not ended yet. */
  readonly open: Map<number, OpenChunk>;
  /** End time (ns) of the last span on each in-flight lane. */
  readonly laneEnds: number[];
  chunks: number;
  /** The ring's record visitor, made once per track. */
  visit: (hrNs: number, cookie: number, bytes: number) => void;
}

export interface TraceSummary {
  readonly file: string;
  readonly events: number;
  readonly chunks: number;
  readonly descriptors: number;
  /** Chunk records the workers could not write (ring full): their spans are missing. */
  readonly dropped: number;
}

export class TraceRecorder {
  readonly file: string;
  private readonly fd: number;
  private readonly t0: number;
  private readonly tracks = new Map<string, Track>();
  /** Events are encoded straight into this buffer and written when it is nearly full. */
  private readonly out = Buffer.allocUnsafe(FLUSH_BYTES);
  private used = 0;
  private events = 0;
  private descriptors = 0;
  private readonly subscriptions: Subscription[] = [];
  private readonly timer: NodeJS.Timeout;
  private summary: TraceSummary | undefined;

  /** Opens (truncates) the file at once: a bad path fails before anything starts. */
  constructor(file: string) {
    this.file = file;
    try {
      this.fd = openSync(file, 'w');
    } catch (err) {
      throw new EpdmaError('EINVAL', `testbed: trace ${JSON.stringify(file)} cannot be written (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
    this.t0 = Number(process.hrtime.bigint());
    writeSync(this.fd, '{"displayTimeUnit":"ns","traceEvents":[\n');
    this.meta(TESTBED_PID, 0, 'process_name', 'testbed');
    this.meta(TESTBED_PID, 0, 'process_sort_index', 0);
    this.timer = setInterval(() => this.drainAll(), DRAIN_MS);
    this.timer.unref();
  }

  /** The shared ring a channel's worker writes chunk records into (ChannelWorkerData.trace). */
  ringFor(info: ChannelInfo): SharedArrayBuffer {
    const buffer = createTraceRingBuffer();
    const pid = TESTBED_PID + 1 + this.tracks.size;
    const track: Track = { pid, ring: new TraceRing(buffer), open: new Map(), laneEnds: [], chunks: 0, visit: () => undefined };
    track.visit = (hrNs, cookie, bytes) => {
      const previous = track.open.get(cookie);
      if (previous !== undefined) this.endChunk(track, cookie, previous, hrNs, 'DONE');
      track.open.set(cookie, { startNs: hrNs, bytes });
      track.chunks++;
    };
    this.tracks.set(info.name, track);
    this.meta(pid, 0, 'process_name', info.name);
    this.meta(pid, 0, 'process_sort_index', pid);
    this.meta(pid, ENGINE_TID, 'thread_name', 'engine (chunks)');
    this.meta(pid, LIFECYCLE_TID, 'thread_name', 'lifecycle');
    return buffer;
  }

  /** Follows a testbed's streams until close(). */
  follow(streams: { completions$: { subscribe(next: (c: Completion) => void): Subscription }; events$: { subscribe(next: (e: RuntimeEvent) => void): Subscription } }): void {
    this.subscriptions.push(streams.completions$.subscribe((c) => this.onCompletion(c)));
    this.subscriptions.push(streams.events$.subscribe((e) => this.onEvent(e)));
  }

  /** hrtime ns (as a Number: exact to well under a ns for any uptime) -> us since the trace began. */
  private us(ns: number): number {
    return Math.max(0, (ns - this.t0) / 1000);
  }

  /** Appends one event, already JSON (built by hand: JSON.stringify per event is the main cost). */
  private push(json: string): void {
    // UTF-8 needs at most 3 bytes per UTF-16 unit (names and reasons may be non-ASCII).
    if (this.used + 2 + json.length * 3 > this.out.length) this.flush();
    if (this.events > 0) this.used += this.out.write(',\n', this.used, 'latin1');
    this.events++;
    if (json.length * 3 > this.out.length) writeSync(this.fd, json);
    else this.used += this.out.write(json, this.used, 'utf8');
  }

  private meta(pid: number, tid: number, name: string, value: string | number): void {
    this.push(JSON.stringify({ ph: 'M', pid, tid, name, args: name.endsWith('sort_index') ? { sort_index: value } : { name: value } }));
  }

  private flush(): void {
    if (this.used === 0) return;
    writeSync(this.fd, this.out, 0, this.used);
    this.used = 0;
  }

  private drain(track: Track): void {
    track.ring.drain(track.visit);
  }

  private drainAll(): void {
    for (const track of this.tracks.values()) this.drain(track);
    this.flush();
  }

  private endChunk(track: Track, cookie: number, chunk: OpenChunk, endNs: number, how: 'DONE' | 'ABORT' | 'unfinished'): void {
    // The start is the worker's clock mapped onto the main thread's: within a bracket of a few
    // hundred ns, so a chunk that started right before its DONE may map a hair after it.
    const end = this.us(endNs);
    const ts = Math.min(this.us(chunk.startNs), end);
    this.push(`{"ph":"X","cat":"chunk","name":"chunk","pid":${track.pid},"tid":${ENGINE_TID},"ts":${fixed(ts)},"dur":${fixed(end - ts)},` +
      `"args":{"cookie":${cookie},"bytes":${chunk.bytes}${how === 'unfinished' ? ',"unfinished":true' : ''}}}`);
    if (how !== 'unfinished') {
      this.push(`{"ph":"i","s":"t","cat":"irq","name":"${how}","pid":${track.pid},"tid":${ENGINE_TID},"ts":${fixed(end)},"args":{"cookie":${cookie}}}`);
    }
  }

  private onCompletion(c: Completion): void {
    const track = this.tracks.get(c.channel.name);
    if (track === undefined) return;
    this.drain(track);
    const last = track.open.get(c.cookie);
    if (last !== undefined) {
      track.open.delete(c.cookie);
      this.endChunk(track, c.cookie, last, Number(c.completedNs), c.result === 'ok' ? 'DONE' : 'ABORT');
    }
    const start = Number(c.submittedNs);
    const end = Number(c.completedNs);
    // Completions of a channel come in submit order, so the first lane free at `start` keeps
    // every lane's spans disjoint.
    let lane = track.laneEnds.findIndex((e) => e <= start);
    if (lane < 0) {
      lane = track.laneEnds.length;
      track.laneEnds.push(end);
      this.meta(track.pid, FIRST_LANE_TID + lane, 'thread_name', `in flight ${lane + 1}`);
    } else track.laneEnds[lane] = end;
    const ts = this.us(start);
    const dur = Math.max(0, this.us(end) - ts);
    this.push(`{"ph":"X","cat":"descriptor","name":"cookie ${c.cookie}","pid":${track.pid},"tid":${FIRST_LANE_TID + lane},"ts":${fixed(ts)},"dur":${fixed(dur)},` +
      `"args":{"cookie":${c.cookie},"bytes":${c.bytes},"result":"${c.result}","residue":${c.residue}${c.reason !== undefined ? `,"reason":${JSON.stringify(c.reason)}` : ''}}}`);
    this.descriptors++;
  }

  private onEvent(e: RuntimeEvent): void {
    const track = e.name !== undefined ? this.tracks.get(e.name) : undefined;
    const args = e.reason !== undefined ? { reason: e.reason } : {};
    if (track !== undefined) {
      this.push(JSON.stringify({ ph: 'i', s: 't', cat: 'lifecycle', name: e.type, pid: track.pid, tid: LIFECYCLE_TID, ts: this.us(Number(e.atNs)), args }));
    } else {
      this.push(JSON.stringify({ ph: 'i', s: 'g', cat: 'link', name: e.type, pid: TESTBED_PID, tid: 0, ts: this.us(Number(e.atNs)), args }));
    }
  }

  /** Drains the rings one last time and finishes the file. Idempotent. */
  close(): TraceSummary {
    if (this.summary !== undefined) return this.summary;
    clearInterval(this.timer);
    for (const s of this.subscriptions) s.unsubscribe();
    let chunks = 0;
    let dropped = 0;
    const endNs = Number(process.hrtime.bigint());
    for (const track of this.tracks.values()) {
      this.drain(track);
      for (const [cookie, chunk] of track.open) this.endChunk(track, cookie, chunk, endNs, 'unfinished');
      track.open.clear();
      chunks += track.chunks;
      dropped += track.ring.dropped;
    }
    this.flush();
    // otherData is the format's place for facts about the whole trace.
    const otherData = { tool: 'epdma', chunks, descriptors: this.descriptors, droppedChunkRecords: dropped };
    writeSync(this.fd, `\n],\n"otherData":${JSON.stringify(otherData)}}\n`);
    closeSync(this.fd);
    this.summary = { file: this.file, events: this.events, chunks, descriptors: this.descriptors, dropped };
    return this.summary;
  }
}
