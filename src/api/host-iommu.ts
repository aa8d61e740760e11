import { EpdmaError, hex } from '../device/errors.js';
import { IOMMU_DEVICE_READS, IOMMU_DEVICE_WRITES, IommuTable } from '../device/bus/iommu-table.js';
import type { RegionMemory } from './dma-memory.js';
import type { DmaBuffer, DmaMapping, HostIommu, IommuDirection, Segment } from './types.js';
import { checkAddress, checkEnum, checkLength, checkObject, checkOpen } from './validate.js';

const ACCESS: Record<IommuDirection, number> = {
  'to-device': IOMMU_DEVICE_READS,
  'from-device': IOMMU_DEVICE_WRITES,
  bidirectional: IOMMU_DEVICE_READS | IOMMU_DEVICE_WRITES,
};
const DIRECTIONS = Object.keys(ACCESS) as IommuDirection[];

/**
 * The host's IOMMU (API.md HostIommu): dma_map_single / dma_unmap_single with identity IOVA
 * over a table every engine checks (IommuTable). Only host memory can be mapped; a DmaBuffer
 * must be live (EPERM after free, as the channels check it).
 */
export class TableIommu implements HostIommu {
  readonly table = IommuTable.create();
  private readonly memory: RegionMemory;
  private closed = false;

  constructor(memory: RegionMemory) {
    this.memory = memory;
  }

  get faults(): number {
    return this.table.faults;
  }

  map(buffer: DmaBuffer | Segment, direction: IommuDirection): DmaMapping {
    checkOpen(this.closed, 'iommu: map');
    const b = checkObject(buffer, 'iommu: map: buffer');
    const addr = checkAddress(b.addr, 'iommu: map: buffer.addr');
    const length = checkLength(b.length, 'iommu: map: buffer.length', 1, this.memory.size);
    const access = ACCESS[checkEnum(direction, 'iommu: map: direction', DIRECTIONS)];
    if ('bytes' in b) this.memory.checkBuffer(b, length, 'iommu: map');
    else if (!this.memory.contains(addr, length)) throw new EpdmaError('EINVAL', `iommu: map: ${hex(addr)}+${hex(length)} is not host memory`);
    const slot = this.table.map(addr, length, access);
    let mapped = true;
    return {
      addr,
      length,
      unmap: () => {
        if (!mapped) throw new EpdmaError('EINVAL', `iommu: unmap: ${hex(addr)}+${hex(length)} (${direction}) is not mapped any more`);
        mapped = false;
        this.table.unmap(slot);
      },
    };
  }

  /** The testbed closed: map is ESHUTDOWN from now on. */
  close(): void {
    this.closed = true;
  }
}
