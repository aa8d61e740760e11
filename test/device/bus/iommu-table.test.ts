/**
 * The host IOMMU's shared mapping table: `allows` answers exactly as a plain list of live
 * mappings would (fast-check, random map/unmap/query sequences), slots are reused, a full
 * table is ENOMEM, and a second view on the same buffer (another thread's) sees the same.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IOMMU_DEVICE_READS, IOMMU_DEVICE_WRITES, IommuTable } from '../../../dist/device/bus/iommu-table.js';

interface Mapping { slot: number; addr: number; length: number; access: number }

const op = fc.oneof(
  fc.record({ kind: fc.constant('map' as const), addr: fc.integer({ min: 0, max: 4096 }), length: fc.integer({ min: 1, max: 1024 }), access: fc.integer({ min: 1, max: 3 }) }),
  fc.record({ kind: fc.constant('unmap' as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant('query' as const), addr: fc.integer({ min: 0, max: 5200 }), length: fc.integer({ min: 1, max: 1100 }), access: fc.constantFrom(IOMMU_DEVICE_READS, IOMMU_DEVICE_WRITES) }),
);

describe('IommuTable', () => {
  it('allows() matches a model of the live mappings through any sequence of map and unmap', () => {
    fc.assert(fc.property(fc.array(op, { maxLength: 120 }), (ops) => {
      const table = IommuTable.create(64);
      const other = new IommuTable(table.buffer); // what a channel worker sees
      const live: Mapping[] = [];
      for (const o of ops) {
        if (o.kind === 'map') {
          if (live.length === 64) {
            expect(() => table.map(o.addr, o.length, o.access)).toThrow(expect.objectContaining({ code: 'ENOMEM' }));
            continue;
          }
          const slot = table.map(o.addr, o.length, o.access);
          expect(live.some((m) => m.slot === slot)).toBe(false);
          live.push({ slot, addr: o.addr, length: o.length, access: o.access });
        } else if (o.kind === 'unmap') {
          if (live.length === 0) continue;
          const [m] = live.splice(o.pick % live.length, 1);
          table.unmap(m!.slot);
        } else {
          const want = live.some((m) => (m.access & o.access) !== 0 && o.addr >= m.addr && o.addr + o.length <= m.addr + m.length);
          expect(other.allows(o.addr, o.length, o.access)).toBe(want);
        }
      }
    }));
  });

  it('counts faults for every view and starts at 0', () => {
    const table = IommuTable.create(4);
    const other = new IommuTable(table.buffer);
    expect(table.faults).toBe(0);
    other.recordFault();
    other.recordFault();
    expect(table.faults).toBe(2);
  });

  it('reuses unmapped slots: a table of 2 takes any number of map/unmap pairs', () => {
    const table = IommuTable.create(2);
    for (let i = 0; i < 100; i++) {
      const a = table.map(i * 8, 8, IOMMU_DEVICE_READS);
      const b = table.map(i * 8 + 4096, 8, IOMMU_DEVICE_WRITES);
      expect(table.allows(i * 8, 8, IOMMU_DEVICE_READS)).toBe(true);
      expect(table.allows(i * 8, 8, IOMMU_DEVICE_WRITES)).toBe(false);
      expect(() => table.map(0, 1, IOMMU_DEVICE_READS)).toThrow(expect.objectContaining({ code: 'ENOMEM', message: expect.stringContaining('0x0+0x1') }));
      table.unmap(a);
      table.unmap(b);
      expect(table.allows(i * 8, 8, IOMMU_DEVICE_READS)).toBe(false);
    }
  });
});
