import { describe, it, expect } from 'vitest';
import runCpuTask, { cpuCopy } from '../../dist/workers/cpu-tasks.js';

describe('cpuCopy', () => {
  it('copies between buffers and within one buffer with overlap', () => {
    const a = new SharedArrayBuffer(16);
    const b = new SharedArrayBuffer(16);
    new Uint8Array(a).set([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(cpuCopy({ src: a, srcOffset: 2, dst: b, dstOffset: 10, length: 4 })).toBe(4);
    expect([...new Uint8Array(b, 10, 4)]).toEqual([3, 4, 5, 6]);
    cpuCopy({ src: a, srcOffset: 0, dst: a, dstOffset: 1, length: 4 });
    expect([...new Uint8Array(a, 0, 6)]).toEqual([1, 1, 2, 3, 4, 6]);
  });

  it('rejects windows outside the buffer and non-buffers, writing nothing', () => {
    const a = new SharedArrayBuffer(16);
    const b = new SharedArrayBuffer(16);
    new Uint8Array(a).fill(7);
    expect(() => cpuCopy({ src: a, srcOffset: 14, dst: b, dstOffset: 0, length: 4 })).toThrow(/EINVAL: src: window 0xe\+0x4 exceeds buffer of 0x10 bytes/);
    expect(() => cpuCopy({ src: a, srcOffset: 0, dst: b, dstOffset: 13, length: 4 })).toThrow(/EINVAL: dst: window 0xd\+0x4/);
    expect(() => cpuCopy({ src: a, srcOffset: -1, dst: b, dstOffset: 0, length: 4 })).toThrow(/srcOffset: -1/);
    expect(() => cpuCopy({ src: {} as SharedArrayBuffer, srcOffset: 0, dst: b, dstOffset: 0, length: 4 })).toThrow(/src: not a SharedArrayBuffer/);
    expect([...new Uint8Array(b)]).toEqual(new Array(16).fill(0));
  });

  it('dispatches on op and names an unknown one', () => {
    const a = new SharedArrayBuffer(8);
    expect(runCpuTask({ op: 'copy', src: a, srcOffset: 0, dst: a, dstOffset: 4, length: 4 })).toBe(4);
    expect(() => runCpuTask({ op: 'fill' } as never)).toThrow(/EINVAL: cpu task: unknown op "fill"/);
  });
});
