import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely';

/**
 * The database schema, shared by both dialects.
 *
 * Timestamps are `Date` in code. PostgreSQL stores them as `timestamptz`; SQLite stores ISO 8601
 * UTC text (fixed width, so text order is time order) and the SQLite driver wrapper converts both
 * ways using the column lists below. Booleans are `boolean` in code and 0/1 in SQLite.
 */
export type Role = 'admin' | 'member';

export interface UsersTable {
  id: string;
  email: string;
  username: string | null;
  /** The normalized email every look-up compares (NFKC, trimmed, lower-case; see api users/identifier). */
  email_key: string;
  /** The normalized username, null when there is none. */
  username_key: string | null;
  name: string;
  password_hash: string;
  role: Role;
  is_active: boolean;
  created_at: Date;
  updated_at: Date;
  last_sign_in_at: Date | null;
  mfa_enabled: Generated<boolean>;
  mfa_secret: string | null;
}

export interface SessionsTable {
  id: string;
  user_id: string;
  /** SHA-256 of the token's secret part; the secret itself is never stored. */
  secret_hash: Uint8Array;
  created_at: Date;
  expires_at: Date;
  last_seen_at: Date;
  remember_me: boolean;
  ip: string | null;
  user_agent: string | null;
}

export interface AuditEventsTable {
  /** 1-based, gap-free; the event with seq n is Merkle leaf n - 1. */
  seq: number;
  at: Date;
  type: string;
  actor_id: string | null;
  target_id: string | null;
  ip: string | null;
  user_agent: string | null;
  /** JSON object text. */
  data: string;
  /** SHA-256(0x00 ‖ JCS(event)), see packages/api/src/audit. */
  leaf_hash: Uint8Array;
}

export interface MigrationTables {
  kysely_migration: ColumnType<{ name: string; timestamp: string }>;
}

export interface Database {
  users: UsersTable;
  sessions: SessionsTable;
  audit_events: AuditEventsTable;
  // Tables of later migrations are added to this interface by declaration merging in the
  // module that owns them (see `DatabaseExtensions`).
}

export type UserRow = Selectable<UsersTable>;
export type NewUserRow = Insertable<UsersTable>;
export type UserUpdate = Updateable<UsersTable>;
export type SessionRow = Selectable<SessionsTable>;
export type NewSessionRow = Insertable<SessionsTable>;
export type AuditEventRow = Selectable<AuditEventsTable>;
export type NewAuditEventRow = Insertable<AuditEventsTable>;

/** Columns the SQLite wrapper turns into `Date` when read. Every `*_at` column of every table. */
export const TIMESTAMP_COLUMN_SUFFIX = '_at';
/** Columns the SQLite wrapper turns into `boolean` when read. */
export const BOOLEAN_COLUMNS: ReadonlySet<string> = new Set(['is_active', 'mfa_enabled', 'remember_me']);

/** A boolean column, under its own name or a prefixed alias (`users.is_active as u_is_active`). */
export function isBooleanColumn(key: string): boolean {
  if (BOOLEAN_COLUMNS.has(key)) return true;
  for (const column of BOOLEAN_COLUMNS) if (key.endsWith(`_${column}`)) return true;
  return false;
}
