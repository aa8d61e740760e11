/** The metadata BAR codec: format constants, types, encoder, parser/validator and handshake. */
export * from './metadata-format.js';
export type { ChannelEntry, MetadataLayout, MetadataWindow } from './metadata-layout.js';
export { encodeMetadata, metadataLength } from './metadata-encoder.js';
export {
  parseMetadata,
  validateMetadataHeader,
  type MetadataHeader,
  type ParseMetadataOptions,
} from './metadata-parser.js';
export {
  clearHandshake,
  clearHostRequest,
  clearReady,
  readHostRequest,
  readReady,
  setHostRequest,
  setReady,
} from './metadata-handshake.js';
