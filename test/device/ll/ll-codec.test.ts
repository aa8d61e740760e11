/** Linked-list element codec (reference 6.3): sizes, byte layout, 64-bit round trips, ll_max. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  decodeElement,
  LL_CONTROL,
  LL_DATA_BYTES,
  LL_LINK_BYTES,
  llMax,
  readU64,
  writeDataElement,
  writeLinkElement,
} from '../../../dist/device/ll/ll-codec.js';

describe('element sizes and control bits', () => {
  it('data element is 24 bytes, link element 16', () => {
    expect(LL_DATA_BYTES).toBe(24);
    expect(LL_LINK_BYTES).toBe(16);
  });
  it('control bits CB 0, TCB 1, LLP 2, LIE 3, RIE 4', () => {
    expect(LL_CONTROL).toEqual({ CB: 1, TCB: 2, LLP: 4, LIE: 8, RIE: 16 });
  });
});

describe('llMax', () => {
  it('keeps one slot for the link element', () => {
    expect(llMax(4096)).toBe(169);
    expect(llMax(0x800)).toBe(84);
    expect(llMax(48)).toBe(1);
    expect(llMax(47)).toBe(0);
    expect(llMax(24)).toBe(0);
    expect(llMax(0)).toBe(0);
  });
  it('a full chunk plus its link element fits the region', () => {
    for (const size of [0x800, 0x1000, 0x2000, 0x10000]) {
      expect(llMax(size) * 24 + 16).toBeLessThanOrEqual(size);
    }
  });
});

describe('data element', () => {
  it('has the dw_edma_v0_lli little-endian layout with 64-bit hi halves', () => {
    const buf = new ArrayBuffer(48);
    const words = new Int32Array(buf);
    writeDataElement(words, 6, 0x19, 0xffff_fffe, 0x1_2345_6788, 0x1f_ffff_ffff_fff0);
    const dv = new DataView(buf, 24);
    expect(dv.getUint32(0, true)).toBe(0x19);
    expect(dv.getUint32(4, true)).toBe(0xffff_fffe);
    expect(dv.getUint32(8, true)).toBe(0x2345_6788); // sar lo
    expect(dv.getUint32(12, true)).toBe(0x1); // sar hi
    expect(dv.getUint32(16, true)).toBe(0xffff_fff0); // dar lo
    expect(dv.getUint32(20, true)).toBe(0x1f_ffff); // dar hi
    expect(new Uint8Array(buf, 0, 24).every((b) => b === 0)).toBe(true); // first slot untouched
    expect(decodeElement(words, 6)).toEqual({
      type: 'data', control: 0x19, size: 0xffff_fffe, sar: 0x1_2345_6788, dar: 0x1f_ffff_ffff_fff0, llp: 0,
    });
  });

  it('round-trips any control (without LLP), 32-bit size and address below 2^53', () => {
    const addr = fc.oneof(
      fc.integer({ min: 0, max: 0xffff_ffff }),
      fc.integer({ min: 0x1_0000_0000, max: Number.MAX_SAFE_INTEGER }),
      fc.constantFrom(0, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff, 0x1_0000_0000, Number.MAX_SAFE_INTEGER),
    );
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffff_ffff }).map((c) => (c & ~LL_CONTROL.LLP) >>> 0),
        fc.integer({ min: 0, max: 0xffff_ffff }),
        addr,
        addr,
        fc.integer({ min: 0, max: 10 }),
        (control, size, sar, dar, slot) => {
          const words = new Int32Array(72);
          writeDataElement(words, slot * 6, control, size, sar, dar);
          const e = decodeElement(words, slot * 6);
          expect(e).toEqual({ type: 'data', control, size, sar, dar, llp: 0 });
          expect(readU64(words, slot * 6 + 2)).toBe(sar);
          expect(readU64(words, slot * 6 + 4)).toBe(dar);
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('link element', () => {
  it.each([
    // [what the region held at +4, control, llp]
    [0x0000_0000, LL_CONTROL.LLP | LL_CONTROL.TCB | LL_CONTROL.CB, 0x2_7000_1000],
    [0xffff_ffff, LL_CONTROL.LLP | LL_CONTROL.TCB | LL_CONTROL.CB, 0x2_7000_1000],
    [0xdead_beef, LL_CONTROL.LLP | LL_CONTROL.TCB, 0x1f_ffff_ffff_f000],
    [0x0000_0800, LL_CONTROL.LLP | LL_CONTROL.TCB, 0x8000_0000], // a stale data element's size
  ])('has the dw_edma_v0_llp layout; the reserved dword keeps %#x (write_ll_link leaves it)', (held, control, llp) => {
    const buf = new ArrayBuffer(16);
    const words = new Int32Array(buf);
    words.fill(0x5a5a5a5a);
    words[1] = held | 0;
    writeLinkElement(words, 0, control, llp);
    const dv = new DataView(buf);
    expect(dv.getUint32(0, true)).toBe(control);
    expect(dv.getUint32(4, true)).toBe(held);
    expect(dv.getUint32(8, true)).toBe(llp % 2 ** 32);
    expect(dv.getUint32(12, true)).toBe(Math.floor(llp / 2 ** 32));
    expect(decodeElement(words, 0)).toEqual({ type: 'link', control, size: 0, sar: 0, dar: 0, llp });
  });

  it('writes exactly the words at +0, +8 and +12 of a pre-filled region, nothing else', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), { minLength: 24, maxLength: 24 }),
        fc.nat({ max: 20 }),
        fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
        (fill, at, llp) => {
          const words = Int32Array.from(fill);
          const control = LL_CONTROL.LLP | LL_CONTROL.TCB;
          writeLinkElement(words, at, control, llp);
          for (let i = 0; i < words.length; i++) {
            if (i === at) expect(words[i]).toBe(control);
            else if (i === at + 2) expect(words[i]! >>> 0).toBe(llp % 2 ** 32);
            else if (i === at + 3) expect(words[i]! >>> 0).toBe(Math.floor(llp / 2 ** 32));
            else expect(words[i], `word ${i}`).toBe(fill[i]);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('round-trips any 64-bit pointer below 2^53', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), fc.boolean(), (llp, cb) => {
        const words = new Int32Array(4);
        const control = LL_CONTROL.LLP | LL_CONTROL.TCB | (cb ? LL_CONTROL.CB : 0);
        writeLinkElement(words, 0, control, llp);
        expect(decodeElement(words, 0)).toEqual({ type: 'link', control, size: 0, sar: 0, dar: 0, llp });
      }),
      { numRuns: 300 },
    );
  });

  it('a link written over a data element is decoded as a link (LLP bit decides)', () => {
    const words = new Int32Array(6);
    writeDataElement(words, 0, LL_CONTROL.CB, 100, 0x1000, 0x2000);
    writeLinkElement(words, 0, LL_CONTROL.LLP | LL_CONTROL.TCB, 0x7000_0000);
    expect(decodeElement(words, 0).type).toBe('link');
    expect(decodeElement(words, 0).llp).toBe(0x7000_0000);
  });
});
