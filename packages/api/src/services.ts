import type { Database, Db, Transaction } from '@gatehouse/db';
import type { Clock } from './clock.js';
import type { ApiConfig } from './config.js';
import type { AuditEvent, AuditEventInput } from './audit/types.js';
import type { AuthUser, ValidatedSession } from './sessions/types.js';
import type { AuditService } from './audit/service.js';
import type { CreatedSession, NewSession } from './sessions/manager.js';
import type { SessionInfo } from './sessions/types.js';
import type { LoginThrottle } from './throttle/throttle.js';
import type { Invalidator } from './unit-of-work.js';

/**
 * The audit log as every other service uses it: append inside the caller's transaction, so the
 * event commits or rolls back with the change it records. The audit service (audit/) implements
 * this and more (verify, proofs, checkpoints) for the audit router.
 */
export interface AuditAppender {
  append(trx: Transaction<Database>, event: AuditEventInput): Promise<AuditEvent>;
}

/** Hashing and checking passwords, off the event loop (design §5). */
export interface PasswordHasher {
  hash(password: string): Promise<string>;
  /** True when `password` matches `hash` (Argon2id, or an imported bcrypt hash). */
  verify(hash: string, password: string): Promise<boolean>;
  /** True when the hash should be replaced by a fresh Argon2id hash (bcrypt, old parameters). */
  needsRehash(hash: string): boolean;
}

/** Sessions as other services use them (sessions/ implements it; design §4). */
export interface SessionStore {
  /** Looks a token up (cache first), slides its expiry; null when invalid, expired or revoked. */
  validate(token: string, meta?: { ip: string | null; userAgent: string | null }): Promise<ValidatedSession | null>;
  /** Deletes every session of a user inside `trx` (optionally keeping one); returns how many. */
  revokeAllForUser(trx: Transaction<Database>, userId: string, options?: { exceptSessionId?: string }): Promise<number>;
  /** Drops cached validations of these sessions/users here and on every other instance. */
  invalidate(target: { sessionIds?: readonly string[]; userId?: string }): Promise<void>;
}

/** The whole session service (sessions/manager.ts): what the auth and session routers use. */
export interface SessionService extends SessionStore {
  /** Opens a session inside `trx`, evicting the oldest beyond SESSION_MAX_PER_USER (audited). */
  create(trx: Transaction<Database>, input: NewSession): Promise<CreatedSession>;
  /** Deletes one session inside `trx`; the deleted session, or null when there was none. */
  revoke(trx: Transaction<Database>, sessionId: string): Promise<SessionInfo | null>;
  /** A user's live sessions, newest first. */
  listForUser(userId: string): Promise<SessionInfo[]>;
  byId(sessionId: string): Promise<SessionInfo | null>;
  /** Live sessions in the database, all users. */
  countActive(): Promise<number>;
  /** Validated sessions held in this instance's cache. */
  readonly cachedCount: number;
  /** Deletes expired sessions now (also runs at start and every SESSION_CLEANUP_INTERVAL). */
  sweep(): Promise<number>;
}

/** Whatever a request needs of a signed-in caller, re-read from the database on every admin call. */
export type { AuthUser, ValidatedSession };

/**
 * Everything the procedures depend on, built once per server (see createServices) and passed
 * in the tRPC context. Tests build it against a real database and a ManualClock.
 */
export interface Services {
  readonly db: Db;
  readonly config: ApiConfig;
  readonly clock: Clock;
  readonly passwords: PasswordHasher;
  readonly sessions: SessionService;
  /** Drops cached sessions/users after a commit, here and on every instance (see unit-of-work.ts). */
  readonly invalidator: Invalidator;
  /** Sign-in failure counters per account and per IP (design §5). */
  readonly throttle: LoginThrottle;
  /** The audit log: `append` for every service, verify/proofs/checkpoints for the audit router. */
  readonly audit: AuditService;
  /**
   * Where failures nobody awaits go (after-commit tasks, see unit-of-work.ts): logged through the
   * logger given to createServices (the server's pino logger).
   */
  readonly onError: (error: unknown) => void;
  /** Stops timers and closes connections (not the Db, which the owner closes). */
  close(): Promise<void>;
}
