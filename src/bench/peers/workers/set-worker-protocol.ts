/**
 * The control block shared by the worker-set peer and its workers (set-worker.ts): one Int32
 * word per field, then one copy counter per worker. Kept apart so the worker file and the main
 * side agree on the layout without either importing the other.
 */

export const SetWorkerControl = {
  /** Bumped by the main thread for every command; workers wait on it. */
  Generation: 0,
  Command: 1,
  /** Set to 1 to end a RUN. */
  Stop: 2,
  /** Workers that finished the current command. */
  Done: 3,
  /** Copies[i] = copies worker i made in the last RUN. */
  Copies: 4,
} as const;

export const SetWorkerCommand = {
  Ping: 0,
  Configure: 1,
  Run: 2,
  Exit: 3,
} as const;

export type SetWorkerCommandCode = (typeof SetWorkerCommand)[keyof typeof SetWorkerCommand];

export const controlBytes = (workers: number): number => (SetWorkerControl.Copies + workers) * 4;

export interface SetWorkerData {
  control: SharedArrayBuffer;
  index: number;
}

/** Posted to a worker before a CONFIGURE command: its own source and destination slots. */
export interface SetWorkerConfig {
  src: SharedArrayBuffer;
  dst: SharedArrayBuffer;
  size: number;
  depth: number;
}
