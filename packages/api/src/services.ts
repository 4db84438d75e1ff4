import type { Db } from '@gatehouse/db';
import type { Clock } from './clock.js';
import type { ApiConfig } from './config.js';
import type { AuditAppender, AuditService } from './audit/service.js';
import type {
  AuthUser,
  CreatedSession,
  NewSession,
  SessionInfo,
  SessionInvalidation,
  SessionWriteScope,
  ValidatedSession,
} from './sessions/types.js';
import type { LoginThrottle } from './throttle/throttle.js';
import type { Invalidator } from './unit-of-work.js';
// ---- email flows ----
import type { MailService } from './mail/service.js';
import type { SecretBox } from './mfa/secret-box.js';
// #16 bridges
import type { ApiKeyValidator } from './api-keys/types.js';
import type { TokenService } from './tokens/service.js';
// #19 webhooks
import type { WebhookService } from './webhooks/types.js';

/** The audit log as every other service uses it (audit/types.ts). */
export type { AuditAppender };

/** Hashing and checking passwords, off the event loop (architecture §5). */
export interface PasswordHasher {
  hash(password: string): Promise<string>;
  /** True when `password` matches `hash` (Argon2id, or an imported bcrypt hash). */
  verify(hash: string, password: string): Promise<boolean>;
  /** True when the hash should be replaced by a fresh Argon2id hash (bcrypt, old parameters). */
  needsRehash(hash: string): boolean;
}

/**
 * Sessions as other services use them (sessions/ implements it; architecture §4). Writes take a unit of
 * work (`transact`), whose after-commit hook drops the cached sessions on every instance, or a
 * bare transaction.
 */
export interface SessionStore {
  /**
   * The session and its user for a token (session facts cached, the user read by id or from the
   * user cache), sliding its expiry; null when invalid, expired, revoked or the user is inactive.
   */
  validate(token: string): Promise<ValidatedSession | null>;
  /** Deletes every session of a user (optionally keeping one); returns how many. */
  revokeAllForUser(scope: SessionWriteScope, userId: string, options?: { exceptSessionId?: string }): Promise<number>;
  /**
   * Drops cached sessions (by id, and every one of the named users) and cached users, here and on
   * every other instance. `transact` does this after every commit (`services.invalidator`); call
   * it by hand only outside a unit of work.
   */
  invalidate(target: SessionInvalidation): Promise<void>;
}

/** The whole session service (sessions/manager.ts): what the auth and session routers use. */
export interface SessionService extends SessionStore {
  /** Opens a session, evicting the oldest beyond SESSION_MAX_PER_USER (audited). */
  create(scope: SessionWriteScope, input: NewSession): Promise<CreatedSession>;
  /** Deletes one session; the deleted session, or null when there was none. */
  revoke(scope: SessionWriteScope, sessionId: string): Promise<SessionInfo | null>;
  /** A user's live sessions, newest first. */
  listForUser(userId: string): Promise<SessionInfo[]>;
  byId(sessionId: string): Promise<SessionInfo | null>;
  /** Live sessions in the database, all users. */
  countActive(): Promise<number>;
  /** Session facts held in this instance's cache. */
  readonly cachedCount: number;
  /** Deletes expired sessions now (also runs at start and every SESSION_CLEANUP_INTERVAL). */
  sweep(): Promise<number>;
}

/** Whatever a request needs of a signed-in caller (the user is never cached inside a session). */
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
  /** Sign-in failure counters per account and per IP (architecture §5). */
  readonly throttle: LoginThrottle;
  /** The audit log: `append` for every service, verify/proofs/checkpoints for the audit router. */
  readonly audit: AuditService;
  /**
   * Where failures nobody awaits go (after-commit tasks, see unit-of-work.ts): logged through the
   * logger given to createServices (the server's pino logger).
   */
  readonly onError: (error: unknown) => void;
  // ---- email flows (mail/, account-tokens/, invitations/) ----
  /** The outbox and its worker (mail/service.ts). */
  readonly mail: MailService;
  /** Requests that send mail (reset, verification): per address and per IP, apart from sign-in's counters. */
  readonly mailThrottle: LoginThrottle;
  /** issue 15: seals TOTP secrets with the key in MFA_KEY_FILE (mfa/secret-box.ts). */
  readonly mfaSecrets: SecretBox;
  /** #16: API key validation (cached like sessions; api-keys/manager.ts). */
  readonly apiKeys: ApiKeyValidator;
  /** #16: JWT access tokens and the JWKS (tokens/). */
  readonly tokens: TokenService;
  // #19 webhooks
  /** The webhook endpoints' delivery worker and SSRF check (webhooks/). */
  readonly webhooks: WebhookService;
  /** Stops timers and closes connections (not the Db, which the owner closes). */
  close(): Promise<void>;
}
