import { randomUUID } from 'node:crypto';
import type { Role, UserKind, UserRow } from '@gatehouse/db';
import type { AuthUser, SessionInfo } from '../sessions/types.js';
import { identifierKey } from './identifier.js';

export interface NewUserFields {
  email: string;
  username: string | null;
  name: string;
  role: Role;
  /** Already hashed (Argon2id): a plain password never reaches a row. */
  passwordHash: string;
  now: Date;
  /** Set when the account is created signed in (setup, sign-up). */
  signedIn?: boolean;
  /** The id in the backend it was imported from (#17 user import). */
  externalId?: string | null;
  /** When the address was proven (an accepted invitation); default: not verified. */
  emailVerifiedAt?: Date | null;
  /** #16: `service` for a service account (no password, cannot sign in); default `person`. */
  kind?: UserKind;
}

/** The row of a new, active account without MFA: the one definition (createUser and the test fixtures use it). */
export function newUserRow(fields: NewUserFields): UserRow {
  return {
    id: randomUUID(),
    email: fields.email,
    username: fields.username,
    email_key: identifierKey(fields.email),
    username_key: fields.username === null ? null : identifierKey(fields.username),
    name: fields.name,
    password_hash: fields.passwordHash,
    role: fields.role,
    is_active: true,
    created_at: fields.now,
    updated_at: fields.now,
    last_sign_in_at: fields.signedIn ? fields.now : null,
    mfa_enabled: false,
    mfa_secret: null,
    external_id: fields.externalId ?? null,
    email_verified_at: fields.emailVerifiedAt ?? null,
    kind: fields.kind ?? 'person',
  };
}

/** The API's User (architecture §7). Built field by field so a hash can never leak into a response. */
export type User = AuthUser;

/** The columns a User is made of: never the password hash, the MFA secret or the identifier keys. */
export type UserFields = Pick<
  UserRow,
  | 'id'
  | 'email'
  | 'username'
  | 'name'
  | 'role'
  | 'is_active'
  | 'created_at'
  | 'updated_at'
  | 'last_sign_in_at'
  | 'mfa_enabled'
  | 'external_id'
  | 'email_verified_at'
  | 'kind'
>;

export function toUser(row: UserFields): User {
  return {
    id: row.id,
    email: row.email,
    username: row.username,
    name: row.name,
    role: row.role,
    isActive: row.is_active,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    lastSignInAt: row.last_sign_in_at,
    mfaEnabled: row.mfa_enabled,
    externalId: row.external_id,
    emailVerifiedAt: row.email_verified_at,
    kind: row.kind,
  };
}

/** The API's Session (architecture §7); `current` marks the caller's own session. */
export interface Session {
  id: string;
  createdAt: Date;
  expiresAt: Date;
  lastSeenAt: Date;
  rememberMe: boolean;
  ip: string | null;
  userAgent: string | null;
  current: boolean;
}

export function toSession(info: SessionInfo, currentSessionId: string | null): Session {
  return {
    id: info.id,
    createdAt: info.createdAt,
    expiresAt: info.expiresAt,
    lastSeenAt: info.lastSeenAt,
    rememberMe: info.rememberMe,
    ip: info.ip,
    userAgent: info.userAgent,
    current: info.id === currentSessionId,
  };
}
