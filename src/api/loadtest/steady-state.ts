import { EpdmaError } from '../../device/errors.js';

/**
 * fio's steady-state detection (`steadystate=bw:10%`, `ss_dur`), used as the load test's default
 * warm-up: the rate of each window (bytes per second over a fixed period) is added in turn, and
 * the run is steady once the last `windows` rates each lie within `tolerance` of their mean.
 *
 * Why not a fixed ramp: a fresh process's channel workers reach their steady rate only once
 * their JIT has settled, and with 8 channels sharing a core each gets an eighth of the time
 * to do so: measured on this project's 2-core machine, the default run climbed from ~0.4 to
 * ~4 GB/s over 2.5-3 s, so a warm-up of a tenth of the duration (0.5 s) reported ~40% of the
 * steady rate.
 */
export class SteadyState {
  private readonly rates: Float64Array;
  private added = 0;

  constructor(
    readonly windows: number,
    /** Largest relative distance of a window's rate from the mean (0.1: within 10%). */
    readonly tolerance: number,
  ) {
    if (!Number.isInteger(windows) || windows < 2) throw new EpdmaError('EINVAL', `steady state: ${windows} windows (at least 2 are compared)`);
    if (!(tolerance > 0 && tolerance < 1)) throw new EpdmaError('EINVAL', `steady state: tolerance ${tolerance} outside (0, 1)`);
    this.rates = new Float64Array(windows);
  }

  /** Adds the rate of the window that just ended; true if the last `windows` rates are steady. */
  add(rate: number): boolean {
    if (!Number.isFinite(rate) || rate < 0) throw new EpdmaError('EINVAL', `steady state: rate ${rate} is not a finite rate`);
    this.rates[this.added % this.windows] = rate;
    this.added++;
    return this.steady();
  }

  /** True once `windows` rates were added and each of the last ones is within tolerance of their mean. */
  steady(): boolean {
    if (this.added < this.windows) return false;
    // Oldest first, so the sum does not depend on where the ring buffer wrapped.
    const n = this.windows;
    let sum = 0;
    for (let i = 0; i < n; i++) sum += this.rates[(this.added + i) % n]!;
    const mean = sum / n;
    // Nothing moved at all is not a rate that settled: the run is stalled, not warm.
    if (mean === 0) return false;
    for (const r of this.rates) if (Math.abs(r - mean) > this.tolerance * mean) return false;
    return true;
  }
}
