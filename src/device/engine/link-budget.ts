import { EpdmaError } from '../errors.js';

/**
 * A token bucket for the PCIe link: the engine may move at most `bytesPerSec` on average,
 * with a burst of `burstNs` worth of bytes, so a testbed can look like Gen3 x4 (~3.5 GB/s)
 * instead of memcpy. Unlimited when bytesPerSec is Infinity (the default).
 */
export class LinkBudget {
  readonly bytesPerSec: number;
  private readonly perNs: number;
  private readonly burst: number;
  private tokens: number;
  private lastNs: number;

  constructor(bytesPerSec = Infinity, burstNs = 2_000_000) {
    if (!(bytesPerSec > 0)) throw new EpdmaError('EINVAL', `link bytesPerSec must be positive, got ${bytesPerSec}`);
    this.bytesPerSec = bytesPerSec;
    this.perNs = bytesPerSec / 1e9;
    this.burst = Math.max(1, this.perNs * burstNs);
    this.tokens = this.burst;
    this.lastNs = nowNs();
  }

  get unlimited(): boolean {
    return this.bytesPerSec === Infinity;
  }

  /** Bytes that may move now, at most `wanted`. */
  grant(wanted: number): number {
    if (this.bytesPerSec === Infinity) return wanted;
    const t = nowNs();
    this.tokens = Math.min(this.burst, this.tokens + (t - this.lastNs) * this.perNs);
    this.lastNs = t;
    const n = Math.min(wanted, Math.floor(this.tokens));
    this.tokens -= n;
    return n;
  }
}

function nowNs(): number {
  return performance.now() * 1e6;
}
