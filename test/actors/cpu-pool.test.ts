import { describe, it, expect } from 'vitest';
import { createCpuPool } from '../../dist/actors/cpu-pool.js';

describe('createCpuPool', () => {
  it('copies in a worker thread on shared memory: this thread sees the bytes, nothing is posted back', async () => {
    const pool = createCpuPool({ maxThreads: 1 });
    try {
      const src = new SharedArrayBuffer(4096);
      const dst = new SharedArrayBuffer(4096);
      const s = new Uint8Array(src);
      for (let i = 0; i < s.length; i++) s[i] = (i * 7 + 3) & 0xff;
      expect(await pool.copy({ src, srcOffset: 256, dst, dstOffset: 512, length: 1000 })).toBe(1000);
      expect(pool.threads).toBe(1);
      const d = new Uint8Array(dst);
      expect(Buffer.from(d.subarray(512, 1512)).equals(Buffer.from(s.subarray(256, 1256)))).toBe(true);
      expect(d[511]).toBe(0);
      expect(d[1512]).toBe(0);
      expect(pool.completed).toBe(1);
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
    await expect(pool.copy({ src: buf, srcOffset: 0, dst: buf, dstOffset: 8, length: 8 })).rejects.toThrow(/ESHUTDOWN/);
  });

  it('validates maxThreads', () => {
    expect(() => createCpuPool({ maxThreads: 0 })).toThrow(/maxThreads: 0/);
  });
});
