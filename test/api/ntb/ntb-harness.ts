import { afterAll, afterEach, beforeAll } from 'vitest';
import { createTestbed } from '../../../dist/api/testbed.js';
import { createNtbTransport } from '../../../dist/api/ntb/ntb-transport.js';
import type { NtbPort, NtbTransport, NtbTransportOptions, QueuePair } from '../../../dist/api/ntb/ntb-types.js';
import type { Testbed, TestbedOptions } from '../../../dist/api/types.js';
import { filter, firstValueFrom, type Observable } from 'rxjs';

/** Shared helpers of the NTB transport integration tests (not a test file). */

/** mulberry32: a small deterministic PRNG so sender and receiver derive the same payloads. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Payload `seq` of stream `stream`: a size from 1..maxPayload (a third of them within twice
 * copyBytes, so both copy paths get many), the sequence number in the first 4 bytes (when it
 * fits), the rest a pattern of (stream, seq, position).
 */
export function payloadSize(stream: number, seq: number, maxPayload: number, copyBytes: number, minSize = 1): number {
  const r = prng(stream * 1_000_003 + seq);
  const small = r() < 0.33;
  const span = (small ? Math.min(maxPayload, 2 * copyBytes) : maxPayload) - minSize + 1;
  return minSize + Math.floor(r() * span);
}

export function fillPayload(into: Uint8Array, stream: number, seq: number): Uint8Array {
  for (let i = 0; i < into.length; i++) into[i] = (seq * 131 + i * 7 + stream * 17 + (i >> 8)) & 0xff;
  if (into.length >= 4) new DataView(into.buffer, into.byteOffset, into.length).setUint32(0, seq, true);
  return into;
}

/** `minSize` 4 guarantees the payload carries its sequence number. */
export function makePayload(stream: number, seq: number, maxPayload: number, copyBytes: number, minSize = 1): Uint8Array {
  return fillPayload(new Uint8Array(payloadSize(stream, seq, maxPayload, copyBytes, minSize)), stream, seq);
}

/** The sequence number a payload carries (payloads of at least 4 bytes). */
export function seqOf(d: Uint8Array): number {
  return new DataView(d.buffer, d.byteOffset, d.length).getUint32(0, true);
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length));
}

export function linked(port: NtbPort): Promise<boolean> {
  return firstValueFrom(port.link$.pipe(filter(Boolean)));
}

export function whenValue(link$: Observable<boolean>, value: boolean): Promise<boolean> {
  return firstValueFrom(link$.pipe(filter((v) => v === value)));
}

/** Resolves when `count()` reaches `n` (checked on every call of `poke`). */
export function counter(n: number): { poke(): void; readonly count: number; readonly done: Promise<void> } {
  let count = 0;
  let resolve!: () => void;
  const done = new Promise<void>((r) => { resolve = r; });
  if (n === 0) resolve();
  return {
    poke() {
      if (++count === n) resolve();
    },
    get count() {
      return count;
    },
    done,
  };
}

/**
 * Sends `n` payloads of a stream with at most `window` sends outstanding; even sequence
 * numbers are plain Uint8Arrays (staged), odd ones live in the sender's DMA memory
 * (allocPayload: zero copy) and are freed once sent.
 */
export async function sendStream(q: QueuePair, stream: number, n: number, copyBytes: number, window = 64): Promise<{ staged: number; dmaSized: number }> {
  const outstanding: Promise<void>[] = [];
  let staged = 0;
  let dmaSized = 0;
  for (let seq = 0; seq < n; seq++) {
    const size = payloadSize(stream, seq, q.maxPayload, copyBytes);
    if (size >= copyBytes) dmaSized++;
    let p: Promise<void>;
    if (seq % 2 === 0) {
      staged++;
      p = q.send(makePayload(stream, seq, q.maxPayload, copyBytes));
    } else {
      const buf = fillPayload(q.allocPayload(size), stream, seq);
      p = q.send(buf).then(() => q.freePayload(buf));
    }
    outstanding.push(p);
    if (outstanding.length >= window) await outstanding.shift();
  }
  await Promise.all(outstanding);
  return { staged, dmaSized };
}

/**
 * One testbed per test file and one transport per test: registers the vitest hooks that
 * create and close them. `open` creates the transport and waits until both ports are linked.
 */
export function useNtbTestbed(testbedOptions?: TestbedOptions): { readonly testbed: Testbed; open(options?: NtbTransportOptions): Promise<NtbTransport> } {
  let testbed: Testbed | undefined;
  let transport: NtbTransport | undefined;
  beforeAll(async () => {
    testbed = await createTestbed(testbedOptions);
  });
  afterAll(async () => {
    await testbed?.close();
  });
  afterEach(async () => {
    await transport?.close();
    transport = undefined;
  });
  return {
    get testbed(): Testbed {
      return testbed!;
    },
    async open(options: NtbTransportOptions = {}): Promise<NtbTransport> {
      transport = await createNtbTransport(testbed!, options);
      await Promise.all([linked(transport.host), linked(transport.endpoint)]);
      return transport;
    },
  };
}
