/**
 * process.hrtime in ns, as a Number, read through performance.now(): hrtime.bigint() allocates
 * a BigInt per call, performance.now() allocates nothing, and both are Node's monotonic clock.
 * Each thread has its own performance.now() origin, so each thread pairs the two clocks once,
 * inside the tightest of a few hrtime brackets: a thread preempted between two plain reads
 * would shift every reading by the preemption. A Number holds hrtime ns exactly up to 2^53 ns
 * (104 days of uptime) and within a fraction of a ns far beyond.
 */
const PAIRING_TRIES = 8;

export class HrClock {
  /** The paired readings: performance.now() `originMs` is hrtime `originNs`. */
  private readonly originMs: number;
  private readonly originNs: number;

  constructor() {
    let bestSpan = Infinity;
    let ms = 0;
    let ns = 0;
    for (let i = 0; i < PAIRING_TRIES; i++) {
      const before = process.hrtime.bigint();
      const p = performance.now();
      const span = Number(process.hrtime.bigint() - before);
      if (span < bestSpan) {
        bestSpan = span;
        ms = p;
        ns = Number(before) + span / 2;
      }
    }
    this.originMs = ms;
    this.originNs = ns;
  }

  /** hrtime ns now, rounded to a whole ns. */
  nowNs(): number {
    return this.atNs(performance.now());
  }

  /** hrtime ns at this thread's performance.now() reading `ms`, rounded to a whole ns. */
  atNs(ms: number): number {
    return Math.round(this.originNs + (ms - this.originMs) * 1e6);
  }
}
