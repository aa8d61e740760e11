import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createTraceRingBuffer, TraceRing } from '../../dist/protocol/trace-ring.js';

function drainAll(ring: TraceRing): { hrNs: number; cookie: number; bytes: number; first: boolean }[] {
  const out: { hrNs: number; cookie: number; bytes: number; first: boolean }[] = [];
  ring.drain((hrNs, cookie, bytes, first) => out.push({ hrNs, cookie, bytes, first }));
  return out;
}

describe('TraceRing', () => {
  it('hands records back in order with hrtime timestamps between the calls around them', () => {
    const buffer = createTraceRingBuffer(8);
    const writer = new TraceRing(buffer);
    const reader = new TraceRing(buffer);
    const before = Number(process.hrtime.bigint());
    writer.chunk(1, 4096, true);
    writer.chunk(1, 100, false);
    writer.chunk(2, 7, true);
    const after = Number(process.hrtime.bigint());
    const records = drainAll(reader);
    expect(records.map(({ cookie, bytes, first }) => [cookie, bytes, first])).toEqual([[1, 4096, true], [1, 100, false], [2, 7, true]]);
    for (const r of records) {
      expect(r.hrNs).toBeGreaterThanOrEqual(before - 1e5); // two clocks paired once: allow 0.1 ms
      expect(r.hrNs).toBeLessThanOrEqual(after + 1e5);
    }
    expect(records[1]!.hrNs).toBeGreaterThanOrEqual(records[0]!.hrNs);
    expect(drainAll(reader)).toEqual([]);
  });

  it('drops (and counts) what does not fit, never overwriting undrained records', () => {
    const buffer = createTraceRingBuffer(4);
    const ring = new TraceRing(buffer);
    for (let c = 1; c <= 6; c++) ring.chunk(c, c, true);
    expect(ring.dropped).toBe(2);
    expect(drainAll(ring).map((r) => r.cookie)).toEqual([1, 2, 3, 4]);
    ring.chunk(7, 7, false);
    expect(drainAll(ring).map((r) => r.cookie)).toEqual([7]);
  });

  it('rejects capacities that are not a power of two', () => {
    expect(() => createTraceRingBuffer(6)).toThrow(/power of two/);
    expect(() => createTraceRingBuffer(1)).toThrow(/power of two/);
  });

  it('any interleaving of writes and drains delivers every record once, in order, or counts it dropped (property)', () => {
    fc.assert(fc.property(fc.array(fc.oneof(fc.constant('drain' as const), fc.nat(3)), { maxLength: 200 }), (ops) => {
      const ring = new TraceRing(createTraceRingBuffer(8));
      const delivered: number[] = [];
      let written = 0;
      for (const op of ops) {
        if (op === 'drain') ring.drain((_t, cookie) => delivered.push(cookie));
        else for (let k = 0; k <= op; k++) ring.chunk(++written, 1, true);
      }
      ring.drain((_t, cookie) => delivered.push(cookie));
      expect(delivered.length + ring.dropped).toBe(written);
      for (let i = 1; i < delivered.length; i++) expect(delivered[i]!).toBeGreaterThan(delivered[i - 1]!);
    }));
  });
});
