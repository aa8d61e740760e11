/**
 * What the main thread posts to the piscina pool's task file (src/workers/cpu-tasks.ts), and what
 * comes back: the protocol between the pool (src/actors/cpu-pool.ts) and its worker.
 */
export type CopyBuffer = SharedArrayBuffer | ArrayBuffer;

/** A CPU copy of `length` bytes between two windows (the NTB transport below its copy threshold). */
export interface CopyTask {
  op: 'copy';
  src: CopyBuffer; srcOffset: number; dst: CopyBuffer; dstOffset: number; length: number;
}
export type CpuTask = CopyTask;
