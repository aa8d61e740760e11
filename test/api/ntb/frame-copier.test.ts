import { describe, it, expect, afterEach } from 'vitest';
import { FrameCopier } from '../../../dist/api/ntb/frame-copier.js';
import { QueueCounters } from '../../../dist/api/ntb/ntb-stats.js';
import { createCpuPool, type CpuPool } from '../../../dist/actors/cpu-pool.js';
import type { Completion, DmaChannel } from '../../../dist/api/types.js';

/**
 * A scripted DMA channel: each prep takes the next result; 'ok' really copies (src and dst
 * are offsets into one SAB standing for both memories, bus address == offset), and nothing
 * completes before issuePending, as with DMAengine.
 */
function scriptedChannel(sab: SharedArrayBuffer, results: { result: Completion['result']; reason?: string; reasonCode?: Completion['reasonCode'] }[]) {
  const log: string[] = [];
  let device = 0;
  const pending: (() => void)[] = [];
  const info = { side: 'host', kind: 'read', hwChannel: 0, direction: 'mem-to-dev', name: 'host/rd0' } as const;
  const channel = {
    info,
    configure(c: { deviceAddr: number }) {
      device = c.deviceAddr;
      log.push(`configure ${device}`);
    },
    prepSlaveSingle(addr: number, length: number) {
      const step = results.shift();
      if (step === undefined) throw new Error('EPERM: channel stopped');
      const dst = device;
      let resolve!: (c: Completion) => void;
      const done = new Promise<Completion>((r) => { resolve = r; });
      return {
        submit() {
          log.push(`submit ${addr}->${dst} ${length}`);
          pending.push(() => {
            if (step.result === 'ok') new Uint8Array(sab).copyWithin(dst, addr, addr + length);
            resolve({ cookie: 1, channel: info, result: step.result, residue: step.result === 'ok' ? 0 : length, bytes: length, submittedNs: 0n, completedNs: 0n, ...(step.reason ? { reason: step.reason } : {}), ...(step.reasonCode ? { reasonCode: step.reasonCode } : {}) });
          });
          return 1;
        },
        done,
      };
    },
    issuePending() {
      log.push('issue');
      for (const p of pending.splice(0)) p();
    },
  };
  return { channel: channel as unknown as DmaChannel, log };
}

describe('FrameCopier', () => {
  let pool: CpuPool | undefined;
  afterEach(async () => {
    await pool?.close();
    pool = undefined;
  });

  function setup(results: { result: Completion['result']; reason?: string; reasonCode?: Completion['reasonCode'] }[], opts: { useDma?: boolean; link?: () => boolean } = {}) {
    const sab = new SharedArrayBuffer(1 << 16);
    const bytes = new Uint8Array(sab);
    for (let i = 0; i < 8192; i++) bytes[i] = (i * 7 + 3) & 0xff;
    pool = createCpuPool({ maxThreads: 1 });
    const counters = new QueueCounters();
    const { channel, log } = scriptedChannel(sab, results);
    const copier = new FrameCopier({ channel, pool, srcSab: sab, dstSab: sab, useDma: opts.useDma ?? true, copyBytes: 1024, counters, linkIsUp: opts.link ?? (() => true) });
    const frame = (len: number) => ({ srcAddr: 0, srcOffset: 0, dstAddr: 32768, dstOffset: 32768, length: len });
    const copiedOk = (len: number) => bytes.subarray(32768, 32768 + len).every((b, i) => b === ((i * 7 + 3) & 0xff));
    return { copier, counters, log, frame, copiedOk, bytes };
  }

  it('copies below copyBytes with the CPU pool and from copyBytes up with DMA, issued once per flush', async () => {
    const { copier, counters, log, frame, copiedOk } = setup([{ result: 'ok' }, { result: 'ok' }]);
    expect(await copier.copy(frame(1023))).toBe('ok');
    expect(copiedOk(1023)).toBe(true);
    expect(log).toEqual([]);
    const a = copier.copy(frame(1024));
    const b = copier.copy(frame(4096));
    expect(log).toEqual(['configure 32768', 'submit 0->32768 1024', 'configure 32768', 'submit 0->32768 4096']);
    copier.flush();
    copier.flush(); // nothing new: no second issue
    expect(await a).toBe('ok');
    expect(await b).toBe('ok');
    expect(log.filter((l) => l === 'issue')).toHaveLength(1);
    expect(copiedOk(4096)).toBe(true);
    expect(counters).toMatchObject({ txMemcpy: 1, txAsync: 2, dmaErrors: 0, memcpyFallbacks: 0 });
  });

  it('redoes a failed DMA with the CPU and counts the error and the fallback', async () => {
    const { copier, counters, frame, copiedOk } = setup([{ result: 'write-failed', reason: 'engine abort: destination address not mapped', reasonCode: 'destination-not-mapped' }]);
    const p = copier.copy(frame(5000));
    copier.flush();
    expect(await p).toBe('ok');
    expect(copiedOk(5000)).toBe(true);
    expect(counters).toMatchObject({ txAsync: 1, txMemcpy: 1, dmaErrors: 1, memcpyFallbacks: 1, linkDownRetries: 0 });
  });

  it('falls back to the CPU when prep is refused', async () => {
    const { copier, counters, frame, copiedOk } = setup([]);
    expect(await copier.copy(frame(2048))).toBe('ok');
    expect(copiedOk(2048)).toBe(true);
    expect(counters).toMatchObject({ txAsync: 0, txMemcpy: 1, dmaErrors: 1, memcpyFallbacks: 1 });
  });

  it('asks for a retry instead of a CPU copy when the link is down', async () => {
    let up = true;
    const { copier, counters, frame, bytes } = setup([{ result: 'aborted', reason: 'link down: READY clear', reasonCode: 'link-down' }, { result: 'aborted' }], { link: () => up });
    const p = copier.copy(frame(3000));
    copier.flush();
    expect(await p).toBe('retry');
    up = false;
    const q = copier.copy(frame(3000));
    copier.flush();
    expect(await q).toBe('retry');
    expect(bytes[32768]).toBe(0);
    expect(counters).toMatchObject({ txAsync: 2, txMemcpy: 0, dmaErrors: 0, linkDownRetries: 2 });
  });

  it('reports shutdown for a DMA failing after beginClose, and uses only the CPU without DMA', async () => {
    const closing = setup([{ result: 'aborted', reason: 'terminated', reasonCode: 'terminated' }]);
    const p = closing.copier.copy(closing.frame(3000));
    closing.copier.beginClose();
    closing.copier.flush();
    expect(await p).toBe('shutdown');
    await pool!.close();

    const noDma = setup([{ result: 'ok' }], { useDma: false });
    expect(noDma.copier.channel).toBeNull();
    expect(await noDma.copier.copy(noDma.frame(8000))).toBe('ok');
    expect(noDma.copiedOk(8000)).toBe(true);
    expect(noDma.log).toEqual([]);
    expect(noDma.counters).toMatchObject({ txAsync: 0, txMemcpy: 1 });
  });
});
