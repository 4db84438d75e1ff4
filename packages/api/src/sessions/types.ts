import type { Database, Role, Transaction, UserKind } from '@gatehouse/db';
import type { Invalidation, Work } from '../unit-of-work.js';

/** The signed-in user as the request sees it. Never carries the password hash. */
export interface AuthUser {
  id: string;
  email: string;
  username: string | null;
  name: string;
  role: Role;
  isActive: boolean;
  createdAt: Date;
  updatedAt: Date;
  lastSignInAt: Date | null;
  mfaEnabled: boolean;
  /** The id in the backend the user was imported from, or null (#17 user import). */
  externalId: string | null;
  /** When the email address was last proven to be the user's (a followed link); null: never. */
  emailVerifiedAt: Date | null;
  /** #16: `service` for a service account (API keys only, no sign-in). */
  kind: UserKind;
}

export interface SessionInfo {
  id: string;
  userId: string;
  createdAt: Date;
  expiresAt: Date;
  lastSeenAt: Date;
  rememberMe: boolean;
  ip: string | null;
  userAgent: string | null;
  /** The last sign-in or reauthentication on this session (step-up, mfa/step-up.ts); null for sessions older than migration 007. */
  authenticatedAt: Date | null;
}

export interface ValidatedSession {
  session: SessionInfo;
  user: AuthUser;
  /** True when this validation moved `expiresAt` forward: a cookie transport must re-set the cookie. */
  renewed: boolean;
}

export interface NewSession {
  userId: string;
  rememberMe: boolean;
  ip: string | null;
  userAgent: string | null;
}

export interface CreatedSession {
  token: string;
  session: SessionInfo;
  /** Sessions revoked to stay within SESSION_MAX_PER_USER (oldest first). */
  evictedIds: string[];
}

/**
 * Where a session write runs: a unit of work (`transact`), whose after-commit hook then drops the
 * affected cache entries on every instance, or a bare transaction, announced through the bus
 * inside it (NOTIFY on commit with PostgreSQL).
 */
export type SessionWriteScope = Work | Transaction<Database>;

/** What an invalidation names; `userId` is the older single-user spelling of `userIds`. */
export type SessionInvalidation = Invalidation & { readonly userId?: string };
