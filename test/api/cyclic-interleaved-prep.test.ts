/**
 * The argument checks of prepDmaCyclic and prepInterleavedDma in both semantics: every case
 * the kernel answers with NULL (here EINVAL naming the field and the value), the checks that
 * keep the engine inside this side's memory, and what the ring must carry when they pass.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { EpdmaError } from '../../dist/device/errors.js';
import { cyclicShape, interleavedShape, type PrepScope } from '../../dist/api/cyclic-interleaved-prep.js';
import { DESC_CYCLIC, DESC_REPEAT } from '../../dist/protocol/submission-ring.js';
import type { InterleavedTemplate } from '../../dist/api/types.js';

const BASE = 0x8000_0000;
const SIZE = 1 << 20;
const scope: PrepScope = { name: 'host/rd0', sideName: 'host', contains: (a, l) => a >= BASE && l >= 0 && a + l <= BASE + SIZE };

function einval(fn: () => unknown, ...parts: string[]): void {
  let thrown: unknown;
  try {
    fn();
  } catch (err) {
    thrown = err;
  }
  expect(thrown).toBeInstanceOf(EpdmaError);
  expect((thrown as EpdmaError).code).toBe('EINVAL');
  for (const p of parts) expect((thrown as EpdmaError).message).toContain(p);
}

describe('cyclicShape', () => {
  it('contract: a ring of periods', () => {
    expect(cyclicShape(scope, 'contract', BASE, 8 * 4096, 4096)).toEqual({ kind: DESC_CYCLIC, length: 4096, count: 8, bytes: 8 * 4096 });
  });

  it("dw-edma: (paddr, len, count) = (addr, bufferBytes, periodBytes), count bursts of len", () => {
    expect(cyclicShape(scope, 'dw-edma', BASE, 256, 400)).toEqual({ kind: DESC_REPEAT, length: 256, count: 400, bytes: 256 * 400 });
    // No multiple-of-period rule in the kernel: len 100 with count 7 is fine.
    expect(cyclicShape(scope, 'dw-edma', BASE, 100, 7)).toMatchObject({ count: 7, length: 100 });
  });

  it('refuses period 0, a buffer of 0 or not a multiple of the period, and a buffer outside this side, naming the value', () => {
    einval(() => cyclicShape(scope, 'contract', BASE, 4096, 0), 'host/rd0: prepDmaCyclic:', 'periodBytes 0');
    einval(() => cyclicShape(scope, 'contract', BASE, 0, 4096), 'bufferBytes 0');
    einval(() => cyclicShape(scope, 'contract', BASE, 4096 * 3 + 1, 4096), 'bufferBytes 12289 is not a multiple of periodBytes 4096');
    einval(() => cyclicShape(scope, 'contract', BASE + SIZE - 4096, 8192, 4096), 'buffer 0x800ff000+0x2000 is outside host memory');
    einval(() => cyclicShape(scope, 'contract', BASE, 2 ** 33, 2 ** 32), 'periodBytes 4294967296');
    einval(() => cyclicShape(scope, 'contract', BASE, 1.5, 1), 'bufferBytes 1.5');
    einval(() => cyclicShape(scope, 'contract', 'x' as unknown as number, 64, 64), 'buffer x+0x40');
  });

  it("dw-edma: len 0 and count 0 are the kernel's NULL cases, named as its fields", () => {
    einval(() => cyclicShape(scope, 'dw-edma', BASE, 0, 4), 'bufferBytes (len) 0');
    einval(() => cyclicShape(scope, 'dw-edma', BASE, 64, 0), 'periodBytes (count) 0');
    einval(() => cyclicShape(scope, 'dw-edma', BASE + SIZE, 64, 1), 'outside host memory');
  });

  it('accepts exactly the contract inputs a model accepts (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: -4, max: SIZE + 8192 }), fc.integer({ min: -1, max: 1 << 16 }), fc.integer({ min: -1, max: 1 << 13 }), (off, buffer, period) => {
        const ok = period >= 1 && buffer >= 1 && buffer % period === 0 && off >= 0 && off + buffer <= SIZE;
        let shape: ReturnType<typeof cyclicShape> | undefined;
        try {
          shape = cyclicShape(scope, 'contract', BASE + off, buffer, period);
        } catch (err) {
          expect((err as EpdmaError).code).toBe('EINVAL');
        }
        expect(shape !== undefined).toBe(ok);
        if (shape !== undefined) expect(shape.count * shape.length).toBe(buffer);
      }),
      { numRuns: 500 },
    );
  });
});

function template(over: Partial<InterleavedTemplate> = {}): InterleavedTemplate {
  return {
    srcStart: BASE + 0x100, dstStart: 0x1_0000_0000, direction: 'mem-to-dev',
    srcInc: true, dstInc: true, srcSgl: true, dstSgl: false, numFrames: 4,
    sgl: [{ size: 16, icg: 48 }],
    ...over,
  };
}

describe('interleavedShape', () => {
  it('resolves the gaps: srcIcg/dstIcg over icg, and only on the side whose *Sgl is set', () => {
    const s = interleavedShape(scope, 'mem-to-dev', 64, template({
      srcSgl: true, dstSgl: true,
      sgl: [{ size: 8, icg: 4 }, { size: 16, icg: 4, srcIcg: 100 }, { size: 24, icg: 4, dstIcg: 7 }, { size: 32 }],
    }));
    expect(Array.from(s.sizes)).toEqual([8, 16, 24, 32]);
    expect(Array.from(s.srcGaps)).toEqual([4, 100, 4, 0]);
    expect(Array.from(s.dstGaps)).toEqual([4, 4, 7, 0]);
    expect(s.bytes).toBe(4 * 80);
    const noSgl = interleavedShape(scope, 'mem-to-dev', 64, template({ srcSgl: false, dstSgl: false, sgl: [{ size: 8, icg: 4, srcIcg: 9, dstIcg: 9 }] }));
    expect(Array.from(noSgl.srcGaps)).toEqual([0]);
    expect(Array.from(noSgl.dstGaps)).toEqual([0]);
  });

  it("refuses the kernel's NULL cases: srcInc or dstInc clear, numFrames 0, another direction, an empty frame", () => {
    einval(() => interleavedShape(scope, 'mem-to-dev', 64, template({ srcInc: false })), 'srcInc false');
    einval(() => interleavedShape(scope, 'mem-to-dev', 64, template({ dstInc: false })), 'dstInc false');
    einval(() => interleavedShape(scope, 'mem-to-dev', 64, template({ numFrames: 0 })), 'numFrames 0');
    einval(() => interleavedShape(scope, 'mem-to-dev', 64, template({ direction: 'dev-to-mem' })), "direction 'dev-to-mem' but this channel is 'mem-to-dev'");
    einval(() => interleavedShape(scope, 'mem-to-dev', 64, template({ sgl: [] })), 'sgl of 0 chunks');
  });

  it('refuses bad chunk fields, too many chunks and frames leaving this side, naming the field', () => {
    einval(() => interleavedShape(scope, 'mem-to-dev', 64, template({ sgl: [{ size: 0 }] })), 'sgl[0].size 0');
    einval(() => interleavedShape(scope, 'mem-to-dev', 64, template({ sgl: [{ size: 4 }, { size: 4, srcIcg: -1 }] })), 'sgl[1].srcIcg -1');
    einval(() => interleavedShape(scope, 'mem-to-dev', 2, template({ sgl: [{ size: 1 }, { size: 1 }, { size: 1 }] })), 'sgl of 3 chunks (frame_size must be 1..2)');
    einval(() => interleavedShape(scope, 'mem-to-dev', 64, template({ srcStart: -1 })), 'srcStart -1');
    // 4 frames of 16 + 48: the last burst ends at 0x100 + 3 * 64 + 16 = 0x1d0 into the memory.
    expect(() => interleavedShape(scope, 'mem-to-dev', 64, template({ srcStart: BASE + SIZE - 0xd0 }))).not.toThrow();
    einval(() => interleavedShape(scope, 'mem-to-dev', 64, template({ srcStart: BASE + SIZE - 0xcf })), 'srcStart 0x800fff31: 4 frames span 0xd0 bytes, leaving host memory');
    // dev-to-mem: this side is the destination; the source (device) is only bounded by 2^53.
    einval(() => interleavedShape(scope, 'dev-to-mem', 64, template({ direction: 'dev-to-mem', dstStart: 0x1_0000_0000 })), 'dstStart 0x100000000', 'leaving host memory');
    expect(() => interleavedShape(scope, 'dev-to-mem', 64, template({ direction: 'dev-to-mem', srcStart: 2 ** 52, dstStart: BASE }))).not.toThrow();
    einval(() => interleavedShape(scope, 'dev-to-mem', 64, template({ direction: 'dev-to-mem', srcStart: 2 ** 53 - 8, dstStart: BASE })), 'pass 2^53');
  });

  it('the span it checks is exactly the bytes the bursts touch (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }),
        fc.array(fc.record({ size: fc.integer({ min: 1, max: 64 }), icg: fc.nat(64), srcIcg: fc.nat(64) }), { minLength: 1, maxLength: 5 }),
        (numFrames, sgl) => {
          const s = interleavedShape(scope, 'mem-to-dev', 64, template({ srcStart: BASE, numFrames, sgl }));
          let src = BASE;
          let end = BASE;
          for (let i = 0; i < numFrames * sgl.length; i++) {
            const k = i % sgl.length;
            end = src + s.sizes[k]!;
            src = end + s.srcGaps[k]!;
          }
          // Starting so the last burst ends at the memory's end passes; one byte later fails.
          const at = BASE + SIZE - (end - BASE);
          expect(() => interleavedShape(scope, 'mem-to-dev', 64, template({ srcStart: at, numFrames, sgl }))).not.toThrow();
          expect(() => interleavedShape(scope, 'mem-to-dev', 64, template({ srcStart: at + 1, numFrames, sgl }))).toThrow(/leaving host memory/);
        },
      ),
      { numRuns: 300 },
    );
  });
});
