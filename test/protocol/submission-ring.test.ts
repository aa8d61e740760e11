import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  DEFAULT_SUBMISSION_CAPACITY,
  DESC_CYCLIC,
  DESC_INTERLEAVED,
  DESC_REPEAT,
  DESC_SG,
  SUBMISSION_FLAG_INTERRUPT,
  SubmissionRing,
} from '../../dist/protocol/submission-ring.js';

interface Desc {
  cookie: number;
  flags: number;
  deviceAddr: number;
  addrs: number[];
  lengths: number[];
}

function push(ring: SubmissionRing, d: Desc): number {
  if (d.addrs.length === 1 && d.cookie % 2 === 0) {
    return ring.pushSingle(d.cookie, d.flags, d.deviceAddr, d.addrs[0]!, d.lengths[0]!);
  }
  return ring.pushSg(d.cookie, d.flags, d.deviceAddr, d.addrs, d.lengths, d.addrs.length);
}

/** Reads and consumes the descriptor at tail, as a channel worker does. */
function take(ring: SubmissionRing): (Desc & { seq: number }) | undefined {
  if (!ring.peekHeader()) return undefined;
  const n = ring.nseg();
  const d = {
    seq: ring.seq(),
    cookie: ring.cookie(),
    flags: ring.flags(),
    deviceAddr: ring.deviceAddr(),
    addrs: Array.from({ length: n }, (_, k) => ring.segAddr(k)),
    lengths: Array.from({ length: n }, (_, k) => ring.segLength(k)),
  };
  ring.consume();
  return d;
}

function desc(cookie: number, nseg: number): Desc {
  return {
    cookie,
    flags: cookie % 3 === 0 ? SUBMISSION_FLAG_INTERRUPT : 0,
    // 64-bit bus addresses above 2^32 exercise the f64 slots.
    deviceAddr: 0x8000_0000 + cookie * 0x1000,
    addrs: Array.from({ length: nseg }, (_, k) => 0x1_0000_0000 + cookie * 0x10000 + k * 0x100),
    lengths: Array.from({ length: nseg }, (_, k) => 1 + ((cookie * 7 + k) % 0xffff)),
  };
}

describe('SubmissionRing', () => {
  it('defaults to 4096 entries and allows half of them as segments of one descriptor', () => {
    const ring = SubmissionRing.create();
    expect(ring.capacity).toBe(DEFAULT_SUBMISSION_CAPACITY);
    expect(ring.capacity).toBe(4096);
    expect(ring.maxSegments).toBe(2048);
    expect(ring.freeEntries()).toBe(4096);
    expect(ring.buffer.byteLength).toBe(192 + 4096 * 32);
  });

  it('rejects a capacity that is not a power of two and a buffer that does not match its capacity', () => {
    expect(() => SubmissionRing.create(12)).toThrow(/EINVAL: submission ring: capacity 12/);
    expect(() => SubmissionRing.create(1)).toThrow(/capacity 1 /);
    const sab = SubmissionRing.create(8).buffer;
    expect(() => new SubmissionRing(sab.slice(0, 192 + 4 * 32) as unknown as SharedArrayBuffer)).toThrow(
      /capacity 8 does not match a buffer of 320 bytes/,
    );
    expect(() => new SubmissionRing(new SharedArrayBuffer(64))).toThrow(/no control block/);
  });

  it('carries every header and segment field from a producer instance to a consumer instance on the same buffer', () => {
    const producer = SubmissionRing.create(16);
    const consumer = new SubmissionRing(producer.buffer);
    const seq = producer.pushSingle(0xffff_fffe, SUBMISSION_FLAG_INTERRUPT, 0xfe_dcba_9876_5432, 0x1_2345_6789, 0xffff_ffff);
    expect(seq).toBe(0);
    expect(consumer.available()).toBe(2);
    expect(consumer.peekHeader()).toBe(true);
    expect(consumer.seq()).toBe(0);
    expect(consumer.cookie()).toBe(0xffff_fffe);
    expect(consumer.nseg()).toBe(1);
    expect(consumer.flags()).toBe(SUBMISSION_FLAG_INTERRUPT);
    expect(consumer.deviceAddr()).toBe(0xfe_dcba_9876_5432);
    expect(consumer.segAddr(0)).toBe(0x1_2345_6789);
    expect(consumer.segLength(0)).toBe(0xffff_ffff);
    // Peeking again without consume() yields the same descriptor.
    expect(consumer.peekHeader()).toBe(true);
    expect(consumer.cookie()).toBe(0xffff_fffe);
    consumer.consume();
    expect(producer.tail()).toBe(2);
    expect(producer.head()).toBe(2);
    expect(consumer.peekHeader()).toBe(false);
    expect(() => consumer.consume()).toThrow(/consume\(\) without a descriptor/);
  });

  it('wraps around many times the capacity without losing or reordering a descriptor', () => {
    const ring = SubmissionRing.create(8);
    let cookie = 1;
    let next = 1;
    let lastSeq = -1;
    for (let round = 0; round < 5000; round++) {
      // Fill as far as it goes with 1..3-segment descriptors, then take a random share back.
      for (;;) {
        const d = desc(cookie, 1 + (cookie % 3));
        const seq = push(ring, d);
        if (seq === -1) break;
        expect(seq).toBeGreaterThan(lastSeq);
        lastSeq = seq;
        cookie++;
      }
      const takeCount = 1 + (round % 3);
      for (let t = 0; t < takeCount; t++) {
        const got = take(ring);
        if (got === undefined) break;
        const { seq: _seq, ...fields } = got;
        expect(fields).toEqual(desc(next, 1 + (next % 3)));
        next++;
      }
    }
    while (take(ring) !== undefined) next++;
    expect(next).toBe(cookie);
    expect(ring.head()).toBeGreaterThan(8 * 1000);
    expect(ring.tail()).toBe(ring.head());
  });

  it('refuses a push that does not fit and leaves the queued entries untouched', () => {
    const ring = SubmissionRing.create(8);
    for (let c = 1; c <= 4; c++) expect(push(ring, desc(c, 1))).toBe((c - 1) * 2);
    expect(ring.freeEntries()).toBe(0);
    expect(ring.pushSingle(99, 0, 1, 2, 3)).toBe(-1);
    expect(ring.pushSg(99, 0, 1, [2], [3], 1)).toBe(-1);
    expect(ring.head()).toBe(8);
    expect(take(ring)).toMatchObject(desc(1, 1));
    // Two entries free: a 2-segment descriptor (3 entries) still does not fit.
    expect(ring.freeEntries()).toBe(2);
    expect(ring.pushSg(98, 0, 1, [2, 3], [4, 5], 2)).toBe(-1);
    for (let c = 2; c <= 4; c++) expect(take(ring)).toMatchObject(desc(c, 1));
    expect(take(ring)).toBeUndefined();
  });

  it('lays out a scatter-gather descriptor across the end of the ring', () => {
    const producer = SubmissionRing.create(16);
    const consumer = new SubmissionRing(producer.buffer);
    // Move head and tail to 13, so a 6-segment descriptor occupies slots 13..15 and 0..3.
    for (let i = 0; i < 13; i++) producer.pushSg(i, 0, 0, [], [], 0);
    for (let i = 0; i < 13; i++) take(consumer);
    const addrs = new Float64Array([0x1_0000_0000, 0x1_0000_1000, 0x1_0000_2000, 0x2_0000_0000, 0x3_0000_0000, 0x4_0000_0000]);
    const lengths = new Uint32Array([10, 20, 30, 40, 50, 60]);
    expect(producer.pushSg(77, 0, 0x8000_0000, addrs, lengths, 6)).toBe(13);
    expect(producer.head()).toBe(20);
    const got = take(consumer)!;
    expect(got.seq).toBe(13);
    expect(got.cookie).toBe(77);
    expect(got.addrs).toEqual(Array.from(addrs));
    expect(got.lengths).toEqual(Array.from(lengths));
    expect(consumer.tail()).toBe(20);
  });

  it('accepts up to maxSegments segments and rejects more', () => {
    const ring = SubmissionRing.create(16);
    expect(ring.maxSegments).toBe(8);
    const d = desc(5, 8);
    expect(push(ring, d)).toBe(0);
    expect(take(ring)).toMatchObject(d);
    const big = desc(6, 9);
    expect(() => push(ring, big)).toThrow(/EINVAL: submission ring: nseg 9 outside \[0, 8\]/);
    expect(() => ring.pushSg(1, 0, 0, [1], [1], 2)).toThrow(/nseg 2 but columns of 1, 1 and 1 values/);
    expect(ring.head()).toBe(9);
  });

  it('keeps sequence arithmetic right across the u32 wrap', () => {
    const sab = SubmissionRing.create(8).buffer;
    const ctl = new Int32Array(sab, 0, 48);
    ctl[0] = 0xffff_fffc | 0; // head
    ctl[16] = 0xffff_fffc | 0; // tail
    const producer = new SubmissionRing(sab);
    const consumer = new SubmissionRing(sab);
    const seqs = [1, 2, 3].map((c) => producer.pushSingle(c, 0, 0, c, c));
    expect(seqs).toEqual([0xffff_fffc, 0xffff_fffe, 0]);
    expect(consumer.available()).toBe(6);
    expect(producer.freeEntries()).toBe(2);
    expect(take(consumer)!.cookie).toBe(1);
    expect(producer.isTaken(seqs[0]!)).toBe(true);
    expect(producer.isTaken(seqs[1]!)).toBe(false);
    expect(take(consumer)!.seq).toBe(0xffff_fffe);
    expect(producer.isTaken(seqs[1]!)).toBe(true);
    expect(producer.isTaken(seqs[2]!)).toBe(false);
    expect(take(consumer)!.cookie).toBe(3);
    expect(producer.tail()).toBe(2);
    expect(producer.isTaken(seqs[2]!)).toBe(true);
  });

  it('discardAll drops everything queued and the producer gets the space back', () => {
    const producer = SubmissionRing.create(8);
    const consumer = new SubmissionRing(producer.buffer);
    producer.pushSingle(1, 0, 0, 1, 1);
    producer.pushSg(2, 0, 0, [1, 2], [1, 2], 2);
    expect(consumer.discardAll()).toBe(5);
    expect(consumer.peekHeader()).toBe(false);
    expect(producer.freeEntries()).toBe(8);
    expect(producer.isTaken(0)).toBe(true);
    expect(producer.pushSingle(3, 0, 0, 1, 1)).toBe(5);
    expect(take(consumer)!.cookie).toBe(3);
  });

  it('reports a header whose segments were never published as corrupt instead of stalling', () => {
    const producer = SubmissionRing.create(8);
    producer.pushSingle(1, 0, 0, 1, 1);
    new Uint32Array(producer.buffer, 192)[1] = 5; // nseg 5 with 2 entries published
    expect(() => new SubmissionRing(producer.buffer).peekHeader()).toThrow(/EIO: submission ring: corrupt descriptor at seq 0: nseg 5/);
  });

  it('reports an unknown kind, or a cyclic header without exactly one segment, as corrupt', () => {
    const producer = SubmissionRing.create(8);
    producer.pushSingle(1, 0, 0, 1, 1);
    const words = new Uint32Array(producer.buffer, 192);
    words[2] = 4 << 8;
    expect(() => new SubmissionRing(producer.buffer).peekHeader()).toThrow(/EIO: submission ring: corrupt descriptor at seq 0: kind 4 with nseg 1/);
    words[2] = DESC_REPEAT << 8;
    words[1] = 0;
    expect(() => new SubmissionRing(producer.buffer).peekHeader()).toThrow(/kind 2 with nseg 0/);
  });

  it('matches an array model for random interleavings of pushes and consumes', () => {
    const command = fc.oneof(
      fc.record({ kind: fc.constant('push' as const), nseg: fc.integer({ min: 0, max: 8 }), salt: fc.nat(1000) }),
      fc.record({ kind: fc.constant('consume' as const), count: fc.integer({ min: 1, max: 4 }) }),
    );
    fc.assert(
      fc.property(fc.constantFrom(16, 32), fc.array(command, { maxLength: 300 }), (capacity, commands) => {
        const producer = SubmissionRing.create(capacity);
        const consumer = new SubmissionRing(producer.buffer);
        const model: { d: Desc; seq: number; entries: number }[] = [];
        let used = 0;
        let head = 0;
        let cookie = 1;
        for (const c of commands) {
          if (c.kind === 'push') {
            const d = desc(cookie * 1000 + c.salt, c.nseg);
            const seq = push(producer, d);
            if (used + 1 + c.nseg > capacity) {
              expect(seq).toBe(-1);
            } else {
              expect(seq).toBe(head);
              model.push({ d, seq, entries: 1 + c.nseg });
              used += 1 + c.nseg;
              head += 1 + c.nseg;
              cookie++;
            }
          } else {
            for (let i = 0; i < c.count; i++) {
              const got = take(consumer);
              const want = model.shift();
              if (want === undefined) {
                expect(got).toBeUndefined();
                break;
              }
              expect(got).toEqual({ ...want.d, seq: want.seq });
              used -= want.entries;
            }
          }
          expect(consumer.available()).toBe(used);
          expect(producer.freeEntries()).toBe(capacity - used);
        }
      }),
      { numRuns: 200 },
    );
  });

  describe('descriptor kinds', () => {
    it('carries a cyclic and a repeat descriptor: kind, count, buffer, burst length, device address', () => {
      const producer = SubmissionRing.create(8);
      const consumer = new SubmissionRing(producer.buffer);
      expect(producer.pushCyclic(7, SUBMISSION_FLAG_INTERRUPT, DESC_CYCLIC, 0x8000_1000, 0x1_0000_2000, 4096, 8)).toBe(0);
      expect(producer.pushCyclic(8, 0, DESC_REPEAT, 0x8000_3000, 0x1_0000_4000, 0xffff_ffff, 0xffff_ffff)).toBe(2);
      expect(() => producer.pushCyclic(9, 0, DESC_SG as typeof DESC_CYCLIC, 0, 0, 1, 1)).toThrow(/EINVAL: submission ring: kind 0 is not cyclic/);
      expect(consumer.peekHeader()).toBe(true);
      expect([consumer.cookie(), consumer.kind(), consumer.flags(), consumer.count(), consumer.nseg()]).toEqual([7, DESC_CYCLIC, SUBMISSION_FLAG_INTERRUPT, 8, 1]);
      expect([consumer.deviceAddr(), consumer.segAddr(0), consumer.segLength(0), consumer.descriptorBytes()]).toEqual([0x8000_1000, 0x1_0000_2000, 4096, 8 * 4096]);
      consumer.consume();
      expect(consumer.peekHeader()).toBe(true);
      expect([consumer.cookie(), consumer.kind(), consumer.flags(), consumer.count()]).toEqual([8, DESC_REPEAT, 0, 0xffff_ffff]);
      expect(consumer.descriptorBytes()).toBe(0xffff_ffff * 0xffff_ffff);
      consumer.consume();
      expect(consumer.peekHeader()).toBe(false);
    });

    it('carries an interleaved descriptor across the end of the ring, with every chunk size and gap', () => {
      const producer = SubmissionRing.create(8);
      const consumer = new SubmissionRing(producer.buffer);
      for (let i = 0; i < 6; i++) producer.pushSg(i, 0, 0, [], [], 0);
      for (let i = 0; i < 6; i++) take(consumer);
      const sizes = [3, 0xffff_ffff, 17];
      const srcGaps = [0, 2 ** 40, 5];
      const dstGaps = [9, 0, 2 ** 52];
      expect(producer.pushInterleaved(5, SUBMISSION_FLAG_INTERRUPT, 0x1_0000_0000, 0x8000_0000, 0xffff_ffff, sizes, srcGaps, dstGaps, 3)).toBe(6);
      expect(consumer.peekHeader()).toBe(true);
      expect([consumer.kind(), consumer.count(), consumer.nseg(), consumer.flags()]).toEqual([DESC_INTERLEAVED, 0xffff_ffff, 3, SUBMISSION_FLAG_INTERRUPT]);
      expect([consumer.deviceAddr(), consumer.dstStart()]).toEqual([0x1_0000_0000, 0x8000_0000]);
      expect([0, 1, 2].map((k) => [consumer.segLength(k), consumer.segSrcGap(k), consumer.segDstGap(k)])).toEqual([[3, 0, 9], [0xffff_ffff, 2 ** 40, 0], [17, 5, 2 ** 52]]);
      expect(consumer.descriptorBytes()).toBe((3 + 0xffff_ffff + 17) * 0xffff_ffff);
      consumer.consume();
      expect(consumer.tail()).toBe(10);
      expect(() => producer.pushInterleaved(1, 0, 0, 0, 1, [1], [1], [], 1)).toThrow(/nseg 1 but columns of 1, 1 and 0 values/);
      expect(() => producer.pushInterleaved(1, 0, 0, 0, 1, [1, 1, 1, 1, 1], [1, 1, 1, 1, 1], [1, 1, 1, 1, 1], 5)).toThrow(/nseg 5 outside \[0, 4\]/);
    });

    it('a scatter-gather descriptor written after other kinds in the same slots reads as scatter-gather', () => {
      const ring = SubmissionRing.create(4);
      ring.pushInterleaved(1, 0, 1, 2, 3, [4], [5], [6], 1);
      ring.pushCyclic(2, 0, DESC_REPEAT, 1, 2, 3, 4);
      take(ring);
      take(ring);
      ring.pushSingle(3, SUBMISSION_FLAG_INTERRUPT, 0x8000_0000, 0x1_0000_0000, 64);
      expect(ring.peekHeader()).toBe(true);
      expect([ring.kind(), ring.count(), ring.flags(), ring.descriptorBytes()]).toEqual([DESC_SG, 0, SUBMISSION_FLAG_INTERRUPT, 64]);
    });

    it('round-trips random descriptors of every kind in order (property)', () => {
      const descriptor = fc.oneof(
        fc.record({ kind: fc.constant(DESC_SG), lengths: fc.array(fc.integer({ min: 1, max: 0xffff_ffff }), { minLength: 1, maxLength: 8 }), a: fc.nat(2 ** 48) }),
        fc.record({ kind: fc.constantFrom(DESC_CYCLIC, DESC_REPEAT), length: fc.integer({ min: 1, max: 0xffff_ffff }), count: fc.integer({ min: 1, max: 0xffff_ffff }), a: fc.nat(2 ** 48) }),
        fc.record({
          kind: fc.constant(DESC_INTERLEAVED),
          chunks: fc.array(fc.tuple(fc.integer({ min: 1, max: 0xffff_ffff }), fc.nat(2 ** 40), fc.nat(2 ** 40)), { minLength: 1, maxLength: 8 }),
          count: fc.integer({ min: 1, max: 0xffff_ffff }),
          a: fc.nat(2 ** 48),
        }),
      );
      fc.assert(
        fc.property(fc.array(descriptor, { minLength: 1, maxLength: 40 }), (list) => {
          const producer = SubmissionRing.create(16);
          const consumer = new SubmissionRing(producer.buffer);
          let taken = 0;
          const check = (): void => {
            const d = list[taken]!;
            expect(consumer.cookie()).toBe(taken + 1);
            expect(consumer.kind()).toBe(d.kind);
            if (d.kind === DESC_SG) {
              expect(Array.from({ length: consumer.nseg() }, (_, k) => consumer.segLength(k))).toEqual(d.lengths);
              expect(consumer.deviceAddr()).toBe(d.a);
            } else if (d.kind === DESC_INTERLEAVED) {
              expect(Array.from({ length: consumer.nseg() }, (_, k) => [consumer.segLength(k), consumer.segSrcGap(k), consumer.segDstGap(k)])).toEqual(d.chunks);
              expect([consumer.count(), consumer.deviceAddr(), consumer.dstStart()]).toEqual([d.count, d.a, d.a + 1]);
            } else {
              expect([consumer.count(), consumer.segLength(0), consumer.segAddr(0), consumer.deviceAddr()]).toEqual([d.count, d.length, d.a + 2, d.a]);
            }
            consumer.consume();
            taken++;
          };
          for (let i = 0; i < list.length; i++) {
            const d = list[i]!;
            const cookie = i + 1;
            const tryPush = (): number =>
              d.kind === DESC_SG
                ? producer.pushSg(cookie, 0, d.a, d.lengths.map(() => 0), d.lengths, d.lengths.length)
                : d.kind === DESC_INTERLEAVED
                  ? producer.pushInterleaved(cookie, 0, d.a, d.a + 1, d.count, d.chunks.map((c) => c[0]), d.chunks.map((c) => c[1]), d.chunks.map((c) => c[2]), d.chunks.length)
                  : producer.pushCyclic(cookie, 0, d.kind, d.a, d.a + 2, d.length, d.count);
            while (tryPush() === -1) {
              expect(consumer.peekHeader()).toBe(true);
              check();
            }
          }
          while (consumer.peekHeader()) check();
          expect(taken).toBe(list.length);
        }),
        { numRuns: 150 },
      );
    });
  });
});
