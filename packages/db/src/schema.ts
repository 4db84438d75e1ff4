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
/** #16: a person, or a service account (migration 008). */
export type UserKind = 'person' | 'service';

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
  // ---- email flows (migration 006) ----
  /** When the address was last proven to be the user's (a followed link); null: never. */
  email_verified_at: Date | null;
  /** Migration 008 (#16): `service` accounts own API keys, have no password and cannot sign in. */
  kind: Generated<UserKind>;
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
  /** Migration 007 (MFA): the last sign-in or reauthentication on this session (step-up); null before 007. */
  authenticated_at: Date | null;
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

// ---- email flows (migration 006) ----

/** A mail to send (packages/api/src/mail/outbox.ts); written in the transaction that causes it. */
export interface MailOutboxTable {
  id: string;
  /** The template: password_reset, invitation, email_verification, email_change, notice_* … */
  kind: string;
  to_address: string;
  subject: string;
  /** Null once the mail was sent or given up: the links in it are secrets. */
  text_body: string | null;
  html_body: string | null;
  status: 'pending' | 'sent' | 'failed';
  attempts: number;
  created_at: Date;
  next_attempt_at: Date;
  /** A worker holds the row until then (so two instances never send it twice at once). */
  locked_until: Date | null;
  sent_at: Date | null;
  /** The last delivery error, shortened (no credentials: nodemailer's message and code). */
  last_error: string | null;
}

export type AccountTokenPurpose = 'password_reset' | 'email_verification' | 'email_change';

/** One-time links (packages/api/src/account-tokens): only SHA-256 of the secret is stored. */
export interface AccountTokensTable {
  id: string;
  user_id: string;
  purpose: AccountTokenPurpose;
  secret_hash: Uint8Array;
  /** The address the link was sent to (for email_change: the new address). */
  email: string;
  created_at: Date;
  expires_at: Date;
  used_at: Date | null;
}

/** Invitations (packages/api/src/invitations): an account that exists once the link is followed. */
export interface InvitationsTable {
  id: string;
  email: string;
  email_key: string;
  name: string;
  role: Role;
  invited_by: string | null;
  secret_hash: Uint8Array;
  created_at: Date;
  expires_at: Date;
  accepted_at: Date | null;
  accepted_user_id: string | null;
  revoked_at: Date | null;
}

// ---- issue 15 (MFA), migration 007 ----

/** A user's TOTP factor: the secret encrypted (AES-256-GCM, packages/api/src/mfa/secret-box.ts). */
export interface TotpFactorsTable {
  user_id: string;
  secret: string;
  /** Null while enrolment waits for its first code. */
  confirmed_at: Date | null;
  /** The last accepted time step: a code of it or an earlier step is refused (replay). */
  last_used_step: number | null;
  created_at: Date;
}

/** Single-use recovery codes, SHA-256 of the (random, 50-bit) code only. */
export interface RecoveryCodesTable {
  id: string;
  user_id: string;
  code_hash: Uint8Array;
  created_at: Date;
  used_at: Date | null;
}

/** WebAuthn credentials. */
export interface PasskeysTable {
  /** Credential id, base64url. */
  id: string;
  user_id: string;
  name: string;
  /** COSE public key. */
  public_key: Uint8Array;
  counter: number;
  /** JSON array of AuthenticatorTransport strings. */
  transports: string;
  device_type: 'singleDevice' | 'multiDevice';
  backed_up: boolean;
  created_at: Date;
  last_used_at: Date | null;
}

export type MfaChallengePurpose = 'sign_in' | 'passkey_registration' | 'passkey_sign_in' | 'reauthentication';

/** Short-lived, single-use challenges: the sign-in second step and WebAuthn ceremonies. */
export interface MfaChallengesTable {
  id: string;
  token_hash: Uint8Array;
  purpose: MfaChallengePurpose;
  user_id: string | null;
  session_id: string | null;
  remember_me: boolean;
  webauthn_challenge: string | null;
  failures: number;
  created_at: Date;
  expires_at: Date;
}

/** Migration 008 (#16): API keys `gh_<id>_<secret>` (packages/api/src/api-keys/). */
export interface ApiKeysTable {
  /** The random `<id>` part of the key (shown in lists as the prefix `gh_<id>`). */
  id: string;
  user_id: string;
  name: string;
  /** SHA-256 of the key's secret part; the secret itself is never stored. */
  secret_hash: Uint8Array;
  /** Space-separated scopes (`users:read sessions:read`). */
  scopes: string;
  created_at: Date;
  expires_at: Date | null;
  /** Written at most once a minute per key. */
  last_used_at: Date | null;
  /** The key this one replaced (`apiKey.rotate`). */
  rotated_from: string | null;
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
  // ---- email flows (migration 006) ----
  mail_outbox: MailOutboxTable;
  account_tokens: AccountTokensTable;
  invitations: InvitationsTable;
  // issue 15 (MFA)
  totp_factors: TotpFactorsTable;
  recovery_codes: RecoveryCodesTable;
  passkeys: PasskeysTable;
  mfa_challenges: MfaChallengesTable;
  // #16 bridges
  api_keys: ApiKeysTable;
  // #19 audit witnesses
  audit_cosignatures: AuditCosignaturesTable;
  audit_witness_state: AuditWitnessStateTable;
  // #19 webhooks
  webhook_endpoints: WebhookEndpointsTable;
  webhook_deliveries: WebhookDeliveriesTable;
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

// #19 webhooks (migration 011)
/** Admin-configured webhook receivers (packages/api/src/webhooks). */
export interface WebhookEndpointsTable {
  id: string;
  url: string;
  description: string;
  /** Space-separated audit event types, `prefix.*` patterns or `*`. */
  events: string;
  /** `whsec_…` sealed by the SecretBox (bound to the endpoint id); never stored in clear. */
  secret_sealed: string;
  /** The secret before the last rotation, still signing until `previous_secret_expires_at`. */
  previous_secret_sealed: string | null;
  previous_secret_expires_at: Date | null;
  enabled: boolean;
  /** Why it is disabled: `manual`, or the auto-disable message. */
  disabled_reason: string | null;
  disabled_at: Date | null;
  /** The last audit seq handled (delivered or not matching). */
  cursor_seq: number;
  /** Consecutive failed attempts. */
  failures: number;
  first_failure_at: Date | null;
  next_attempt_at: Date;
  locked_until: Date | null;
  lease_token: string | null;
  last_error: string | null;
  /** Delivery log rows written so far (the next row's `n` is this + 1). */
  deliveries: number;
  created_by: string | null;
  created_at: Date;
  updated_at: Date;
}

/** One delivery attempt of one message to one endpoint. */
export interface WebhookDeliveriesTable {
  endpoint_id: string;
  n: number;
  seq: number | null;
  event_type: string;
  message_id: string;
  attempt: number;
  ok: boolean;
  status_code: number | null;
  error: string | null;
  response_excerpt: string | null;
  duration_ms: number;
  at: Date;
}

export type WebhookEndpointRow = Selectable<WebhookEndpointsTable>;
export type WebhookDeliveryRow = Selectable<WebhookDeliveriesTable>;

export type UserRow = Selectable<UsersTable>;
export type NewUserRow = Insertable<UsersTable>;
export type SessionRow = Selectable<SessionsTable>;
export type AuditEventRow = Selectable<AuditEventsTable>;
// ---- email flows (migration 006) ----
export type MailOutboxRow = Selectable<MailOutboxTable>;
export type AccountTokenRow = Selectable<AccountTokensTable>;
export type InvitationRow = Selectable<InvitationsTable>;
export type ApiKeyRow = Selectable<ApiKeysTable>;

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
    // ---- email flows (migration 006) ----
    email_verified_at: 'timestamp',
    kind: 'text',
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
    authenticated_at: 'timestamp',
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
  // ---- email flows (migration 006) ----
  mail_outbox: {
    id: 'text',
    kind: 'text',
    to_address: 'text',
    subject: 'text',
    text_body: 'text',
    html_body: 'text',
    status: 'text',
    attempts: 'integer',
    created_at: 'timestamp',
    next_attempt_at: 'timestamp',
    locked_until: 'timestamp',
    sent_at: 'timestamp',
    last_error: 'text',
  },
  account_tokens: {
    id: 'text',
    user_id: 'text',
    purpose: 'text',
    secret_hash: 'bytes',
    email: 'text',
    created_at: 'timestamp',
    expires_at: 'timestamp',
    used_at: 'timestamp',
  },
  invitations: {
    id: 'text',
    email: 'text',
    email_key: 'text',
    name: 'text',
    role: 'text',
    invited_by: 'text',
    secret_hash: 'bytes',
    created_at: 'timestamp',
    expires_at: 'timestamp',
    accepted_at: 'timestamp',
    accepted_user_id: 'text',
    revoked_at: 'timestamp',
  },
  // issue 15 (MFA)
  totp_factors: {
    user_id: 'text',
    secret: 'text',
    confirmed_at: 'timestamp',
    last_used_step: 'integer',
    created_at: 'timestamp',
  },
  recovery_codes: { id: 'text', user_id: 'text', code_hash: 'bytes', created_at: 'timestamp', used_at: 'timestamp' },
  passkeys: {
    id: 'text',
    user_id: 'text',
    name: 'text',
    public_key: 'bytes',
    counter: 'integer',
    transports: 'text',
    device_type: 'text',
    backed_up: 'boolean',
    created_at: 'timestamp',
    last_used_at: 'timestamp',
  },
  mfa_challenges: {
    id: 'text',
    token_hash: 'bytes',
    purpose: 'text',
    user_id: 'text',
    session_id: 'text',
    remember_me: 'boolean',
    webauthn_challenge: 'text',
    failures: 'integer',
    created_at: 'timestamp',
    expires_at: 'timestamp',
  },
  // #16 bridges
  api_keys: {
    id: 'text',
    user_id: 'text',
    name: 'text',
    secret_hash: 'bytes',
    scopes: 'text',
    created_at: 'timestamp',
    expires_at: 'timestamp',
    last_used_at: 'timestamp',
    rotated_from: 'text',
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
  // #19 webhooks
  webhook_endpoints: {
    id: 'text',
    url: 'text',
    description: 'text',
    events: 'text',
    secret_sealed: 'text',
    previous_secret_sealed: 'text',
    previous_secret_expires_at: 'timestamp',
    enabled: 'boolean',
    disabled_reason: 'text',
    disabled_at: 'timestamp',
    cursor_seq: 'integer',
    failures: 'integer',
    first_failure_at: 'timestamp',
    next_attempt_at: 'timestamp',
    locked_until: 'timestamp',
    lease_token: 'text',
    last_error: 'text',
    deliveries: 'integer',
    created_by: 'text',
    created_at: 'timestamp',
    updated_at: 'timestamp',
  },
  webhook_deliveries: {
    endpoint_id: 'text',
    n: 'integer',
    seq: 'integer',
    event_type: 'text',
    message_id: 'text',
    attempt: 'integer',
    ok: 'boolean',
    status_code: 'integer',
    error: 'text',
    response_excerpt: 'text',
    duration_ms: 'integer',
    at: 'timestamp',
  },
};

/** The kind of `table.column`, or undefined for a table or column outside the schema. */
export function columnKind(table: string, column: string): ColumnKind | undefined {
  const columns = (COLUMN_KINDS as Partial<Record<string, Partial<Record<string, ColumnKind>>>>)[table];
  return columns?.[column];
}
