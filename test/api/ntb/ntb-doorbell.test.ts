import { describe, it, expect } from 'vitest';
import { NtbDoorbell } from '../../../dist/api/ntb/ntb-doorbell.js';
import { waitFor, within } from '../../support/wait.js';

describe('NtbDoorbell', () => {
  it('accumulates queue bits per kind until a pass of its listener takes them', async () => {
    const db = NtbDoorbell.create();
    db.ring('rx', 1 << 0);
    db.ring('rx', 1 << 3);
    db.ring('credit', 1 << 31);
    const seen: [number, number][] = [];
    const listener = db.listener((rx, credit) => seen.push([rx, credit]));
    listener.start(); // the first pass runs inside start()
    expect(seen).toEqual([[0b1001, 1 << 31]]);
    // Both sets were cleared by the take: the next pass finds nothing and the listener parks.
    await waitFor(() => listener.parks === 1, 'the listener to park');
    expect(listener.passes).toBe(2);
    expect(seen).toHaveLength(1);
    await listener.stop();
  });
});

describe('NtbDoorbell.listener', () => {
  it('wakes on rings from any code path, hands over the bits, and stops cleanly', async () => {
    const db = NtbDoorbell.create();
    const seen: [number, number][] = [];
    let wake: (() => void) | undefined;
    const listener = db.listener((rx, credit) => {
      seen.push([rx, credit]);
      wake?.();
    });
    const next = (): Promise<void> => new Promise((r) => { wake = r; });
    // A ring before start is not lost: the first pass takes it.
    db.ring('rx', 2);
    let got = next();
    listener.start();
    await within(got, 'the ring made before start');
    got = next();
    // Rung from a timer callback, a code path of its own (the listener is back in its wait by
    // then, or about to be: either way the ring must reach the handler).
    setTimeout(() => db.ring('credit', 4), 5);
    await within(got, 'the timer ring');
    got = next();
    db.ring('rx', 1);
    db.ring('rx', 8); // rung before the loop runs again: one pass takes both
    await within(got, 'two rings');
    await listener.stop();
    const rx = seen.reduce((m, [r]) => m | r, 0);
    const credit = seen.reduce((m, [, c]) => m | c, 0);
    expect(rx).toBe(2 | 1 | 8);
    expect(credit).toBe(4);
    expect(seen[0]).toEqual([2, 0]);
    // stop() resolved once the loop returned: a ring now is left in the doorbell for whoever
    // listens next (here a second listener), not taken by the stopped one.
    const before = seen.length;
    db.ring('rx', 16);
    const later: [number, number][] = [];
    let laterWake: (() => void) | undefined;
    const taken = new Promise<void>((r) => (laterWake = r));
    const second = db.listener((rx, credit) => {
      later.push([rx, credit]);
      laterWake?.();
    });
    second.start();
    await within(taken, 'the ring made while stopped');
    await second.stop();
    expect(later).toEqual([[16, 0]]);
    expect(seen.length).toBe(before);
  });
});
