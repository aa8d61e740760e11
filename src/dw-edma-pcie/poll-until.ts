import { EpdmaError } from '../device/errors.js';

export interface PollOptions {
  readonly pollMs: number;
  readonly timeoutMs: number;
  readonly signal?: AbortSignal | undefined;
  /** Names the wait in the ETIMEDOUT / ESHUTDOWN message. */
  readonly what: string;
}

/**
 * read_poll_timeout() as a promise: checks at once, then every `pollMs` until `cond()` holds
 * (resolve), `timeoutMs` has passed (ETIMEDOUT, after one last check) or `signal` aborts
 * (ESHUTDOWN). The timer is ref'd on purpose: a program awaiting a probe must not exit under
 * it; it is bounded by the timeout and always cleared when the promise settles.
 */
export function pollUntil(cond: () => boolean, o: PollOptions): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (o.signal?.aborted === true) {
      reject(new EpdmaError('ESHUTDOWN', `${o.what}: aborted`));
      return;
    }
    if (cond()) {
      resolve();
      return;
    }
    const deadline = performance.now() + o.timeoutMs;
    let timer: NodeJS.Timeout | undefined;
    const cleanup = (): void => {
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      o.signal?.removeEventListener('abort', onAbort);
    };
    const onAbort = (): void => {
      cleanup();
      reject(new EpdmaError('ESHUTDOWN', `${o.what}: aborted`));
    };
    const tick = (): void => {
      timer = undefined;
      if (cond()) {
        cleanup();
        resolve();
      } else if (performance.now() >= deadline) {
        cleanup();
        reject(new EpdmaError('ETIMEDOUT', `${o.what}: not within ${o.timeoutMs} ms`));
      } else {
        timer = setTimeout(tick, o.pollMs);
      }
    };
    o.signal?.addEventListener('abort', onAbort, { once: true });
    timer = setTimeout(tick, o.pollMs);
  });
}
