import { describe, it, expect } from 'vitest';
import { resolveNtbConfig } from '../../../dist/api/ntb/ntb-config.js';

describe('resolveNtbConfig', () => {
  it('uses ntb_transport defaults (mtu 0x10000, copy_bytes 1024) with DMA on', () => {
    expect(resolveNtbConfig()).toEqual({
      queues: 1, mwCount: 1, mtu: 65536, ringEntries: 64, copyBytes: 1024, useDma: true, zeroCopyReceive: false, maxPayload: 65536 - 12,
    });
  });

  it('caps memory windows at the queue count', () => {
    expect(resolveNtbConfig({ queues: 5 }).mwCount).toBe(2);
    expect(resolveNtbConfig({ queues: 5, memoryWindows: 8 }).mwCount).toBe(5);
  });

  it('rejects bad options with EINVAL naming field and value', () => {
    expect(() => resolveNtbConfig({ queues: 0 })).toThrow(/EINVAL: createNtbTransport: queues 0 must be an integer in 1..32/);
    expect(() => resolveNtbConfig({ queues: 33 })).toThrow(/queues 33/);
    expect(() => resolveNtbConfig({ mtu: 1000.5 })).toThrow(/mtu 1000.5/);
    expect(() => resolveNtbConfig({ mtu: 1002 })).toThrow(/mtu 1002 must be a multiple of 4/);
    expect(() => resolveNtbConfig({ mtu: 12 })).toThrow(/mtu 12/);
    expect(() => resolveNtbConfig({ ringEntries: 1 })).toThrow(/ringEntries 1/);
    expect(() => resolveNtbConfig({ copyBytes: -1 })).toThrow(/copyBytes -1/);
    expect(() => resolveNtbConfig({ useDma: 'yes' as unknown as boolean })).toThrow(/useDma yes must be a boolean/);
    expect(() => resolveNtbConfig({ memoryWindows: 0 })).toThrow(/memoryWindows 0/);
  });
});
