/**
 * The one task file of the piscina CPU pool: the CPU-copy path of the NTB transport below its
 * copy threshold. Tasks operate in place on SharedArrayBuffers (shared, not copied, when posted to
 * the pool) and never allocate per byte. (The load test checks its patterns on the main thread at
 * memcmp speed: a pool round trip per transfer cost more than the check.)
 */
import { EpdmaError, hex } from '../device/errors.js';
import type { CopyBuffer, CopyTask, CpuTask } from '../protocol/cpu-task.js';


function checkWindow(what: string, buf: CopyBuffer | undefined, offset: number | undefined, length: number): void {
  if (!(buf instanceof SharedArrayBuffer) && !(buf instanceof ArrayBuffer)) {
    throw new EpdmaError('EINVAL', `${what}: not a SharedArrayBuffer or ArrayBuffer`);
  }
  if (!Number.isSafeInteger(offset) || offset! < 0) throw new EpdmaError('EINVAL', `${what}Offset: ${String(offset)} is not a byte offset`);
  if (!Number.isSafeInteger(length) || length < 0) throw new EpdmaError('EINVAL', `length: ${String(length)} is not a byte count`);
  if (offset! + length > buf.byteLength) {
    throw new EpdmaError('EINVAL', `${what}: window ${hex(offset!)}+${hex(length)} exceeds buffer of ${hex(buf.byteLength)} bytes`);
  }
}

/** The CPU-copy path (NTB transport below its copy threshold); overlapping windows are safe. */
export function cpuCopy(task: Omit<CopyTask, 'op'>): number {
  checkWindow('src', task.src, task.srcOffset, task.length);
  checkWindow('dst', task.dst, task.dstOffset, task.length);
  new Uint8Array(task.dst, task.dstOffset, task.length).set(new Uint8Array(task.src, task.srcOffset, task.length));
  return task.length;
}

/** piscina entry point: one pool, one file, dispatching on `op`. */
export default function runCpuTask(task: CpuTask): number {
  switch (task?.op) {
    case 'copy': return cpuCopy(task);
    default: throw new EpdmaError('EINVAL', `cpu task: unknown op ${JSON.stringify((task as { op?: unknown } | undefined)?.op)}`);
  }
}
