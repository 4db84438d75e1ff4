/**
 * One source record → the user to import, or the reason it is refused (with the row number in
 * the report). Nothing here touches the database; conflicts with existing users are planned in
 * service.ts.
 */
import { emailSchema, nameSchema, usernameSchema } from '../schemas.js';
import { parsePasswordHash, type PasswordHashScheme } from '../auth/legacy-hashes/index.js';
import { identifierKey } from '../users/identifier.js';
import { isBlank, readBoolean, readDate, readRole, readText, type ColumnMap, type SourceRecord } from './fields.js';

/** Why a row is not imported (docs/migrating.md "Rejected rows"). */
export type ImportRejection =
  | 'invalid_email'
  | 'invalid_name'
  | 'invalid_username'
  | 'invalid_role'
  | 'invalid_boolean'
  | 'invalid_date'
  | 'invalid_external_id'
  | 'hash_unknown_format'
  | 'hash_malformed'
  | 'hash_too_costly'
  | 'duplicate_email'
  | 'duplicate_username'
  | 'duplicate_external_id'
  | 'username_taken'
  | 'external_id_taken'
  | 'unreadable_row';

export interface RejectedRow {
  /** 1-based: the data row in the file (the CSV header is not counted), or the query's row. */
  row: number;
  reason: ImportRejection;
  message: string;
  email?: string;
}

/**
 * Stored for a user imported without a usable hash: no password ever matches it (it is no format
 * parsePasswordHash accepts), until the user sets one through a reset link.
 */
export const NO_PASSWORD_HASH = '!imported-without-password';

export interface ImportCandidate {
  row: number;
  email: string;
  emailKey: string;
  name: string;
  username: string | null;
  usernameKey: string | null;
  /** null: imported without a password (the report lists it for a reset link). */
  passwordHash: string | null;
  scheme: PasswordHashScheme | null;
  role: 'admin' | 'member';
  isActive: boolean;
  createdAt: Date | null;
  externalId: string | null;
  /**
   * emailVerified (#14): null when the address is not known to be verified; a date when the
   * source says it is (its own timestamp, or the import's time for a plain true).
   */
  emailVerifiedAt: Date | 'now' | null;
}

export type ValidatedRow = { ok: true; candidate: ImportCandidate } | { ok: false; rejected: RejectedRow };

const rejected = (row: number, reason: ImportRejection, message: string, email?: string): ValidatedRow => ({
  ok: false,
  rejected: { row, reason, message, ...(email !== undefined ? { email } : {}) },
});

/** Django marks an account without a usable password with a leading "!" (UNUSABLE_PASSWORD_PREFIX). */
const UNUSABLE = (hash: string) => hash.startsWith('!');

export function validateRecord(row: number, record: SourceRecord, map: ColumnMap): ValidatedRow {
  const get = (field: keyof ColumnMap) => (map[field] === undefined ? undefined : record[map[field]]);

  const rawEmail = readText(get('email'));
  const email = emailSchema.safeParse(rawEmail ?? '');
  if (!email.success) return rejected(row, 'invalid_email', `"${String(rawEmail ?? '')}" is not a valid email address`);
  const at = email.data;

  let name = at.slice(0, at.indexOf('@')).slice(0, 100);
  const rawName = get('name');
  if (!isBlank(rawName)) {
    const parsed = nameSchema.safeParse(readText(rawName) ?? '');
    if (!parsed.success) return rejected(row, 'invalid_name', parsed.error.issues[0]?.message ?? 'invalid name', at);
    name = parsed.data;
  }

  let username: string | null = null;
  const rawUsername = get('username');
  if (!isBlank(rawUsername)) {
    const parsed = usernameSchema.safeParse(readText(rawUsername) ?? '');
    if (!parsed.success) {
      return rejected(row, 'invalid_username', `username: ${parsed.error.issues[0]?.message ?? 'invalid'}`, at);
    }
    username = parsed.data;
  }

  let passwordHash: string | null = null;
  let scheme: PasswordHashScheme | null = null;
  const rawHash = get('passwordHash');
  if (!isBlank(rawHash)) {
    const text = (readText(rawHash) ?? '').trim();
    if (!UNUSABLE(text)) {
      const parsed = parsePasswordHash(text);
      if (!parsed.ok) return rejected(row, parsed.reason, parsed.message, at);
      passwordHash = text;
      scheme = parsed.hash.scheme;
    }
  }

  let role: 'admin' | 'member' = 'member';
  const rawRole = get('role');
  if (!isBlank(rawRole)) {
    const parsed = readRole(rawRole);
    if (parsed === undefined)
      return rejected(row, 'invalid_role', `role "${String(rawRole)}" is neither admin nor member`, at);
    role = parsed;
  }

  let isActive = true;
  const rawActive = get('isActive');
  if (!isBlank(rawActive)) {
    const parsed = readBoolean(rawActive);
    if (parsed === undefined)
      return rejected(row, 'invalid_boolean', `isActive "${String(rawActive)}" is not true or false`, at);
    isActive = parsed;
  }

  let createdAt: Date | null = null;
  const rawCreated = get('createdAt');
  if (!isBlank(rawCreated)) {
    const parsed = readDate(rawCreated);
    if (parsed === undefined)
      return rejected(row, 'invalid_date', `createdAt "${String(rawCreated)}" is not a date`, at);
    createdAt = parsed;
  }

  let externalId: string | null = null;
  const rawId = get('externalId');
  if (!isBlank(rawId)) {
    const text = readText(rawId)?.trim();
    if (text === undefined || text.length > 128)
      return rejected(row, 'invalid_external_id', 'the old id must be text or a number of at most 128 characters', at);
    externalId = text;
  }

  // A boolean column (email_verified, is_verified) or a timestamp one (Laravel's email_verified_at,
  // Devise's confirmed_at): blank is "not verified".
  let emailVerifiedAt: Date | 'now' | null = null;
  const rawVerified = get('emailVerified');
  if (!isBlank(rawVerified)) {
    const flag = readBoolean(rawVerified);
    const date = flag === undefined ? readDate(rawVerified) : undefined;
    if (flag === undefined && date === undefined) {
      return rejected(
        row,
        'invalid_boolean',
        `emailVerified "${String(rawVerified)}" is neither true/false nor a date`,
        at,
      );
    }
    emailVerifiedAt = flag === true ? 'now' : flag === false ? null : (date ?? null);
  }

  return {
    ok: true,
    candidate: {
      row,
      email: at,
      emailKey: identifierKey(at),
      name,
      username,
      usernameKey: username === null ? null : identifierKey(username),
      passwordHash,
      scheme,
      role,
      isActive,
      createdAt,
      externalId,
      emailVerifiedAt,
    },
  };
}
