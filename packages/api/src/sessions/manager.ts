/**
 * Sessions (architecture §4, the Lucia guide's design), put together from small parts:
 * tokens (token.ts), the SQL store (store.ts), the pure expiry policy (policy.ts), a cache of
 * session facts (cache.ts) and a cache of users by id (users/cache.ts), both dropped on every
 * instance through the invalidation bus. This file is the order in which they are used.
 *
 * The hot path (one validation per request) costs, on a cache hit, one SHA-256, a constant-time
 * compare and a look-up in the user cache; the database is touched only to slide the expiry (at
 * most once per half-life, re-reading the row first) and to record `last_seen_at` (at most once
 * per `lastSeenIntervalMs`; that write also notices a session deleted behind the cache's back, so
 * even a lost invalidation is noticed within that interval). A lost invalidation of a user (a
 * role change, a deactivation) lives at most `cacheMaxAgeMs` in the user cache.
 */
import { withTransaction, type Database, type Db, type SessionRow, type Transaction } from '@gatehouse/db';
import type { Clock } from '../clock.js';
import type { ApiConfig } from '../config.js';
import type { AuditAppender, SessionService } from '../services.js';
import type { Work } from '../unit-of-work.js';
import { UserCache, userByIdLoader } from '../users/cache.js';
import { SessionCache, factsOf, infoOf } from './cache.js';
import type { InvalidationBus, InvalidationMessage } from './invalidation.js';
import { initialExpiry, judge, liveWindow, sessionPolicy, type SessionPolicy } from './policy.js';
import * as store from './store.js';
import { generateSessionToken, parseSessionToken, secretMatches } from './token.js';
import type {
  CreatedSession,
  NewSession,
  SessionInfo,
  SessionInvalidation,
  SessionWriteScope,
  ValidatedSession,
} from './types.js';

type SessionConfig = Pick<
  ApiConfig,
  'sessionTtlMs' | 'sessionRememberTtlMs' | 'sessionAbsoluteTtlMs' | 'sessionMaxPerUser' | 'sessionCleanupIntervalMs'
>;

interface SessionManagerOptions {
  db: Db;
  clock: Clock;
  config: SessionConfig;
  audit: AuditAppender;
  bus: InvalidationBus;
  /** Bound of each in-memory cache, session facts and users (entries, default 10 000). */
  cacheSize?: number;
  /** A cached session or user older than this is re-read (bounds a lost invalidation; default 5 min). */
  cacheMaxAgeMs?: number;
  /** `last_seen_at` is written at most this often per session (default 1 min). */
  lastSeenIntervalMs?: number;
  onError?: (error: unknown) => void;
}

export class SessionManager implements SessionService {
  readonly #db: Db;
  readonly #clock: Clock;
  readonly #config: SessionConfig;
  readonly #policy: SessionPolicy;
  readonly #audit: AuditAppender;
  readonly #bus: InvalidationBus;
  readonly #sessions: SessionCache;
  readonly #users: UserCache;
  readonly #onError: (error: unknown) => void;
  #timer: NodeJS.Timeout | null = null;
  /** #16: other caches dropped by the same invalidations (API keys: api-keys/manager.ts). */
  readonly #listeners: { drop(ids: readonly string[], userIds: readonly string[]): void; clear(): void }[] = [];
  #sweeping: Promise<number> | null = null;
  #closed = false;

  constructor(options: SessionManagerOptions) {
    this.#db = options.db;
    this.#clock = options.clock;
    this.#config = options.config;
    this.#policy = sessionPolicy(options.config, options.lastSeenIntervalMs);
    this.#audit = options.audit;
    this.#bus = options.bus;
    const bounds = { maxEntries: options.cacheSize ?? 10_000, maxAgeMs: options.cacheMaxAgeMs ?? 5 * 60_000 };
    this.#sessions = new SessionCache(bounds);
    this.#users = new UserCache({ ...bounds, load: userByIdLoader(options.db) });
    this.#onError = options.onError ?? (() => {});
  }

  /** Connects the invalidation bus, sweeps expired rows once, then every cleanup interval. */
  async start(options: { sweep?: boolean } = {}): Promise<void> {
    await this.#bus.start(
      (message) => this.#drop(message.s ?? [], message.u ? [message.u] : []),
      () => this.#clearCaches(),
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
    this.#clearCaches();
  }

  /**
   * #16: a cache that shares the sessions' invalidations (the API key cache): it hears every
   * dropped id (its own ids travel as session ids) and user id, here and from the other instances.
   */
  addCacheListener(listener: { drop(ids: readonly string[], userIds: readonly string[]): void; clear(): void }): void {
    this.#listeners.push(listener);
  }

  /** #16: whether caches may serve entries (the bus is connected and the manager open). */
  get cacheUsable(): boolean {
    return this.#bus.connected && !this.#closed;
  }

  /** Number of session facts held in this instance's cache. */
  get cachedCount(): number {
    return this.#sessions.size;
  }

  // ---- creation ------------------------------------------------------------------------------

  /**
   * Opens a session (a new token on every sign-in: no fixation) and revokes the user's oldest
   * sessions beyond SESSION_MAX_PER_USER, auditing each as `session.evicted`.
   */
  async create(scope: SessionWriteScope, input: NewSession): Promise<CreatedSession> {
    const trx = transactionOf(scope);
    const now = this.#clock.now();
    // Concurrent sign-ins of one user queue here, so the cap is kept exactly.
    await store.lockSessionOwner(this.#db, trx, input.userId);
    const { token, id, secretHash } = generateSessionToken();
    const row: SessionRow = {
      id,
      user_id: input.userId,
      secret_hash: secretHash,
      created_at: now,
      expires_at: initialExpiry(this.#policy, input.rememberMe, now),
      last_seen_at: now,
      remember_me: input.rememberMe,
      ip: input.ip,
      user_agent: input.userAgent,
      // A new session is a fresh authentication (step-up, mfa/step-up.ts).
      authenticated_at: now,
    };
    await store.insertSession(trx, row);

    const max = Math.max(1, this.#config.sessionMaxPerUser);
    // The new session always stays (even when created in the same millisecond as others). A list
    // and a delete, not one `DELETE … NOT IN (… LIMIT) RETURNING`: SQLite ran that one 3.7× slower
    // (docs/benchmarks.md, issue 18 round 6).
    const evictedIds = (await store.sessionIdsOfUser(trx, input.userId))
      .filter((sid) => sid !== id)
      .slice(max - 1)
      .reverse();
    if (evictedIds.length > 0) {
      await store.deleteSessions(trx, evictedIds);
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
      await this.#announce(scope, evictedIds);
    }
    return { token, session: infoOf(factsOf(row)), evictedIds };
  }

  // ---- validation ----------------------------------------------------------------------------

  /** The session and its user for a presented token; null when invalid, expired, revoked or inactive. */
  async validate(token: string): Promise<ValidatedSession | null> {
    const parsed = parseSessionToken(token);
    if (!parsed) return null;
    const now = this.#clock.now();
    const nowMs = now.getTime();
    const useCache = this.#bus.connected && !this.#closed;

    const cached = useCache ? this.#sessions.get(parsed.id, nowMs) : undefined;
    if (cached) {
      if (!secretMatches(parsed.secret, cached.secretHash)) return null;
      const verdict = judge(this.#policy, cached, now);
      // Expired or due for renewal by the cached facts: re-read the row (another instance may
      // have slid it already) on the miss path below.
      if (verdict.alive && !verdict.renewTo) {
        const user = await this.#users.get(cached.userId, nowMs, useCache);
        if (!user?.isActive) return null;
        if (verdict.touch) {
          if (!(await store.touchSession(this.#db.kysely, cached.id, { lastSeenAt: now }))) {
            // Deleted behind the cache's back (an invalidation this instance never heard).
            this.#sessions.drop([cached.id]);
            return null;
          }
          cached.lastSeenAt = now;
        }
        return { session: infoOf(cached), user, renewed: false };
      }
      this.#sessions.drop([cached.id]);
    }

    // Read after any drop above: a fill is refused if anything is dropped from now on.
    const epoch = this.#sessions.epoch;
    const row = await store.selectSession(this.#db.kysely, parsed.id);
    if (!row) return null;
    const facts = factsOf(row);
    if (!secretMatches(parsed.secret, facts.secretHash)) return null;
    const verdict = judge(this.#policy, facts, now);
    if (!verdict.alive) return null;
    const user = await this.#users.get(facts.userId, nowMs, useCache);
    if (!user?.isActive) return null;
    if (verdict.touch) {
      const written = await store.touchSession(this.#db.kysely, facts.id, {
        lastSeenAt: now,
        expiresAt: verdict.renewTo,
      });
      if (!written) return null;
      if (verdict.renewTo) facts.expiresAt = verdict.renewTo;
      facts.lastSeenAt = now;
    }
    if (useCache && this.#bus.connected) this.#sessions.fill(facts, nowMs, epoch);
    return { session: infoOf(facts), user, renewed: verdict.renewTo !== null };
  }

  // ---- reading -------------------------------------------------------------------------------

  /** A user's live sessions, newest first. */
  async listForUser(userId: string): Promise<SessionInfo[]> {
    const rows = await store.liveSessionsOfUser(this.#db.kysely, userId, liveWindow(this.#policy, this.#clock.now()));
    return rows.map((row) => infoOf(factsOf(row)));
  }

  async byId(sessionId: string): Promise<SessionInfo | null> {
    const row = await store.selectSession(this.#db.kysely, sessionId);
    return row ? infoOf(factsOf(row)) : null;
  }

  /** Live sessions in the database (all users). */
  countActive(): Promise<number> {
    return store.countLiveSessions(this.#db.kysely, liveWindow(this.#policy, this.#clock.now()));
  }

  // ---- revocation ----------------------------------------------------------------------------

  /** Deletes one session; the deleted session, or null when there was none. */
  async revoke(scope: SessionWriteScope, sessionId: string): Promise<SessionInfo | null> {
    const row = await store.deleteSession(transactionOf(scope), sessionId);
    if (!row) return null;
    await this.#announce(scope, [row.id]);
    return infoOf(factsOf(row));
  }

  /** Deletes every session of a user (optionally keeping one); returns how many. */
  async revokeAllForUser(
    scope: SessionWriteScope,
    userId: string,
    options: { exceptSessionId?: string } = {},
  ): Promise<number> {
    const ids = await store.deleteSessionsOfUser(transactionOf(scope), userId, options.exceptSessionId);
    if (ids.length > 0) await this.#announce(scope, ids);
    return ids.length;
  }

  /**
   * The `Invalidator` (unit-of-work.ts): drops the named session facts, every cached session of
   * the named users and the cached users themselves, here at once and on every other instance.
   * `transact` calls it after each commit, with `published` when `publishInTransaction` already
   * told the others. A failed publish is reported, not thrown: the change is committed, and the
   * other instances' entries age out within `cacheMaxAgeMs`.
   */
  async invalidate(target: SessionInvalidation, options: { published?: boolean } = {}): Promise<void> {
    const { sessionIds, userIds } = normalized(target);
    if (sessionIds.length === 0 && userIds.length === 0) return;
    this.#drop(sessionIds, userIds);
    if (options.published) return;
    for (const message of messagesOf(sessionIds, userIds)) await this.#bus.publish(message).catch(this.#onError);
  }

  /** The `Invalidator`'s part inside the transaction: the bus's in-transaction publish, if it has one. */
  async publishInTransaction(trx: Transaction<Database>, target: SessionInvalidation): Promise<boolean> {
    const { sessionIds, userIds } = normalized(target);
    let carried = true;
    for (const message of messagesOf(sessionIds, userIds)) {
      carried = (await this.#bus.publishInTransaction(trx, message)) && carried;
    }
    return carried;
  }

  /**
   * A revocation inside `scope`. In a unit of work, its after-commit hook invalidates. In a bare
   * transaction: local eviction now, and NOTIFY-on-commit where the bus can join the transaction
   * (Redis cannot: the others are told now as well).
   */
  async #announce(scope: SessionWriteScope, sessionIds: string[]): Promise<void> {
    if (isWork(scope)) {
      scope.invalidate({ sessionIds });
      return;
    }
    this.#drop(sessionIds, []);
    const carried = await this.#bus.publishInTransaction(scope, { s: sessionIds });
    if (!carried) this.#bus.publish({ s: sessionIds }).catch(this.#onError);
  }

  #drop(sessionIds: readonly string[], userIds: readonly string[]): void {
    this.#sessions.drop(sessionIds);
    for (const userId of userIds) this.#sessions.dropUser(userId);
    this.#users.drop(userIds);
    for (const listener of this.#listeners) listener.drop(sessionIds, userIds);
  }

  #clearCaches(): void {
    this.#sessions.clear();
    this.#users.clear();
    for (const listener of this.#listeners) listener.clear();
  }

  // ---- cleanup -------------------------------------------------------------------------------

  /**
   * Deletes expired sessions (past `expires_at` or the absolute cap) and, when there were any,
   * records one `session.expired_cleanup` event with the count in the same transaction.
   */
  sweep(): Promise<number> {
    if (this.#sweeping) return this.#sweeping;
    const run = withTransaction(this.#db, async (trx) => {
      const ids = await store.deleteDeadSessions(trx, liveWindow(this.#policy, this.#clock.now()));
      if (ids.length > 0) {
        await this.#audit.append(trx, { type: 'session.expired_cleanup', data: { count: ids.length } });
        this.#sessions.drop(ids);
      }
      return ids.length;
    });
    this.#sweeping = run;
    return run.finally(() => {
      this.#sweeping = null;
    });
  }
}

function normalized(target: SessionInvalidation): { sessionIds: string[]; userIds: string[] } {
  return {
    sessionIds: [...new Set(target.sessionIds ?? [])],
    userIds: [...new Set([...(target.userIds ?? []), ...(target.userId ? [target.userId] : [])])],
  };
}

function messagesOf(sessionIds: readonly string[], userIds: readonly string[]): InvalidationMessage[] {
  const messages: InvalidationMessage[] = userIds.map((u) => ({ u }));
  if (sessionIds.length > 0) messages.push({ s: [...sessionIds] });
  return messages;
}

function isWork(scope: SessionWriteScope): scope is Work {
  return 'afterCommit' in scope && 'trx' in scope;
}

function transactionOf(scope: SessionWriteScope): Transaction<Database> {
  return isWork(scope) ? scope.trx : scope;
}
