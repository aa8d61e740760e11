import type { LoadProgress } from '../../../dist/api/loadtest/load-stats.js';

/** A finished two-channel run with one error, for the report tests. */
export function sampleProgress(): LoadProgress {
  const ch = (name: string, transfers: number, errors: number) => ({
    name, transfers, bytes: transfers * 65536, errors, mismatches: 0,
    throughputBytesPerSec: transfers * 65536 / 2, opsPerSec: transfers / 2, p50Us: 12.5, p99Us: 80.25, maxUs: 1234.5,
  });
  const channels = [ch('host/rd0', 1000, 0), ch('ep/wr<1>&"', 3000, 1)];
  return {
    final: true, elapsedMs: 2000, channels,
    transfers: 4000, bytes: 4000 * 65536, errors: 1, mismatches: 0,
    throughputBytesPerSec: 4000 * 65536 / 2, opsPerSec: 2000, p50Us: 12.5, p99Us: 80.25, maxUs: 1234.5,
  };
}
