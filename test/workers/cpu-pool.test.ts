import { describe, it, expect } from 'vitest';
import { createCpuPool } from '../../dist/workers/cpu-pool.js';
import { sourceByte, poisonByte } from '../../dist/workers/cpu-tasks.js';

describe('createCpuPool', () => {
  it('runs fill, copy and verify in a worker thread on shared memory', async () => {
    const pool = createCpuPool({ maxThreads: 1 });
    try {
      const src = new SharedArrayBuffer(4096);
      const dst = new SharedArrayBuffer(4096);
      const task = { srcOffset: 256, dstOffset: 512, length: 1000, seed: 1234, guardBytes: 64 };

      expect(await pool.fill({ src, dst, ...task })).toBe(1000);
      // The worker wrote into memory this thread sees: the SABs were shared, not copied.
      expect(new Uint8Array(src)[256 + 5]).toBe(sourceByte(1234, 5));
      expect(new Uint8Array(dst)[512 + 5]).toBe(poisonByte(1234, 5));
      expect(pool.threads).toBe(1);

      const notCopied = await pool.verify({ dst, dstOffset: 512, length: 1000, seed: 1234, guardBytes: 64 });
      expect(notCopied.mismatches).toBe(1000);
      expect(notCopied.first).toHaveLength(8);
      expect(notCopied.first[0]).toContain('dstbuf[0x0] not copied');

      expect(await pool.copy({ src, srcOffset: 256, dst, dstOffset: 512, length: 1000 })).toBe(1000);
      expect(await pool.verify({ dst, dstOffset: 512, length: 1000, seed: 1234, guardBytes: 64, maxReports: 2 }))
        .toEqual({ mismatches: 0, first: [] });

      new Uint8Array(dst)[512 + 1000] = 0xff;
      const guardHit = await pool.verify({ dst, dstOffset: 512, length: 1000, seed: 1234, guardBytes: 64 });
      expect(guardHit.mismatches).toBe(1);
      expect(guardHit.first[0]).toContain('guard after window overwritten at +1');
      expect(pool.completed).toBe(5);
    } finally {
      await pool.close();
    }
    expect(pool.threads).toBe(0);
  });

  it('rejects bad windows from the worker and calls after close', async () => {
    const pool = createCpuPool();
    const buf = new SharedArrayBuffer(64);
    await expect(pool.copy({ src: buf, srcOffset: 60, dst: buf, dstOffset: 0, length: 8 })).rejects.toThrow(/EINVAL: src: window/);
    await pool.close();
    await pool.close();
    await expect(pool.fill({ src: buf, srcOffset: 0, length: 8, seed: 1 })).rejects.toThrow(/ESHUTDOWN/);
  });

  it('validates maxThreads', () => {
    expect(() => createCpuPool({ maxThreads: 0 })).toThrow(/maxThreads: 0/);
  });
});
