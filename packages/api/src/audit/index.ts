/** The audit log's public surface (server wiring, CLI export/offline verification). */
export { AuditService, type AuditServiceOptions } from './service.js';
export { AuditLog, type AuditListFilter } from './log.js';
export { AuditCheckpointer, CheckpointConsistencyError } from './checkpointer.js';
export {
  CheckpointError,
  defaultOrigin,
  loadOrCreateSigningKey,
  openSignedNote,
  parseCheckpointBody,
  parseVerifierKey,
  verifyCheckpointNote,
  type Checkpoint,
  type Signer,
  type Verifier,
} from './checkpoint.js';
export {
  EXPORT_CHECKPOINT_FILE,
  EXPORT_EVENTS_FILE,
  eventToExportLine,
  verifyAuditExport,
  writeAuditExport,
  type OfflineVerifyResult,
} from './offline.js';
export { verifyConsistency, verifyInclusion, fromHex, toHex } from './merkle.js';
export { AUDIT_EVENT_TYPES } from './types.js';
export type * from './types.js';
