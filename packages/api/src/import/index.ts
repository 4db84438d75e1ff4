/** `gatehouse import users` (issue #17): column mapping, per-row checks and the batched import. */
export {
  AUTOMATIC_COLUMNS,
  IMPORT_FIELDS,
  ImportMappingError,
  resolveColumnMap,
  type ColumnMap,
  type ImportField,
  type SourceRecord,
} from './fields.js';
export { NO_PASSWORD_HASH, type ImportRejection, type RejectedRow } from './validate.js';
export {
  importUsers,
  ImportSourceError,
  type ImportDeps,
  type ImportProgress,
  type ImportReport,
  type ImportUsersInput,
} from './service.js';
