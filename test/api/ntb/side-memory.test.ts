/**
 * SideMemory: the CPU's view of a side's DMA memory, read from the RegionMemory's own region
 * (no probe allocation): bus address <-> SharedArrayBuffer offset for a region anywhere in its
 * arena, recognition of views that already lie in the memory, and a clear refusal of a
 * DmaMemory that no epdma side made.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ramArena } from '../../../dist/device/bus/memory-region.js';
import { RegionMemory } from '../../../dist/api/dma-memory.js';
import { SideMemory } from '../../../dist/api/ntb/side-memory.js';
import type { DmaBuffer, DmaMemory } from '../../../dist/api/types.js';

const HOST = 0x1_0000_0000;
const EP = 0x8000_0000;

/** Two regions sharing one arena: the second starts at a non-zero offset of the buffer. */
function arena() {
  const [ep, host] = ramArena([{ name: 'ep-ram', base: EP, size: 64 * 1024 }, { name: 'host-ram', base: HOST, size: 128 * 1024 }]);
  return { ep: new RegionMemory(ep!), host: new RegionMemory(host!), hostRegion: host! };
}

describe('SideMemory', () => {
  it('maps bus addresses to the very bytes alloc() hands out, for a region at an arena offset', () => {
    const { host, hostRegion } = arena();
    const side = new SideMemory(host, 'host');
    expect(side.sab).toBe(hostRegion.buffer);
    expect(side.regionOffset).toBe(hostRegion.bufferOffset);
    expect(side.regionOffset).toBeGreaterThan(0);
    const b = side.alloc(4096);
    b.bytes.fill(0x5a);
    const v = side.view(b.addr, 4096);
    expect(v.buffer).toBe(b.bytes.buffer);
    expect(v.byteOffset).toBe(b.bytes.byteOffset);
    expect(side.offsetOf(b.addr)).toBe(b.bytes.byteOffset);
    expect(side.addressOf(b.bytes)).toBe(b.addr);
    expect(side.addressOf(b.bytes.subarray(100, 200))).toBe(b.addr + 100);
    side.free(b);
    expect(host.bytesInUse).toBe(0);
  });

  it('reads what the memory is without allocating: a full or a closed memory works too', () => {
    const { host } = arena();
    const all = host.alloc(host.size);
    expect(() => host.alloc(64)).toThrow(/ENOMEM/);
    const side = new SideMemory(host, 'host');
    expect(side.addressOf(all.bytes)).toBe(HOST);
    expect(host.bytesInUse).toBe(host.size);
    host.close();
    expect(new SideMemory(host, 'host').offsetOf(HOST)).toBe(side.regionOffset);
  });

  it('recognises only views inside its own region (property)', () => {
    const { ep, host } = arena();
    const hostSide = new SideMemory(host, 'host');
    const epSide = new SideMemory(ep, 'endpoint');
    // The EP region comes first in the arena: a view from it may run on into the host region.
    fc.assert(fc.property(fc.integer({ min: 0, max: ep.size - 1 }), fc.integer({ min: 1, max: 8192 }), (start, length) => {
      const bytes = new Uint8Array(epSide.sab, epSide.regionOffset + start, length);
      if (start + length <= ep.size) expect(epSide.addressOf(bytes)).toBe(EP + start);
      else expect(epSide.addressOf(bytes)).toBeUndefined();
      expect(hostSide.addressOf(bytes)).toBeUndefined();
    }));
    expect(hostSide.addressOf(new Uint8Array(new SharedArrayBuffer(64)))).toBeUndefined();
  });

  it('EINVAL for a DmaMemory no epdma side made, naming it', () => {
    const foreign: DmaMemory = {
      base: HOST,
      size: 4096,
      alloc: (): DmaBuffer => ({ addr: HOST, length: 64, bytes: new Uint8Array(new SharedArrayBuffer(64)) }),
      free: () => undefined,
    };
    expect(() => new SideMemory(foreign, 'host')).toThrow(/^EINVAL: host memory: \{"base":4294967296,"size":4096\} is not the memory of an epdma side \(createTestbed, openHost\)$/);
  });
});
