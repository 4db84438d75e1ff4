/**
 * Sessions (design §4, the Lucia guide's design): creation with the per-user cap, validation with
 * sliding expiry and an absolute cap, revocation, the cleanup sweep, and a bounded cache of
 * validated sessions whose invalidations reach every instance.
 *
 * The hot path (one validation per request) costs, on a cache hit, one SHA-256 and a constant-time
 * compare; the database is touched only to slide the expiry (at most once per half-life) and to
 * record `last_seen_at` (at most once per `lastSeenIntervalMs`; that write also notices a session
 * deleted behind the cache's back, so even a lost invalidation is noticed within that interval).
 */
import { withTransaction, type Database, type Db, type Kysely, type SessionRow, type Transaction } from '@gatehouse/db';
import type { Clock } from '../clock.js';
import type { ApiConfig } from '../config.js';
import type { AuditAppender, SessionService } from '../services.js';
import { toSessionInfo, toUser } from '../users/mapping.js';
import { SessionCache } from './cache.js';
import type { InvalidationBus, InvalidationMessage } from './invalidation.js';
import { generateSessionToken, parseSessionToken, secretMatches } from './token.js';
import type { SessionInfo, ValidatedSession } from './types.js';

export type SessionConfig = Pick<
  ApiConfig,
  'sessionTtlMs' | 'sessionRememberTtlMs' | 'sessionAbsoluteTtlMs' | 'sessionMaxPerUser' | 'sessionCleanupIntervalMs'
>;

export interface SessionManagerOptions {
  db: Db;
  clock: Clock;
  config: SessionConfig;
  audit: AuditAppender;
  bus: InvalidationBus;
  /** Bound of the in-memory cache (entries). */
  cacheSize?: number;
  /** A cached entry older than this is re-read from the database (bounds staleness of the user). */
  cacheMaxAgeMs?: number;
  /** `last_seen_at` is written at most this often per session. */
  lastSeenIntervalMs?: number;
  onError?: (error: unknown) => void;
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

const SESSION_COLUMNS = [
  'sessions.id',
  'sessions.user_id',
  'sessions.secret_hash',
  'sessions.created_at',
  'sessions.expires_at',
  'sessions.last_seen_at',
  'sessions.remember_me',
  'sessions.ip',
  'sessions.user_agent',
] as const;

const USER_COLUMNS = [
  'users.id as u_id',
  'users.email as u_email',
  'users.username as u_username',
  'users.name as u_name',
  'users.password_hash as u_password_hash',
  'users.role as u_role',
  'users.is_active as u_is_active',
  'users.created_at as u_created_at',
  'users.updated_at as u_updated_at',
  'users.last_sign_in_at as u_last_sign_in_at',
  'users.mfa_enabled as u_mfa_enabled',
  'users.mfa_secret as u_mfa_secret',
] as const;

export class SessionManager implements SessionService {
  readonly #db: Db;
  readonly #clock: Clock;
  readonly #config: SessionConfig;
  readonly #audit: AuditAppender;
  readonly #bus: InvalidationBus;
  readonly #cache: SessionCache;
  readonly #cacheMaxAgeMs: number;
  readonly #lastSeenIntervalMs: number;
  readonly #onError: (error: unknown) => void;
  /** Bumped by every eviction: a validation that started before one must not fill the cache. */
  #epoch = 0;
  #timer: NodeJS.Timeout | null = null;
  #sweeping: Promise<number> | null = null;
  #closed = false;

  constructor(options: SessionManagerOptions) {
    this.#db = options.db;
    this.#clock = options.clock;
    this.#config = options.config;
    this.#audit = options.audit;
    this.#bus = options.bus;
    this.#cache = new SessionCache(options.cacheSize ?? 10_000);
    this.#cacheMaxAgeMs = options.cacheMaxAgeMs ?? 5 * 60_000;
    this.#lastSeenIntervalMs = options.lastSeenIntervalMs ?? 60_000;
    this.#onError = options.onError ?? ((error) => console.error('[gatehouse] session maintenance failed:', error));
  }

  /** Connects the invalidation bus, sweeps expired rows once, then every cleanup interval. */
  async start(options: { sweep?: boolean } = {}): Promise<void> {
    await this.#bus.start(
      (message) => this.#evict(message),
      () => this.#clearCache(),
    );
    if (options.sweep === false) return;
    await this.sweep().catch(this.#onError);
    this.#timer = setInterval(() => {
      this.sweep().catch(this.#onError);
    }, this.#config.sessionCleanupIntervalMs);
    this.#timer.unref();
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    await this.#sweeping?.catch(() => 0);
    await this.#bus.close();
    this.#clearCache();
  }

  /** Number of validated sessions held in this instance's cache. */
  get cachedCount(): number {
    return this.#cache.size;
  }

  ttlFor(rememberMe: boolean): number {
    return rememberMe ? this.#config.sessionRememberTtlMs : this.#config.sessionTtlMs;
  }

  // ---- creation ------------------------------------------------------------------------------

  /**
   * Opens a session inside `trx` (a new token on every sign-in: no fixation) and revokes the
   * user's oldest sessions beyond SESSION_MAX_PER_USER, auditing each as `session.evicted`.
   * Call `invalidate({ sessionIds: evictedIds })` after the transaction commits.
   */
  async create(trx: Transaction<Database>, input: NewSession): Promise<CreatedSession> {
    const now = this.#clock.now();
    if (this.#db.dialect === 'postgres') {
      // Concurrent sign-ins of one user queue here, so the cap is kept exactly.
      await trx.selectFrom('users').select('id').where('id', '=', input.userId).forUpdate().execute();
    }
    const { token, id, secretHash } = generateSessionToken();
    const expiresAt = new Date(
      Math.min(now.getTime() + this.ttlFor(input.rememberMe), now.getTime() + this.#config.sessionAbsoluteTtlMs),
    );
    const row: SessionRow = {
      id,
      user_id: input.userId,
      secret_hash: secretHash,
      created_at: now,
      expires_at: expiresAt,
      last_seen_at: now,
      remember_me: input.rememberMe,
      ip: input.ip,
      user_agent: input.userAgent,
    };
    await trx.insertInto('sessions').values(row).execute();

    const existing = await trx
      .selectFrom('sessions')
      .select(['id'])
      .where('user_id', '=', input.userId)
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .execute();
    const max = Math.max(1, this.#config.sessionMaxPerUser);
    // The new session always stays (even when created in the same millisecond as others).
    const evictedIds = existing
      .map((r) => r.id)
      .filter((sid) => sid !== id)
      .slice(max - 1)
      .reverse();
    if (evictedIds.length > 0) {
      await trx.deleteFrom('sessions').where('id', 'in', evictedIds).execute();
      for (const sessionId of evictedIds) {
        await this.#audit.append(trx, {
          type: 'session.evicted',
          actorId: input.userId,
          targetId: input.userId,
          ip: input.ip,
          userAgent: input.userAgent,
          data: { sessionId, reason: 'max_per_user', maxPerUser: max },
        });
      }
      await this.#announce(trx, { s: evictedIds });
    }
    return { token, session: toSessionInfo(row), evictedIds };
  }

  // ---- validation ----------------------------------------------------------------------------

  async validate(token: string): Promise<ValidatedSession | null> {
    const parsed = parseSessionToken(token);
    if (!parsed) return null;
    const now = this.#clock.now();
    const nowMs = now.getTime();
    const epoch = this.#epoch;
    const useCache = this.#bus.connected && !this.#closed;

    const cached = useCache ? this.#cache.get(parsed.id) : undefined;
    if (cached) {
      if (!secretMatches(parsed.secret, cached.secretHash)) return null;
      const { session } = cached;
      if (
        nowMs - cached.cachedAtMs < this.#cacheMaxAgeMs &&
        !this.#dueForRenewal(session, nowMs) &&
        this.#alive(session, nowMs)
      ) {
        if (nowMs - session.lastSeenAt.getTime() >= this.#lastSeenIntervalMs) {
          const result = await this.#db.kysely
            .updateTable('sessions')
            .set({ last_seen_at: now })
            .where('id', '=', session.id)
            .executeTakeFirst();
          if (Number(result.numUpdatedRows) === 0) {
            // Deleted behind the cache's back (an invalidation this instance never heard).
            this.#cache.delete(session.id);
            return null;
          }
          session.lastSeenAt = now;
        }
        return { session: { ...session }, user: { ...cached.user }, renewed: false };
      }
      this.#cache.delete(parsed.id);
    }

    const row = await this.#db.kysely
      .selectFrom('sessions')
      .innerJoin('users', 'users.id', 'sessions.user_id')
      .select([...SESSION_COLUMNS, ...USER_COLUMNS])
      .where('sessions.id', '=', parsed.id)
      .executeTakeFirst();
    if (!row) return null;
    if (!secretMatches(parsed.secret, row.secret_hash)) return null;
    const session = toSessionInfo(row);
    if (!this.#alive(session, nowMs)) return null;
    if (!row.u_is_active) return null;
    const user = toUser({
      id: row.u_id,
      email: row.u_email,
      username: row.u_username,
      name: row.u_name,
      password_hash: row.u_password_hash,
      role: row.u_role,
      is_active: row.u_is_active,
      created_at: row.u_created_at,
      updated_at: row.u_updated_at,
      last_sign_in_at: row.u_last_sign_in_at,
      mfa_enabled: row.u_mfa_enabled,
      mfa_secret: row.u_mfa_secret,
    });

    let renewed = false;
    const update: { expires_at?: Date; last_seen_at?: Date } = {};
    if (this.#dueForRenewal(session, nowMs)) {
      update.expires_at = new Date(this.#renewedExpiry(session, nowMs));
      renewed = true;
    }
    if (renewed || nowMs - session.lastSeenAt.getTime() >= this.#lastSeenIntervalMs) update.last_seen_at = now;
    if (update.last_seen_at) {
      const result = await this.#db.kysely
        .updateTable('sessions')
        .set(update)
        .where('id', '=', session.id)
        .executeTakeFirst();
      if (Number(result.numUpdatedRows) === 0) return null;
      if (update.expires_at) session.expiresAt = update.expires_at;
      session.lastSeenAt = now;
    }

    if (useCache && epoch === this.#epoch && this.#bus.connected) {
      this.#cache.set(session.id, {
        session: { ...session },
        user: { ...user },
        secretHash: new Uint8Array(row.secret_hash),
        cachedAtMs: nowMs,
      });
    }
    return { session, user, renewed };
  }

  #absoluteEnd(session: SessionInfo): number {
    return session.createdAt.getTime() + this.#config.sessionAbsoluteTtlMs;
  }

  #alive(session: SessionInfo, nowMs: number): boolean {
    return nowMs < session.expiresAt.getTime() && nowMs < this.#absoluteEnd(session);
  }

  #renewedExpiry(session: SessionInfo, nowMs: number): number {
    return Math.min(nowMs + this.ttlFor(session.rememberMe), this.#absoluteEnd(session));
  }

  /** Less than half the lifetime left, and the absolute cap still lets the expiry move. */
  #dueForRenewal(session: SessionInfo, nowMs: number): boolean {
    const left = session.expiresAt.getTime() - nowMs;
    return (
      left < this.ttlFor(session.rememberMe) / 2 && this.#renewedExpiry(session, nowMs) > session.expiresAt.getTime()
    );
  }

  // ---- reading -------------------------------------------------------------------------------

  /** A user's live sessions, newest first. */
  async listForUser(userId: string, executor: Kysely<Database> = this.#db.kysely): Promise<SessionInfo[]> {
    const now = this.#clock.now();
    const rows = await executor
      .selectFrom('sessions')
      .selectAll()
      .where('user_id', '=', userId)
      .where('expires_at', '>', now)
      .where('created_at', '>', new Date(now.getTime() - this.#config.sessionAbsoluteTtlMs))
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .execute();
    return rows.map(toSessionInfo);
  }

  async byId(sessionId: string, executor: Kysely<Database> = this.#db.kysely): Promise<SessionInfo | null> {
    const row = await executor.selectFrom('sessions').selectAll().where('id', '=', sessionId).executeTakeFirst();
    return row ? toSessionInfo(row) : null;
  }

  /** Live sessions in the database (all users). */
  async countActive(): Promise<number> {
    const now = this.#clock.now();
    const row = await this.#db.kysely
      .selectFrom('sessions')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('expires_at', '>', now)
      .where('created_at', '>', new Date(now.getTime() - this.#config.sessionAbsoluteTtlMs))
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  // ---- revocation ----------------------------------------------------------------------------

  /** Deletes one session inside `trx`; the deleted row, or null when there was none. */
  async revoke(trx: Transaction<Database>, sessionId: string): Promise<SessionInfo | null> {
    const row = await trx.deleteFrom('sessions').where('id', '=', sessionId).returningAll().executeTakeFirst();
    if (!row) return null;
    await this.#announce(trx, { s: [row.id] });
    return toSessionInfo(row);
  }

  async revokeAllForUser(
    trx: Transaction<Database>,
    userId: string,
    options: { exceptSessionId?: string } = {},
  ): Promise<number> {
    let query = trx.deleteFrom('sessions').where('user_id', '=', userId);
    if (options.exceptSessionId !== undefined) query = query.where('id', '!=', options.exceptSessionId);
    const rows = await query.returning('id').execute();
    if (rows.length > 0) await this.#announce(trx, { s: rows.map((r) => r.id) });
    return rows.length;
  }

  /**
   * Evicts here at once and tells every other instance. Call it after the transaction that
   * deleted or changed the sessions/user has committed (on PostgreSQL without Redis the
   * revocation was already announced by a NOTIFY that is delivered on commit; this makes sure).
   */
  async invalidate(target: { sessionIds?: readonly string[]; userId?: string }): Promise<void> {
    const message: InvalidationMessage = {};
    if (target.sessionIds && target.sessionIds.length > 0) message.s = [...target.sessionIds];
    if (target.userId) message.u = target.userId;
    if (!message.s && !message.u) return;
    this.#evict(message);
    await this.#bus.publish(message);
  }

  /** In-transaction part of a revocation: local eviction now, and NOTIFY-on-commit where possible. */
  async #announce(trx: Transaction<Database>, message: InvalidationMessage): Promise<void> {
    this.#evict(message);
    const carried = await this.#bus.publishInTransaction(trx, message);
    if (!carried) {
      // Redis cannot join the transaction: tell the others now as well as after commit.
      this.#bus.publish(message).catch(this.#onError);
    }
  }

  #evict(message: InvalidationMessage): void {
    this.#epoch += 1;
    for (const id of message.s ?? []) this.#cache.delete(id);
    if (message.u) this.#cache.deleteUser(message.u);
  }

  #clearCache(): void {
    this.#epoch += 1;
    this.#cache.clear();
  }

  // ---- cleanup -------------------------------------------------------------------------------

  /**
   * Deletes expired sessions (past `expires_at` or the absolute cap) and, when there were any,
   * records one `session.expired_cleanup` event with the count in the same transaction.
   */
  sweep(): Promise<number> {
    if (this.#sweeping) return this.#sweeping;
    const run = (async () => {
      const now = this.#clock.now();
      const capStart = new Date(now.getTime() - this.#config.sessionAbsoluteTtlMs);
      return withTransaction(this.#db, async (trx) => {
        const rows = await trx
          .deleteFrom('sessions')
          .where((eb) => eb.or([eb('expires_at', '<=', now), eb('created_at', '<=', capStart)]))
          .returning('id')
          .execute();
        if (rows.length > 0) {
          await this.#audit.append(trx, { type: 'session.expired_cleanup', data: { count: rows.length } });
          for (const r of rows) this.#cache.delete(r.id);
        }
        return rows.length;
      });
    })();
    this.#sweeping = run;
    return run.finally(() => {
      this.#sweeping = null;
    });
  }
}
