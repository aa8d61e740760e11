import { EpdmaError } from '../errors.js';

/** `enum dw_edma_map_format`: the register layout of the DMA block. */
export type MapFormat = 'legacy' | 'unroll' | 'hdma-compat' | 'hdma-native';

export const MAP_FORMAT_VALUE: Readonly<Record<MapFormat, number>> = {
  legacy: 0,
  unroll: 1,
  'hdma-compat': 5,
  'hdma-native': 7,
};

export function mapFormatFromValue(value: number): MapFormat | undefined {
  for (const [name, v] of Object.entries(MAP_FORMAT_VALUE)) if (v === value) return name as MapFormat;
  return undefined;
}

/**
 * eDMA v0 register family (unroll, HDMA-compat) shares enable, doorbell and interrupt
 * registers per direction; HDMA native has everything per channel.
 */
export function registerFamily(format: MapFormat): 'v0' | 'hdma' {
  if (format === 'legacy') throw new EpdmaError('EOPNOTSUPP', 'map format legacy (0): the viewport layout is not modelled, as pci-epf-dma rejects it');
  return format === 'hdma-native' ? 'hdma' : 'v0';
}
