/** Imported password hashes: which formats are accepted (formats.ts), their bounds (limits.ts), verification (verify.ts). */
export { parsePasswordHash } from './formats.js';
export type { HashParseResult, HashRejection, ParsedPasswordHash, PasswordHashScheme } from './formats.js';
export { LEGACY_HASH_LIMITS } from './limits.js';
export { verifyParsedHash } from './verify.js';
