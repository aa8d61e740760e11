/**
 * A register file that logs every CPU register access that changes something (write32,
 * setBits, clearBits) in order, so a test can pin the exact register traffic a driver
 * operation produces. Reads are not logged: they have no side effects.
 */
import type { MapFormat } from '../../dist/device/regs/map-format.js';
import { MmioRegisterFile } from '../../dist/device/regs/register-file.js';

export type CpuAccess = readonly ['write' | 'set' | 'clear', number, number];

export class RecordingRegisterFile extends MmioRegisterFile {
  readonly log: CpuAccess[] = [];

  static forFormat(format: MapFormat): RecordingRegisterFile {
    return new RecordingRegisterFile(new SharedArrayBuffer(MmioRegisterFile.bytesFor(format)), format);
  }

  override write32(offset: number, value: number): void {
    this.log.push(['write', offset, value >>> 0]);
    super.write32(offset, value);
  }

  override setBits(offset: number, bits: number): void {
    this.log.push(['set', offset, bits >>> 0]);
    super.setBits(offset, bits);
  }

  override clearBits(offset: number, bits: number): void {
    this.log.push(['clear', offset, bits >>> 0]);
    super.clearBits(offset, bits);
  }

  /** The accesses logged so far, and a fresh log. */
  take(): CpuAccess[] {
    return this.log.splice(0, this.log.length);
  }
}
