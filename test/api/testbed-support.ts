/**
 * Helpers for the public-API testbed tests: everything goes through the package entry
 * (dist/api/index.js), never through internals, so these tests see what a user sees.
 */
import { expect } from 'vitest';
import { lastValueFrom, type Observable } from 'rxjs';
import { createTestbed, EpdmaError } from '../../dist/api/index.js';
import type { Completion, DmaBuffer, DmaChannel, DmaMemory, Testbed, TestbedOptions } from '../../dist/api/index.js';

export { waitFor, within } from '../support/wait.js';

function checkError(err: unknown, code: string, parts: readonly (string | RegExp)[]): EpdmaError {
  expect(err).toBeInstanceOf(EpdmaError);
  const e = err as EpdmaError;
  expect(e.code).toBe(code);
  for (const p of parts) {
    if (typeof p === 'string') expect(e.message).toContain(p);
    else expect(e.message).toMatch(p);
  }
  return e;
}

/** `fn` throws an EpdmaError with `code` whose message contains every part. */
export function expectEpdma(fn: () => unknown, code: string, ...parts: (string | RegExp)[]): EpdmaError {
  let thrown: unknown = new Error('did not throw');
  try {
    fn();
  } catch (err) {
    thrown = err;
  }
  return checkError(thrown, code, parts);
}

/** `p` rejects with an EpdmaError with `code` whose message contains every part. */
export async function expectRejects(p: Promise<unknown>, code: string, ...parts: (string | RegExp)[]): Promise<EpdmaError> {
  const err = await p.then(() => new Error('did not reject'), (e: unknown) => e);
  return checkError(err, code, parts);
}

/**
 * The channel's worker started nothing: over `rounds` control round trips (the worker polls its
 * rings between two of them) its chunk and descriptor counts do not move. This proves, without
 * waiting for time to pass, that queued work has not been taken.
 */
export async function expectWorkerStartedNothing(ch: DmaChannel, rounds = 3): Promise<void> {
  const actor = (ch as unknown as { actor: { call(method: 'stats'): Promise<{ chunks: number; descriptors: number }> } }).actor;
  const first = await actor.call('stats');
  for (let i = 1; i < rounds; i++) {
    const now = await actor.call('stats');
    expect({ chunks: now.chunks, descriptors: now.descriptors }).toEqual({ chunks: first.chunks, descriptors: first.descriptors });
  }
}

/** As expectWorkerStartedNothing, and the channel is IDLE (nothing issued): pause is EPERM. */
export async function expectWorkerIdle(ch: DmaChannel, rounds = 3): Promise<void> {
  await expectWorkerStartedNothing(ch, rounds);
  await expectRejects(ch.pause(), 'EPERM', 'idle');
}

/** Deterministic non-zero pattern (xorshift), different for every seed. */
export function fill(bytes: Uint8Array, seed: number): void {
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < bytes.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    bytes[i] = (x >>> 0) & 0xff;
  }
}

export function same(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;
}

/** Index of the first byte that differs, -1 if none (readable failures on big buffers). */
export function firstDifference(a: Uint8Array, b: Uint8Array): number {
  if (same(a, b)) return -1;
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return i;
  return Math.min(a.length, b.length);
}

export function isZero(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) if (bytes[i] !== 0) return false;
  return true;
}

/**
 * A view of a whole side memory. `DmaBuffer.bytes` views the memory itself (API.md: payload is
 * written and read in place), so one buffer's offset locates the region it was cut from.
 */
export function wholeMemory(memory: DmaMemory): Uint8Array {
  const probe = memory.alloc(64);
  try {
    const start = probe.bytes.byteOffset - (probe.addr - memory.base);
    return new Uint8Array(probe.bytes.buffer, start, memory.size);
  } finally {
    memory.free(probe);
  }
}

/** The bytes of a side memory at bus address `addr`. */
export function viewAt(memory: DmaMemory, addr: number, length: number): Uint8Array {
  return wholeMemory(memory).subarray(addr - memory.base, addr - memory.base + length);
}

/** The single completion of a successful transfer(); rejects with its EpdmaError otherwise. */
export function run(o: Observable<Completion>): Promise<Completion> {
  return lastValueFrom(o);
}

/**
 * Testbeds and channels a test opened, closed by `closeAll()` in afterEach so a failing
 * assertion cannot leak workers into the next test.
 */
export class Opened {
  private readonly beds: Testbed[] = [];
  private readonly channels: DmaChannel[] = [];
  private readonly buffers: { memory: DmaMemory; buffer: DmaBuffer }[] = [];

  async testbed(options?: TestbedOptions): Promise<Testbed> {
    const bed = await createTestbed(options);
    this.beds.push(bed);
    return bed;
  }

  channel(ch: DmaChannel): DmaChannel {
    this.channels.push(ch);
    return ch;
  }

  alloc(memory: DmaMemory, bytes: number, options?: { align?: number }): DmaBuffer {
    const buffer = memory.alloc(bytes, options);
    this.buffers.push({ memory, buffer });
    return buffer;
  }

  /**
   * Closes everything; a release, free or close that fails fails the test (after the rest
   * closed). ESHUTDOWN is no failure: the test closed the testbed itself, which released its
   * channels and memory.
   */
  async closeAll(): Promise<void> {
    const failures: unknown[] = [];
    const fail = (err: unknown): void => {
      if (!(err instanceof Error && (err as { code?: unknown }).code === 'ESHUTDOWN')) failures.push(err);
    };
    const note = (results: PromiseSettledResult<unknown>[]): void => {
      for (const r of results) if (r.status === 'rejected') fail(r.reason);
    };
    note(await Promise.allSettled(this.channels.splice(0).map((c) => c.release())));
    for (const { memory, buffer } of this.buffers.splice(0)) {
      try {
        memory.free(buffer);
      } catch (err) {
        fail(err);
      }
    }
    note(await Promise.allSettled(this.beds.splice(0).map((b) => b.close())));
    if (failures.length > 0) throw new AggregateError(failures, `closing what the test opened: ${failures.length} failure(s)`);
  }
}
