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
