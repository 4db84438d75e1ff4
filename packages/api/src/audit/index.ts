/** The audit log's public surface (server wiring, CLI export/offline verification). */
export { type AuditServiceOptions } from './service.js';
export { type AuditListFilter } from './log.js';
export { type Checkpoint, type Signer, type Verifier } from './checkpoint.js';
export { verifyAuditExport, writeAuditExport, type OfflineVerifyResult } from './offline.js';
export type * from './types.js';
export { defaultOrigin, loadOrCreateSigningKey } from './checkpoint.js';
export { verifyAuditLog } from './verify.js';
export { readKeyHistory, type CheckpointKeys } from './key-history.js';
// #19 audit witnesses
export { parseVerifierKey } from './checkpoint.js';
export {
  cosign,
  findCosignature,
  loadOrCreateWitnessKey,
  parseWitnessKey,
  splitSignedNote,
  type Cosignature,
  type WitnessSigner,
  type WitnessVerifier,
} from './witness/cosignature.js';
export { parsePolicy, parseWitnesses, WitnessClient, WitnessConfigError, type WitnessPolicy } from './witness/client.js';
export { createWitnessServer, Witness, type WitnessResponse } from './witness/server.js';
export { witnessReport, noteCosigners, type WitnessReport } from './witness/report.js';
export {
  encodeTileIndex,
  parseTilePath,
  serveTlog,
  tilePath,
  tilesFor,
  writeTiles,
  type TileResponse,
} from './tiles/tiles.js';
export { cosignedNote } from './witness/report.js';
export { checkCosignatures, verifyTileExport, type TileVerifyResult, type WitnessCheck } from './tiles/offline.js';
