/** The audit log's public surface (server wiring, CLI export/offline verification). */
export { type AuditServiceOptions } from './service.js';
export { type AuditListFilter } from './log.js';
export { type Checkpoint, type Signer, type Verifier } from './checkpoint.js';
export { verifyAuditExport, writeAuditExport, type OfflineVerifyResult } from './offline.js';
export type * from './types.js';
export { defaultOrigin, loadOrCreateSigningKey } from './checkpoint.js';
export { verifyAuditLog } from './verify.js';
export { readKeyHistory, type CheckpointKeys } from './key-history.js';
// #19 audit witnesses and tiles
export { parseVerifierKey } from './checkpoint.js';
export { loadOrCreateWitnessKey, type WitnessSigner, type WitnessVerifier } from './witness/cosignature.js';
export { parsePolicy, parseWitnesses, type WitnessPolicy } from './witness/client.js';
export { createWitnessServer, Witness, type WitnessResponse } from './witness/server.js';
export { serveTlog, tilePath, tilesFor, type TileResponse } from './tiles/tiles.js';
export { checkCosignatures, verifyTileExport, type TileVerifyResult, type WitnessCheck } from './tiles/offline.js';
