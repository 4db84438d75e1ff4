/** `gatehouse import users` (issue #17): column mapping, per-row checks and the batched import. */
export { ImportMappingError, resolveColumnMap, type ColumnMap, type ImportField, type SourceRecord } from './fields.js';
export type { ImportRejection, RejectedRow } from './validate.js';
export {
  importUsers,
  ImportSourceError,
  type ImportDeps,
  type ImportProgress,
  type ImportReport,
  type ImportUsersInput,
} from './service.js';
// seams (#17 ↔ #14): reset links for the users imported without a password
export { issueImportResetLinks, type ImportResetLink, type ResetLinkDelivery } from './reset-links.js';
