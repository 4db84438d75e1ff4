/**
 * What an imported row can carry, how the old application's columns map onto it (`--map`, with
 * automatic matches for the usual names), and how each value is read. Plain functions; the
 * sources (CSV, JSON Lines, a SQLite file, a PostgreSQL query) give records of column → value.
 */
export const IMPORT_FIELDS = [
  'email',
  'name',
  'username',
  'passwordHash',
  'role',
  'isActive',
  'createdAt',
  'externalId',
  // seams (#17 ↔ #14): whether the old application had proven the address
  'emailVerified',
] as const;
export type ImportField = (typeof IMPORT_FIELDS)[number];

/** One record as a source read it: column name → value (string, number, boolean, Date, null…). */
export type SourceRecord = Readonly<Record<string, unknown>>;

/** Which source column feeds each field. */
export type ColumnMap = Partial<Record<ImportField, string>>;

/** The column names each field is matched to when `--map` does not name one (compared loosely). */
const AUTOMATIC_COLUMNS: Readonly<Record<ImportField, readonly string[]>> = {
  email: ['email', 'email_address', 'mail', 'user_email'],
  name: ['name', 'full_name', 'display_name'],
  username: ['username', 'user_name', 'login'],
  passwordHash: ['hashed_password', 'password_hash', 'password', 'encrypted_password', 'password_digest'],
  role: ['role', 'is_admin', 'admin', 'is_superuser'],
  isActive: ['is_active', 'active', 'enabled'],
  createdAt: ['created_at', 'date_joined', 'created', 'inserted_at'],
  externalId: ['id', 'user_id', 'uuid'],
  emailVerified: ['email_verified', 'is_verified', 'verified', 'email_verified_at', 'email_confirmed', 'confirmed_at'],
};

/** Case, `_`, `-` and spaces do not matter: `emailAddress`, `Email Address`, `email_address`. */
const loose = (column: string) => column.toLowerCase().replace(/[^a-z0-9]/g, '');

export class ImportMappingError extends Error {}

/**
 * The column map for a source with `columns`: the automatic matches, overridden by `spec`
 * (`email=email_address,name=full_name`; `field=` alone drops a match). Throws ImportMappingError
 * for an unknown field, a column the source does not have, or no email column.
 */
export function resolveColumnMap(columns: readonly string[], spec = ''): ColumnMap {
  const byLoose = new Map(columns.map((c) => [loose(c), c]));
  const map: ColumnMap = {};
  for (const field of IMPORT_FIELDS) {
    const match = AUTOMATIC_COLUMNS[field].map((name) => byLoose.get(loose(name))).find((c) => c !== undefined);
    if (match !== undefined) map[field] = match;
  }
  for (const part of spec.split(',').filter((p) => p.trim() !== '')) {
    const eq = part.indexOf('=');
    const field = (eq < 0 ? part : part.slice(0, eq)).trim();
    const column = eq < 0 ? '' : part.slice(eq + 1).trim();
    if (!(IMPORT_FIELDS as readonly string[]).includes(field)) {
      throw new ImportMappingError(`--map: unknown field "${field}" (fields: ${IMPORT_FIELDS.join(', ')})`);
    }
    if (column === '') {
      delete map[field as ImportField];
      continue;
    }
    if (!columns.includes(column)) {
      throw new ImportMappingError(`--map: the source has no column "${column}" (columns: ${columns.join(', ')})`);
    }
    map[field as ImportField] = column;
  }
  if (map.email === undefined) {
    throw new ImportMappingError(`no email column: name it with --map email=<column> (columns: ${columns.join(', ')})`);
  }
  return map;
}

// ---- values -----------------------------------------------------------------------------------

export const isBlank = (value: unknown) =>
  value === null || value === undefined || (typeof value === 'string' && value.trim() === '');

const TRUE = new Set(['true', 't', '1', 'yes', 'y', 'on']);
const FALSE = new Set(['false', 'f', '0', 'no', 'n', 'off']);

/** true/false, 1/0, t/f (PostgreSQL text), yes/no; undefined for anything else. */
export function readBoolean(value: unknown): boolean | undefined {
  if (typeof value === 'boolean') return value;
  if (typeof value === 'number' || typeof value === 'bigint')
    return value === 1 || value === 1n ? true : value === 0 || value === 0n ? false : undefined;
  if (typeof value !== 'string') return undefined;
  const text = value.trim().toLowerCase();
  return TRUE.has(text) ? true : FALSE.has(text) ? false : undefined;
}

const ADMIN_ROLES = new Set(['admin', 'administrator', 'superuser', 'owner']);
const MEMBER_ROLES = new Set(['member', 'user', 'regular', 'default']);

/** A role string (admin/administrator/superuser/owner, member/user) or an is_admin boolean. */
export function readRole(value: unknown): 'admin' | 'member' | undefined {
  if (typeof value === 'string') {
    const text = value.trim().toLowerCase();
    if (ADMIN_ROLES.has(text)) return 'admin';
    if (MEMBER_ROLES.has(text)) return 'member';
  }
  const flag = readBoolean(value);
  return flag === undefined ? undefined : flag ? 'admin' : 'member';
}

const SQL_TIMESTAMP = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)$/;

/**
 * A Date, ISO 8601 text (`2021-03-04T05:06:07Z`), SQL text without a zone (`2021-03-04 05:06:07`,
 * read as UTC, as SQLite's CURRENT_TIMESTAMP writes it), a date alone, or Unix time (seconds,
 * or milliseconds above 10^11). Undefined when it is none of them or out of range.
 */
export function readDate(value: unknown): Date | undefined {
  let date: Date | undefined;
  if (value instanceof Date) date = value;
  else if (typeof value === 'number' || typeof value === 'bigint') {
    const n = Number(value);
    date = new Date(Math.abs(n) < 1e11 ? n * 1000 : n);
  } else if (typeof value === 'string') {
    const text = value.trim();
    const sqlText = SQL_TIMESTAMP.exec(text);
    if (sqlText) date = new Date(`${sqlText[1]}T${sqlText[2]}Z`);
    else if (/^\d{4}-\d{2}-\d{2}$/.test(text)) date = new Date(`${text}T00:00:00Z`);
    else if (/^\d{4}-\d{2}-\d{2}T.+(?:Z|[+-]\d{2}:?\d{2})$/.test(text)) date = new Date(text);
    else if (/^\d{9,13}$/.test(text)) return readDate(Number(text));
  }
  if (!date || Number.isNaN(date.getTime())) return undefined;
  const year = date.getUTCFullYear();
  return year >= 1970 && year <= 9999 ? date : undefined;
}

/** Text of a string, number or bigint value; undefined otherwise. */
export function readText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  if (typeof value === 'bigint') return String(value);
  return undefined;
}
