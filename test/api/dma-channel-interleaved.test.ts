/**
 * prepInterleavedDma through the public API on a real testbed: a strided image block copied
 * between host and EP memory on every channel kind of both sides (so both ways), checked byte
 * for byte against a model with guard bytes everywhere else; the slave config plays no part;
 * chunking across ll_max; the kernel's NULL cases as EINVAL with nothing written.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestbed } from '../../dist/api/index.js';
import type { DmaBuffer, DmaChannel, InterleavedTemplate, Testbed } from '../../dist/api/index.js';
import type { ChannelHandle } from '../../dist/api/dma-channel.js';
import { expectEpdma, fill, firstDifference, Opened, within } from './testbed-support.js';

const GUARD_BYTE = 0x5a;

// Source image 1024 bytes per row, 300 rows; destination image 512 bytes per row, 260 rows.
const SRC_STRIDE = 1024;
const SRC_ROWS = 300;
const DST_STRIDE = 512;
const DST_ROWS = 260;
// The block: 230 rows from row 7, columns 16..56 and 64..120 (an 8-byte hole inside each row),
// to row 3, column 24 of the destination. 230 rows x 2 chunks = 460 bursts: three LL chunks.
const ROWS = 230;
const SRC_X = 7 * SRC_STRIDE + 16;
const DST_X = 3 * DST_STRIDE + 24;

function blockTemplate(direction: 'mem-to-dev' | 'dev-to-mem', srcBase: number, dstBase: number): InterleavedTemplate {
  return {
    srcStart: srcBase + SRC_X,
    dstStart: dstBase + DST_X,
    direction,
    srcInc: true, dstInc: true, srcSgl: true, dstSgl: true,
    numFrames: ROWS,
    sgl: [
      { size: 40, icg: 8 }, // both sides skip the hole
      { size: 56, icg: 1, srcIcg: SRC_STRIDE - 104, dstIcg: DST_STRIDE - 104 }, // per-side gaps win over icg
    ],
  };
}

/** What the destination must hold: the guard, with the block's bytes where the model puts them. */
function expectedImage(src: Uint8Array, dstBefore: Uint8Array): Uint8Array {
  const out = dstBefore.slice();
  for (let r = 0; r < ROWS; r++) {
    const s = SRC_X + r * SRC_STRIDE;
    const d = DST_X + r * DST_STRIDE;
    out.set(src.subarray(s, s + 40), d);
    out.set(src.subarray(s + 48, s + 104), d + 48);
  }
  return out;
}

/** hdma-native splits both directions (host wr0-1, rd0-1; endpoint wr2, rd2): each side has both kinds. */
const CHANNELS = [
  // [side, name, source memory]
  ['host', 'host/rd0', 'host'], // mem-to-dev: host image -> EP image
  ['host', 'host/wr0', 'endpoint'], // dev-to-mem: EP image -> host image
  ['endpoint', 'endpoint/wr2', 'endpoint'], // mem-to-dev: EP -> host
  ['endpoint', 'endpoint/rd2', 'host'], // dev-to-mem: host -> EP
] as const;

let bed: Testbed;
const opened = new Opened();
beforeAll(async () => {
  bed = await createTestbed({
    endpoint: { mapFormat: 'hdma-native', writeChannels: 3, readChannels: 3, memoryBytes: 8 << 20 },
    function: { wrChans: 2, rdChans: 2 },
    host: { memoryBytes: 16 << 20 },
  });
});
afterEach(() => opened.closeAll());
afterAll(() => bed?.close());

interface Images { ch: DmaChannel; src: DmaBuffer; dst: DmaBuffer; decoy: DmaBuffer }

async function images(side: 'host' | 'endpoint', name: string, srcSide: 'host' | 'endpoint'): Promise<Images> {
  const ch = opened.channel(await bed[side].dma.requestChannel({ name }));
  const dstSide = srcSide === 'host' ? 'endpoint' : 'host';
  const src = opened.alloc(bed[srcSide].memory, SRC_STRIDE * SRC_ROWS);
  const dst = opened.alloc(bed[dstSide].memory, DST_STRIDE * DST_ROWS);
  // Where a slave config points: the interleaved transfer must leave it alone.
  const decoy = opened.alloc(bed[dstSide].memory, 4096);
  fill(src.bytes, 77);
  dst.bytes.fill(GUARD_BYTE);
  decoy.bytes.fill(GUARD_BYTE);
  return { ch, src, dst, decoy };
}

describe('a strided image block, every channel kind, both ways', () => {
  it.each(CHANNELS)('%s %s: byte for byte, guard bytes intact, slave config ignored, one completion', async (side, name, srcSide) => {
    const { ch, src, dst, decoy } = await images(side, name, srcSide);
    ch.configure({ deviceAddr: decoy.addr });
    const stats = () => (ch as ChannelHandle).actor.call('stats');
    const before = await stats();
    const expected = expectedImage(src.bytes, dst.bytes);
    const d = ch.prepInterleavedDma(blockTemplate(ch.info.direction, src.addr, dst.addr));
    const cookie = d.submit();
    ch.issuePending();
    const c = await within(d.done, 'the interleaved copy');
    expect(c).toMatchObject({ cookie, result: 'ok', residue: 0, bytes: ROWS * 96 });
    expect(c.period).toBeUndefined();
    expect(firstDifference(dst.bytes, expected)).toBe(-1);
    expect(decoy.bytes.every((b) => b === GUARD_BYTE)).toBe(true);
    const after = await stats();
    expect(after.chunks - before.chunks).toBe(Math.ceil((ROWS * 2) / 169));
    expect(after.engine!.elements - before.engine!.elements).toBe(ROWS * 2);
    expect(after.descriptors - before.descriptors).toBe(1);
  });

  it('contiguous source (srcSgl false): the gaps apply to the destination only; no slave config needed', async () => {
    const { ch, src, dst } = await images('host', 'host/rd1', 'host');
    const expected = dst.bytes.slice();
    const t: InterleavedTemplate = {
      srcStart: src.addr, dstStart: dst.addr, direction: 'mem-to-dev',
      srcInc: true, dstInc: true, srcSgl: false, dstSgl: true, numFrames: 50,
      sgl: [{ size: 100, icg: DST_STRIDE - 100 }],
    };
    for (let r = 0; r < 50; r++) expected.set(src.bytes.subarray(r * 100, r * 100 + 100), r * DST_STRIDE);
    const d = ch.prepInterleavedDma(t);
    d.submit();
    ch.issuePending();
    expect(await within(d.done, 'unpack')).toMatchObject({ result: 'ok', bytes: 5000 });
    expect(firstDifference(dst.bytes, expected)).toBe(-1);
  });
});

describe("the kernel's NULL cases and bad templates: EINVAL naming the field, nothing written", () => {
  it.each([
    ['srcInc clear', { srcInc: false }, 'srcInc false'],
    ['dstInc clear', { dstInc: false }, 'dstInc false'],
    ['numFrames 0', { numFrames: 0 }, 'numFrames 0'],
    ['another direction', { direction: 'dev-to-mem' as const }, "direction 'dev-to-mem' but this channel is 'mem-to-dev'"],
    ['an empty frame', { sgl: [] }, 'sgl of 0 chunks'],
    ['a chunk of 0 bytes', { sgl: [{ size: 40 }, { size: 0 }] }, 'sgl[1].size 0'],
    ['frames leaving host memory', { numFrames: 1 << 20 }, 'srcStart', 'leaving host memory'],
  ] as const)('%s', async (_what, change, ...message) => {
    const { ch, src, dst } = await images('host', 'host/rd0', 'host');
    const t = { ...blockTemplate('mem-to-dev', src.addr, dst.addr), ...change } as InterleavedTemplate;
    expectEpdma(() => ch.prepInterleavedDma(t), 'EINVAL', 'host/rd0: prepInterleavedDma:', ...message);
    expect(ch.stats().submitted).toBe(0);
    expect(dst.bytes.every((b) => b === GUARD_BYTE)).toBe(true);
  });

  it('a dev-to-mem template whose destination frames leave this side is refused; a PrepOptions direction mismatch too', async () => {
    const { ch, src, dst } = await images('endpoint', 'endpoint/rd2', 'host');
    const t = blockTemplate('dev-to-mem', src.addr, dst.addr);
    expectEpdma(() => ch.prepInterleavedDma({ ...t, dstStart: bed.endpoint.memory.base + bed.endpoint.memory.size - 1000 }), 'EINVAL', 'dstStart', 'leaving endpoint memory');
    expectEpdma(() => ch.prepInterleavedDma(t, { direction: 'mem-to-dev' }), 'EINVAL', "direction 'mem-to-dev'");
    expect(dst.bytes.every((b) => b === GUARD_BYTE)).toBe(true);
  });
});
