/**
 * The one error type users see. Codes are the kernel's errno names so a failure reads the same
 * as the driver it models (`-EINVAL` from a validator becomes `code: 'EINVAL'`).
 */
export type EpdmaErrorCode =
  | 'EINVAL'
  | 'ENODEV'
  | 'EOPNOTSUPP'
  | 'ETIMEDOUT'
  | 'EBUSY'
  | 'EPERM'
  | 'EAGAIN'
  | 'ENOMEM'
  | 'EIO'
  | 'ESHUTDOWN';

/**
 * `code` is a stable property (kernel errno names) and `text` the message without it; programs
 * branch on `code`, never on text. `message` is `CODE: text`, the convention of Node's own
 * system errors (`ENOENT: no such file or directory, ...`), so a printed error reads the same.
 */
export class EpdmaError extends Error {
  readonly code: EpdmaErrorCode;
  /** The message without the code: what went wrong and the offending value. */
  readonly text: string;
  /** Whatever made the call fail, for programs that want more than the message. */
  readonly detail?: unknown;
  // `completion` (EIO from transfer(): the Completion that was not 'ok') is typed where the
  // Completion type lives, src/api/types.ts, which merges it into this class's interface: this
  // layer knows nothing of the API above it.

  constructor(code: EpdmaErrorCode, message: string, detail?: unknown, options?: { completion?: unknown }) {
    super(`${code}: ${message}`);
    this.name = 'EpdmaError';
    this.code = code;
    this.text = message;
    if (detail !== undefined) this.detail = detail;
    if (options?.completion !== undefined) Object.defineProperty(this, 'completion', { value: options.completion, enumerable: true });
  }
}

/** Formats a value the way kernel messages do: hex for addresses and registers. */
export function hex(value: number | bigint): string {
  return `0x${value.toString(16)}`;
}

export function isEpdmaError(err: unknown, code?: EpdmaErrorCode): err is EpdmaError {
  return err instanceof EpdmaError && (code === undefined || err.code === code);
}
