import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { mwSizeFor, qpRegion, qpToMw, qpsInMw, sliceBytesFor } from '../../../dist/api/ntb/memory-window-layout.js';

describe('memory window geometry', () => {
  it('maps queues to windows round-robin and splits windows evenly', () => {
    expect([0, 1, 2, 3, 4].map((qp) => qpToMw(qp, 2))).toEqual([0, 1, 0, 1, 0]);
    expect(qpsInMw(0, 5, 2)).toBe(3);
    expect(qpsInMw(1, 5, 2)).toBe(2);
    expect(qpsInMw(1, 1, 2)).toBe(0);
    const size = mwSizeFor(0, 5, 2, 4096, 16);
    expect(qpRegion(size, 0, 5, 2, 4096).offset).toBe(0);
    expect(qpRegion(size, 2, 5, 2, 4096).offset).toBe(size / 3);
    expect(qpRegion(size, 4, 5, 2, 4096).offset).toBe((2 * size) / 3);
  });

  it('derives exactly ringEntries frames of mtu bytes, as ntb_transport_setup_qp_mw would', () => {
    const r = qpRegion(mwSizeFor(0, 1, 1, 65536, 64), 0, 1, 1, 65536);
    expect(r).toMatchObject({ maxFrame: 65536, maxEntry: 64, offset: 0 });
    expect(r.rxSize).toBe(r.sliceBytes - 4);
    // Frames + rx_info fit the slice, padded to a cache line.
    expect(r.sliceBytes % 64).toBe(0);
    expect(64 * 65536 + 4).toBeLessThanOrEqual(r.sliceBytes);
  });

  it('halves the frame when the window holds fewer than two mtu-sized frames ("at least 2 buffs")', () => {
    const r = qpRegion(3 * 1024 + 4, 0, 1, 1, 4096);
    expect(r.maxFrame).toBe(1536);
    expect(r.maxEntry).toBe(2);
  });

  it('gives every queue ringEntries frames in disjoint slices inside its window', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 32 }),
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 4, max: 4096 }).map((n) => n * 4),
        fc.integer({ min: 2, max: 70 }),
        (queues, mws, mtu, entries) => {
          const mwCount = Math.min(mws, queues);
          const seen = new Map<number, [number, number][]>();
          for (let qp = 0; qp < queues; qp++) {
            const mw = qpToMw(qp, mwCount);
            const size = mwSizeFor(mw, queues, mwCount, mtu, entries);
            const r = qpRegion(size, qp, queues, mwCount, mtu);
            expect(r.maxFrame).toBe(mtu);
            expect(r.maxEntry).toBe(entries);
            expect(r.sliceBytes).toBe(sliceBytesFor(mtu, entries));
            expect(r.offset + r.sliceBytes).toBeLessThanOrEqual(size);
            expect(r.offset % 4).toBe(0);
            const list = seen.get(mw) ?? [];
            for (const [a, b] of list) expect(r.offset >= b || r.offset + r.sliceBytes <= a).toBe(true);
            list.push([r.offset, r.offset + r.sliceBytes]);
            seen.set(mw, list);
          }
        },
      ),
    );
  });

  it('rejects a queue outside the count and windows too small for a header', () => {
    expect(() => qpRegion(1 << 20, 3, 3, 1, 4096)).toThrow(/EINVAL: memory window: queue 3 outside 0..2/);
    expect(() => qpRegion(24, 0, 1, 1, 4096)).toThrow(/frames of 8 bytes/);
  });
});
