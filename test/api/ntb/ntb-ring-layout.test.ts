import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import {
  DESC_DONE_FLAG,
  LINK_DOWN_FLAG,
  NTB_HEADER_BYTES,
  NtbRing,
  framesOutstanding,
  initialRemoteEntry,
  nextIndex,
  txRingFull,
} from '../../../dist/api/ntb/ntb-ring-layout.js';

function ringOn(sab: SharedArrayBuffer, offset: number, frame: number, entries: number): NtbRing {
  return new NtbRing(new Uint8Array(sab, offset, frame * entries + 4), frame, entries);
}

describe('NtbRing header codec', () => {
  it('puts {ver, len, flags} little-endian in the last 12 bytes of each frame', () => {
    const sab = new SharedArrayBuffer(4096);
    const ring = ringOn(sab, 64, 256, 4);
    ring.writeHeader(2, 0x01020304, 0x99, DESC_DONE_FLAG | LINK_DOWN_FLAG);
    const dv = new DataView(sab, 64);
    const hdr = 3 * 256 - NTB_HEADER_BYTES;
    expect(dv.getUint32(hdr, true)).toBe(0x01020304);
    expect(dv.getUint32(hdr + 4, true)).toBe(0x99);
    expect(dv.getUint32(hdr + 8, true)).toBe(3);
    // Nothing else of the frame or its neighbours was touched.
    const bytes = new Uint8Array(sab, 64, 4 * 256 + 4);
    const touched = [...bytes.keys()].filter((i) => bytes[i] !== 0);
    expect(touched.every((i) => i >= hdr && i < hdr + 12)).toBe(true);
    expect(ring.readHeader(2)).toEqual({ ver: 0x01020304, len: 0x99, flags: 3 });
    expect(ring.readHeader(1)).toEqual({ ver: 0, len: 0, flags: 0 });
  });

  it('keeps u32 values above 2^31 unsigned and clears flags only', () => {
    const ring = ringOn(new SharedArrayBuffer(1024), 0, 64, 4);
    ring.writeHeader(0, 0xffff_fffe, 52, DESC_DONE_FLAG);
    expect(ring.ver(0)).toBe(0xffff_fffe);
    ring.clearFlags(0);
    expect(ring.readHeader(0)).toEqual({ ver: 0xffff_fffe, len: 52, flags: 0 });
    ring.clearHeaders();
    expect(ring.readHeader(0)).toEqual({ ver: 0, len: 0, flags: 0 });
  });

  it('places rx_info right after the last frame and payload at frame starts', () => {
    const sab = new SharedArrayBuffer(2048);
    const ring = ringOn(sab, 128, 128, 8);
    ring.writeRxInfo(7);
    expect(new DataView(sab).getUint32(128 + 8 * 128, true)).toBe(7);
    expect(ring.readRxInfo()).toBe(7);
    const p = ring.payload(3, 10);
    expect(p.byteOffset).toBe(128 + 3 * 128);
    expect(p.length).toBe(10);
    expect(ring.maxPayload).toBe(128 - 12);
  });

  it('refuses misaligned or too small regions with EINVAL naming the value', () => {
    const sab = new SharedArrayBuffer(1024);
    expect(() => new NtbRing(new Uint8Array(sab, 2, 512), 64, 4)).toThrow(/EINVAL: ntb ring: byteOffset 0x2/);
    expect(() => new NtbRing(new Uint8Array(sab, 0, 512), 12, 4)).toThrow(/frame size 12/);
    expect(() => new NtbRing(new Uint8Array(sab, 0, 512), 64, 1)).toThrow(/1 entries/);
    expect(() => new NtbRing(new Uint8Array(sab, 0, 256), 64, 4)).toThrow(/exceed the region of 0x100/);
  });
});

describe('ring index rules (ntb_transport)', () => {
  it('starts with the consumer index at entries - 1 so entries - 1 frames fit', () => {
    const entries = 8;
    let tx = 0;
    const remote = initialRemoteEntry(entries);
    let placed = 0;
    while (!txRingFull(tx, remote)) {
      tx = nextIndex(tx, entries);
      placed++;
    }
    expect(placed).toBe(entries - 1);
    expect(framesOutstanding(tx, remote, entries)).toBe(entries - 1);
    expect(framesOutstanding(0, remote, entries)).toBe(0);
  });

  it('never overfills and never loses order under any interleaving of produce and consume', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 16 }), fc.array(fc.boolean(), { minLength: 1, maxLength: 300 }), (entries, ops) => {
        let tx = 0;
        let rx = 0;
        let remote = initialRemoteEntry(entries);
        let produced = 0;
        let consumed = 0;
        const ring = new Array<number | undefined>(entries);
        for (const produce of ops) {
          if (produce) {
            if (txRingFull(tx, remote)) {
              expect(framesOutstanding(tx, remote, entries)).toBe(entries - 1);
              continue;
            }
            expect(ring[tx]).toBeUndefined(); // the producer never overwrites an unconsumed frame
            ring[tx] = produced++;
            tx = nextIndex(tx, entries);
          } else {
            if (ring[rx] === undefined) continue;
            expect(ring[rx]).toBe(consumed++);
            ring[rx] = undefined;
            remote = rx; // the consumer publishes the index it consumed
            rx = nextIndex(rx, entries);
          }
          expect(framesOutstanding(tx, remote, entries)).toBe(produced - consumed);
        }
      }),
    );
  });
});
