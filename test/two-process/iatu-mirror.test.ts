import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AddressSpace } from '../../dist/device/bus/address-space.js';
import { ramRegion } from '../../dist/device/bus/memory-region.js';
import { IatuMirror, MIRROR_MAX_WINDOWS, MirroredBarAperture } from '../../dist/api/two-process/iatu-mirror.js';
import { CONTROL_BYTES, MIRROR_WORD_BASE } from '../../dist/api/two-process/shm-layout.js';
import { processAlive } from '../../dist/api/two-process/liveness.js';

const control = (): Int32Array => new Int32Array(new SharedArrayBuffer(CONTROL_BYTES));

describe('IatuMirror', () => {
  it('round-trips windows per BAR, addresses above 2^32 included', () => {
    fc.assert(fc.property(
      fc.integer({ min: 0, max: 5 }),
      fc.array(fc.record({
        barOffset: fc.integer({ min: 0, max: 2 ** 40 }),
        size: fc.integer({ min: 1, max: 2 ** 40 }),
        localAddr: fc.integer({ min: 0, max: 2 ** 52 }),
      }), { maxLength: MIRROR_MAX_WINDOWS }),
      (bar, windows) => {
        const words = control();
        const writer = new IatuMirror(words);
        const reader = new IatuMirror(words);
        writer.write(bar, windows);
        expect(reader.read(bar)).toEqual(windows);
        for (let other = 0; other < 6; other++) if (other !== bar) expect(reader.read(other)).toEqual([]);
      },
    ));
  });

  it('a reader sees every later change (cache keyed by the seqlock), including unprogramming', () => {
    const words = control();
    const writer = new IatuMirror(words);
    const reader = new IatuMirror(words);
    writer.write(2, [{ barOffset: 0, size: 0x1000, localAddr: 0x4000_0000 }]);
    const first = reader.read(2);
    expect(reader.read(2)).toBe(first); // unchanged: the same array, nothing re-read
    writer.write(2, [{ barOffset: 0, size: 0x2000, localAddr: 0x6000_0000 }, { barOffset: 0x2000, size: 0x2000, localAddr: 0x7000_0000 }]);
    expect(reader.read(2)).toEqual([{ barOffset: 0, size: 0x2000, localAddr: 0x6000_0000 }, { barOffset: 0x2000, size: 0x2000, localAddr: 0x7000_0000 }]);
    writer.write(2, []);
    expect(reader.read(2)).toEqual([]);
  });

  it('a writer that died mid-update (odd seq) leaves the BAR unmapped, not torn', () => {
    const words = control();
    const writer = new IatuMirror(words);
    writer.write(1, [{ barOffset: 0, size: 0x1000, localAddr: 0x8000_0000 }]);
    Atomics.add(words, MIRROR_WORD_BASE + 128 * 1, 1); // seq odd: "being written" forever
    expect(new IatuMirror(words).read(1)).toEqual([]);
  });

  it('refuses more windows than the table holds and BAR indexes outside 0..5', () => {
    const m = new IatuMirror(control());
    const many = Array.from({ length: MIRROR_MAX_WINDOWS + 1 }, (_, i) => ({ barOffset: i * 0x1000, size: 0x1000, localAddr: 0 }));
    expect(() => m.write(0, many)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => m.read(6)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => new IatuMirror(new Int32Array(16))).toThrow(expect.objectContaining({ code: 'EINVAL' }));
  });
});

describe('MirroredBarAperture', () => {
  it('translates through the published windows into the mirrored EP-local space', () => {
    const ram = ramRegion('ep-ram', 0x8000_0000, 0x10000);
    const space = new AddressSpace('ep-local (mirrored)', [ram]);
    const words = control();
    const ep = new IatuMirror(words);
    const ap = new MirroredBarAperture(4, 0x4000, space, new IatuMirror(words), 0xf000_0000);
    expect(ap.busAddr).toBe(0xf000_0000);
    expect(ap.programmed).toBe(false);
    expect(ap.translate(0, 4)).toMatchObject({ ok: false, fault: 'unmapped' });

    ep.write(4, [{ barOffset: 0, size: 0x2000, localAddr: 0x8000_1000 }, { barOffset: 0x2000, size: 0x2000, localAddr: 0x8000_8000 }]);
    expect(ap.programmed).toBe(true);
    expect(ap.toLocal(0x2010, 16)).toBe(0x8000_8010);
    ram.bytes[0x1000 + 0x20] = 0x5a;
    const hit = ap.iomap(0x20, 1);
    expect(hit.region.name).toBe('ep-ram');
    expect(hit.offset).toBe(0x1020);
    ap.write32(0x2004, 0x1234_5678);
    expect(new DataView(ram.bytes.buffer).getUint32(0x8004, true)).toBe(0x1234_5678);

    ep.write(4, []); // link down on the endpoint
    expect(() => ap.read32(0)).toThrow(expect.objectContaining({ code: 'EIO' }));
    expect(() => ap.program()).toThrow(expect.objectContaining({ code: 'EPERM' }));
  });
});

describe('processAlive', () => {
  it('is true for this process and false for pids that cannot be alive', () => {
    expect(processAlive(process.pid)).toBe(true);
    expect(processAlive(0)).toBe(false);
    expect(processAlive(-5)).toBe(false);
    expect(processAlive(2 ** 22 + 1)).toBe(false); // above Linux's pid_max limit
  });
});
