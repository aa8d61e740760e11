import { describe, it, expect, afterEach } from 'vitest';
import fc from 'fast-check';
import { waitFor } from '../../support/wait.js';
import {
  NTB_TRANSPORT_VERSION,
  SPAD_NUM_MWS,
  SPAD_NUM_QPS,
  SPAD_QP_LINKS,
  SPAD_VERSION,
  ScratchpadHandshake,
  Scratchpads,
  peerQpReady,
  qpLinkDown,
  qpLinkStep,
  spadMwSizeHigh,
  spadMwSizeLow,
  transportLinkStep,
} from '../../../dist/api/ntb/scratchpad-handshake.js';

const pair = (mws: number): [Scratchpads, Scratchpads] => [Scratchpads.create(mws), Scratchpads.create(mws)];

describe('scratchpad registers', () => {
  it('has the kernel indices and at least 6 spads', () => {
    expect([SPAD_VERSION, SPAD_QP_LINKS, SPAD_NUM_QPS, SPAD_NUM_MWS, spadMwSizeHigh(0), spadMwSizeLow(0), spadMwSizeHigh(2)]).toEqual([0, 1, 2, 3, 4, 5, 8]);
    expect(NTB_TRANSPORT_VERSION).toBe(4);
    expect(Scratchpads.create(1).count).toBe(6);
    expect(Scratchpads.create(3).count).toBe(10);
    expect(() => Scratchpads.create(1).read(6)).toThrow(/EINVAL: scratchpad 6 outside 0..5/);
  });
});

describe('transport link work (one step)', () => {
  it('writes the peer, reads its own, and matches only when the peer wrote the same counts', () => {
    const [a, b] = pair(2);
    const pa = { qpCount: 3, mwCount: 2, mwSizes: [0x1_2345_6780, 64] };
    const pb = { qpCount: 3, mwCount: 2, mwSizes: [4096, 8192] };
    // a goes first: b has not written a's spads yet.
    expect(transportLinkStep(a, b, pa)).toEqual({ ok: false, reason: 'VERSION 0, want 4' });
    expect(b.read(SPAD_VERSION)).toBe(4);
    expect(b.read(spadMwSizeHigh(0))).toBe(1);
    expect(b.read(spadMwSizeLow(0))).toBe(0x2345_6780);
    // b sees a's sizes (what b must allocate), and a then sees b's.
    expect(transportLinkStep(b, a, pb)).toEqual({ ok: true, peerMwSizes: [0x1_2345_6780, 64] });
    expect(transportLinkStep(a, b, pa)).toEqual({ ok: true, peerMwSizes: [4096, 8192] });
  });

  it('retries on a queue or window count mismatch', () => {
    const [a, b] = pair(2);
    transportLinkStep(b, a, { qpCount: 2, mwCount: 2, mwSizes: [1, 1] });
    expect(transportLinkStep(a, b, { qpCount: 3, mwCount: 2, mwSizes: [1, 1] })).toEqual({ ok: false, reason: 'NUM_QPS 2, want 3' });
    transportLinkStep(b, a, { qpCount: 3, mwCount: 1, mwSizes: [1] });
    expect(transportLinkStep(a, b, { qpCount: 3, mwCount: 2, mwSizes: [1, 1] })).toEqual({ ok: false, reason: 'NUM_MWS 1, want 2' });
  });
});

describe('QP link work', () => {
  it('is up on a side once the peer has announced the queue', () => {
    const [a, b] = pair(1);
    expect(qpLinkStep(a, b, 0)).toBe(false);
    expect(b.read(SPAD_QP_LINKS)).toBe(1);
    expect(qpLinkStep(b, a, 0)).toBe(true);
    expect(qpLinkStep(a, b, 0)).toBe(true);
    qpLinkDown(a, b, 0);
    expect(peerQpReady(b, 0)).toBe(false);
    expect(peerQpReady(a, 0)).toBe(true);
  });

  it('brings every queue up on both sides under any order of steps, and keeps the bits once up', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 32 }), fc.array(fc.nat(), { maxLength: 400 }), (queues, order) => {
        const [a, b] = pair(1);
        const up = [new Array<boolean>(queues).fill(false), new Array<boolean>(queues).fill(false)];
        const spads: [Scratchpads, Scratchpads][] = [[a, b], [b, a]];
        const step = (side: number, qp: number): void => {
          if (up[side]![qp]) return;
          if (qpLinkStep(spads[side]![0], spads[side]![1], qp)) up[side]![qp] = true;
        };
        // Random interleaving first, then the 10 ms retries of both sides until done.
        for (const n of order) step(n % 2, Math.floor(n / 2) % queues);
        for (let round = 0; round < 4 * queues + 4 && !up.every((s) => s.every(Boolean)); round++) {
          for (let qp = 0; qp < queues; qp++) step(0, qp);
          for (let qp = 0; qp < queues; qp++) step(1, qp);
        }
        expect(up.every((s) => s.every(Boolean))).toBe(true);
        // Up means the peer's bit stays: no later write removed it.
        for (let qp = 0; qp < queues; qp++) {
          expect(peerQpReady(a, qp)).toBe(true);
          expect(peerQpReady(b, qp)).toBe(true);
        }
      }),
    );
  });
});

describe('ScratchpadHandshake (timer driven)', () => {
  const open: ScratchpadHandshake[] = [];
  afterEach(() => {
    for (const h of open.splice(0)) h.dispose();
  });

  function make(own: Scratchpads, peer: Scratchpads, sizes: number[], log: string[], name: string): ScratchpadHandshake {
    const h = new ScratchpadHandshake(own, peer, { qpCount: 2, mwCount: sizes.length, mwSizes: sizes }, {
      setupWindows: (peerSizes) => log.push(`${name} windows ${peerSizes.join(',')}`),
      queueUp: (qp) => log.push(`${name} qp${qp} up`),
      failed: (err) => log.push(`${name} failed ${String(err)}`),
    }, 1);
    open.push(h);
    return h;
  }


  it('sets up windows with the peer-advertised sizes, then brings the queues up; link down zeroes own spads', async () => {
    const [a, b] = pair(2);
    const log: string[] = [];
    const ha = make(a, b, [100, 200], log, 'host');
    const hb = make(b, a, [300, 400], log, 'ep');
    ha.start();
    hb.start();
    await waitFor(() => [0, 1].every((q) => ha.isQueueUp(q) && hb.isQueueUp(q)), 'both queues up on both sides');
    expect(log.filter((l) => l.includes('windows')).sort()).toEqual(['ep windows 100,200', 'host windows 300,400']);
    expect(log.filter((l) => l.includes(' up')).sort()).toEqual(['ep qp0 up', 'ep qp1 up', 'host qp0 up', 'host qp1 up']);
    expect(ha.retries).toBeGreaterThan(0); // host went first and had to wait for the endpoint

    ha.linkDown();
    hb.linkDown();
    expect([...a.view, ...b.view].every((v) => v === 0)).toBe(true);
    expect(ha.isQueueUp(0) || hb.isTransportUp).toBe(false);

    log.length = 0;
    hb.start();
    ha.start();
    await waitFor(() => [0, 1].every((q) => ha.isQueueUp(q) && hb.isQueueUp(q)), 'both queues up on both sides');
    expect(log).toHaveLength(6);
  });

  it('reports a failing window setup and stops retrying', async () => {
    const [a, b] = pair(1);
    const log: string[] = [];
    const h = new ScratchpadHandshake(a, b, { qpCount: 1, mwCount: 1, mwSizes: [64] }, {
      setupWindows: () => {
        throw new Error('ENOMEM: no window');
      },
      queueUp: () => log.push('up'),
      failed: (err) => log.push(String(err)),
    }, 1);
    open.push(h);
    transportLinkStep(b, a, { qpCount: 1, mwCount: 1, mwSizes: [64] });
    h.start();
    expect(log).toEqual(['Error: ENOMEM: no window']);
    expect(h.isTransportUp).toBe(false);
  });
});
