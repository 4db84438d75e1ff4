import type { Generated, Insertable, Selectable } from 'kysely';

/**
 * The database schema, shared by both dialects.
 *
 * Timestamps are `Date` in code. PostgreSQL stores them as `timestamptz`; SQLite stores ISO 8601
 * UTC text (fixed width, so text order is time order). Booleans are `boolean` in code and 0/1 in
 * SQLite. Every column's kind is declared in `COLUMN_KINDS` below; the SQLite driver wrapper
 * converts by it (src/sqlite.ts), so a table added here gets the same values on both dialects.
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
  // #17 user import (migration 009): the id the user had in the backend Gatehouse replaced.
  external_id: string | null;
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

/** The single tree head row of the audit log's Merkle tree (migration 002). */
export interface AuditHeadTable {
  /** Always 1. */
  id: number;
  tree_size: number;
  /** The compact range: 32-byte hashes concatenated, largest subtree first. */
  frontier: Uint8Array;
  root_hash: Uint8Array;
}

/** Hashes of complete subtrees at levels 4, 8, 12, … (migration 002). */
export interface AuditNodesTable {
  level: number;
  idx: number;
  hash: Uint8Array;
}

/** Signed tree heads (C2SP signed notes), one per tree size (migration 002). */
export interface AuditCheckpointsTable {
  tree_size: number;
  root_hash: Uint8Array;
  origin: string;
  note: string;
  signed_at: Date;
}

/** Migration 004: sign-in throttle counters shared through PostgreSQL (UNLOGGED there). */
export interface ThrottleCountersTable {
  key: string;
  /** Window start and end, ms since the epoch by Gatehouse's clock (not the database's). */
  start_ms: number;
  expires_ms: number;
  count: number;
}

/**
 * Migration 005: cache invalidations written by every process on one SQLite file and read by the
 * others (packages/api/src/sessions/invalidation.ts, SqliteBus). Unused on PostgreSQL.
 */
export interface InvalidationsTable {
  /** Grows in commit order (SQLite has one writer at a time) and is never reused (AUTOINCREMENT). */
  id: Generated<number>;
  /** When it was written, by Gatehouse's clock: rows older than the cache max age are pruned. */
  at: Date;
  /** The bus (one per process) that wrote it: a process skips its own rows. */
  origin: string;
  /** A session id, or a user whose cached sessions and cached user are dropped. */
  kind: 'session' | 'user';
  target_id: string;
}

/** Every table of every migration: packages/db owns them all. */
export interface Database {
  users: UsersTable;
  sessions: SessionsTable;
  audit_events: AuditEventsTable;
  audit_head: AuditHeadTable;
  audit_nodes: AuditNodesTable;
  audit_checkpoints: AuditCheckpointsTable;
  throttle_counters: ThrottleCountersTable;
  invalidations: InvalidationsTable;
  // #19 audit witnesses
  audit_cosignatures: AuditCosignaturesTable;
  audit_witness_state: AuditWitnessStateTable;
}

// #19 audit witnesses (migration 010)
/** C2SP tlog-cosignature lines returned by witnesses, one per checkpoint size and witness. */
export interface AuditCosignaturesTable {
  tree_size: number;
  /** The witness key name. */
  witness: string;
  /** The cosignature's timestamp (seconds since the epoch). */
  cosigned_at: number;
  /** The signature line `— <name> <base64>` as appended to the signed note. */
  line: string;
  received_at: Date;
}

/** Per witness: the largest size it cosigned for this log, and a problem it reported (fork, rollback). */
export interface AuditWitnessStateTable {
  witness: string;
  tree_size: number;
  problem: string | null;
  updated_at: Date;
}

export type UserRow = Selectable<UsersTable>;
export type NewUserRow = Insertable<UsersTable>;
export type SessionRow = Selectable<SessionsTable>;
export type AuditEventRow = Selectable<AuditEventsTable>;

/**
 * How a column is stored and what it is in code. SQLite has no timestamp or boolean type, so
 * those two are converted there (ISO 8601 text ⇄ `Date`, 0/1 ⇄ `boolean`); PostgreSQL's driver
 * already returns `Date`, `boolean`, `Buffer` and (for int8, see database.ts) `number`.
 */
export type ColumnKind = 'text' | 'integer' | 'timestamp' | 'boolean' | 'bytes';

/** The kind a column's TypeScript type calls for: the declarations below must agree with it. */
type KindOf<V> = [NonNullable<V>] extends [Date]
  ? 'timestamp'
  : [NonNullable<V>] extends [boolean]
    ? 'boolean'
    : [NonNullable<V>] extends [Uint8Array]
      ? 'bytes'
      : [NonNullable<V>] extends [number]
        ? 'integer'
        : 'text';

/** One entry per column of every table, checked against the table types at compile time. */
type ColumnKinds = {
  readonly [T in keyof Database]: {
    readonly [C in keyof Selectable<Database[T]>]-?: KindOf<Selectable<Database[T]>[C]>;
  };
};

/**
 * The kind of every column of every table. A new table or column is a compile error until it
 * is declared here, and a declaration that contradicts the column's type is one too.
 */
export const COLUMN_KINDS: ColumnKinds = {
  users: {
    id: 'text',
    email: 'text',
    username: 'text',
    email_key: 'text',
    username_key: 'text',
    name: 'text',
    password_hash: 'text',
    role: 'text',
    is_active: 'boolean',
    created_at: 'timestamp',
    updated_at: 'timestamp',
    last_sign_in_at: 'timestamp',
    mfa_enabled: 'boolean',
    mfa_secret: 'text',
    // #17 user import
    external_id: 'text',
  },
  sessions: {
    id: 'text',
    user_id: 'text',
    secret_hash: 'bytes',
    created_at: 'timestamp',
    expires_at: 'timestamp',
    last_seen_at: 'timestamp',
    remember_me: 'boolean',
    ip: 'text',
    user_agent: 'text',
  },
  audit_events: {
    seq: 'integer',
    at: 'timestamp',
    type: 'text',
    actor_id: 'text',
    target_id: 'text',
    ip: 'text',
    user_agent: 'text',
    data: 'text',
    leaf_hash: 'bytes',
  },
  audit_head: { id: 'integer', tree_size: 'integer', frontier: 'bytes', root_hash: 'bytes' },
  audit_nodes: { level: 'integer', idx: 'integer', hash: 'bytes' },
  throttle_counters: { key: 'text', start_ms: 'integer', expires_ms: 'integer', count: 'integer' },
  invalidations: { id: 'integer', at: 'timestamp', origin: 'text', kind: 'text', target_id: 'text' },
  audit_checkpoints: {
    tree_size: 'integer',
    root_hash: 'bytes',
    origin: 'text',
    note: 'text',
    signed_at: 'timestamp',
  },
  // #19 audit witnesses
  audit_cosignatures: {
    tree_size: 'integer',
    witness: 'text',
    cosigned_at: 'integer',
    line: 'text',
    received_at: 'timestamp',
  },
  audit_witness_state: { witness: 'text', tree_size: 'integer', problem: 'text', updated_at: 'timestamp' },
};

/** The kind of `table.column`, or undefined for a table or column outside the schema. */
export function columnKind(table: string, column: string): ColumnKind | undefined {
  const columns = (COLUMN_KINDS as Partial<Record<string, Partial<Record<string, ColumnKind>>>>)[table];
  return columns?.[column];
}
