import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { SteadyState } from '../../../dist/api/loadtest/steady-state.js';
import { expectEpdma } from '../testbed-support.js';

/** The steady-state rule written out plainly: each of the last `n` rates within `tol` of their mean. */
function steadyByHand(rates: readonly number[], n: number, tol: number): boolean {
  if (rates.length < n) return false;
  const last = rates.slice(-n);
  const mean = last.reduce((a, b) => a + b, 0) / n;
  return mean > 0 && last.every((r) => Math.abs(r - mean) <= tol * mean);
}

const rate = fc.double({ min: 0, max: 1e11, noNaN: true });

describe('SteadyState', () => {
  it('a constant rate is steady exactly from the n-th window on', () => {
    const s = new SteadyState(4, 0.1);
    expect([s.add(5e9), s.add(5e9), s.add(5e9)]).toEqual([false, false, false]);
    expect(s.add(5e9)).toBe(true);
    expect(s.add(5e9)).toBe(true);
  });

  it('a warm-up climb is not steady; the plateau after it is, once the climb left the window', () => {
    const s = new SteadyState(4, 0.1);
    const climb = [0.4e9, 0.6e9, 0.8e9, 2.1e9, 2.7e9, 4.7e9];
    expect(climb.map((r) => s.add(r))).toEqual(climb.map(() => false));
    // 4.7 still in the window with 4.0, 4.1, 3.9: mean 4.175, 4.7 is 12.6% off.
    expect([s.add(4.0e9), s.add(4.1e9), s.add(3.9e9)]).toEqual([false, false, false]);
    expect(s.add(4.2e9)).toBe(true);
  });

  it('a window of 10% tolerance: 9% off the mean passes, 11% does not', () => {
    const within = new SteadyState(2, 0.1);
    within.add(91);
    expect(within.add(109)).toBe(true); // mean 100
    const beyond = new SteadyState(2, 0.1);
    beyond.add(89);
    expect(beyond.add(111)).toBe(false);
  });

  it('a stalled run (nothing moved) never counts as steady', () => {
    const s = new SteadyState(2, 0.1);
    expect([s.add(0), s.add(0), s.add(0)]).toEqual([false, false, false]);
  });

  it('agrees with the rule over the last n rates for any sequence (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 6 }), fc.double({ min: 0.01, max: 0.5, noNaN: true }), fc.array(rate, { maxLength: 40 }), (n, tol, rates) => {
        const s = new SteadyState(n, tol);
        rates.forEach((r, i) => {
          expect(s.add(r)).toBe(steadyByHand(rates.slice(0, i + 1), n, tol));
        });
        expect(s.steady()).toBe(steadyByHand(rates, n, tol));
      }),
    );
  });

  it('a rate that keeps climbing by more than twice the tolerance per window never settles (property)', () => {
    fc.assert(
      fc.property(fc.double({ min: 1e3, max: 1e9, noNaN: true }), fc.double({ min: 1.25, max: 3, noNaN: true }), (start, step) => {
        const s = new SteadyState(4, 0.1);
        let r = start;
        for (let i = 0; i < 30; i++, r *= step) expect(s.add(r)).toBe(false);
      }),
    );
  });

  it('rejects what is not a window count, a tolerance or a rate, naming the value', () => {
    expectEpdma(() => new SteadyState(1, 0.1), 'EINVAL', '1 windows');
    expectEpdma(() => new SteadyState(2.5, 0.1), 'EINVAL', '2.5 windows');
    expectEpdma(() => new SteadyState(4, 0), 'EINVAL', 'tolerance 0');
    expectEpdma(() => new SteadyState(4, 1), 'EINVAL', 'tolerance 1');
    const s = new SteadyState(2, 0.1);
    expectEpdma(() => s.add(Number.NaN), 'EINVAL', 'rate NaN');
    expectEpdma(() => s.add(-1), 'EINVAL', 'rate -1');
    expectEpdma(() => s.add(Infinity), 'EINVAL', 'rate Infinity');
    // Nothing was added by the rejected calls.
    expect(s.add(7)).toBe(false);
    expect(s.add(7)).toBe(true);
  });
});
