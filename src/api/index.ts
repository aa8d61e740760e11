/**
 * The package entry: everything public comes from here; internals stay behind it.
 */
export { EpdmaError, type EpdmaErrorCode } from '../device/errors.js';
export { encodeMetadata, metadataLength } from '../device/metadata/metadata-encoder.js';
export { parseMetadata } from '../device/metadata/metadata-parser.js';
export type { MetadataLayout, ChannelEntry } from '../device/metadata/metadata-layout.js';
export { createTestbed } from './testbed.js';
export { loadTest, type LoadTestOptions } from './loadtest/loadtest.js';
export { createNtbTransport } from './ntb/ntb-transport.js';
export { openHost, type OpenHostOptions, type OpenedHost } from './two-process/open-host.js';
export type { NtbPort, QueuePair, QueueStats, NtbTransport, NtbTransportOptions } from './ntb/ntb-types.js';
export type { LoadProgress, LoadStats } from './loadtest/load-stats.js';
export type { LoadReport } from './loadtest/load-report.js';
export type {
  BarInfo,
  ChannelFilter,
  ChannelInfo,
  ChannelStats,
  Completion,
  CompletionReasonCode,
  DriverQuirks,
  Direction,
  DmaBuffer,
  DmaChannel,
  DmaEngine,
  DmaMapping,
  DmaMemory,
  DmaSlaveCaps,
  HostIommu,
  IommuDirection,
  EndpointSide,
  HostSide,
  InterleavedTemplate,
  PrepOptions,
  RuntimeEvent,
  Segment,
  Side,
  Testbed,
  TestbedOptions,
  TransferRequest,
  TxDescriptor,
} from './types.js';
