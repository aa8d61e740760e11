/**
 * The one way tests wait: for a condition or a promise, always with a deadline that fails the
 * test naming what never happened (instead of hanging it until the test timeout). Deadlines
 * are failure bounds, never timing assertions: nothing here proves that something did NOT
 * happen; tests prove that with counters read after a round trip.
 */
import { vi } from 'vitest';

/** The default bound of a wait: far beyond any healthy run on a loaded 2-core machine. */
export const WAIT_DEADLINE_MS = 15_000;

/** Resolves once `cond()` holds (checked every millisecond); rejects naming `what` after `deadlineMs`. */
export async function waitFor(cond: () => boolean, what: string, deadlineMs = WAIT_DEADLINE_MS): Promise<void> {
  await vi.waitFor(
    () => {
      if (!cond()) throw new Error(`timed out after ${deadlineMs} ms waiting for ${what}`);
    },
    { timeout: deadlineMs, interval: 1 },
  );
}

/** `p`, or a rejection naming `what` if it has not settled after `ms`: a lost completion fails instead of hanging. */
export function within<T>(p: Promise<T>, what: string, ms = WAIT_DEADLINE_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not settled within ${ms} ms`)), ms);
  });
  return Promise.race([p, deadline]).finally(() => clearTimeout(timer));
}
