/**
 * The cache of session facts (architecture §4): what the `sessions` row says, keyed by session id.
 * It never holds the user — who the user is, their role and whether they are active are read by
 * primary key or from the user cache (users/cache.ts), which is invalidated by user id. So a
 * demotion or a deactivation cannot hide in a session entry.
 */
import type { SessionRow } from '@gatehouse/db';
import { Lru } from '../lru.js';
import type { SessionInfo } from './types.js';

interface SessionFacts extends SessionInfo {
  /** SHA-256 of the secret, compared in constant time on every validation. */
  readonly secretHash: Uint8Array;
}

export function factsOf(row: SessionRow): SessionFacts {
  return {
    id: row.id,
    userId: row.user_id,
    secretHash: new Uint8Array(row.secret_hash),
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    lastSeenAt: row.last_seen_at,
    rememberMe: row.remember_me,
    ip: row.ip,
    userAgent: row.user_agent,
    authenticatedAt: row.authenticated_at,
  };
}

/** The facts as a request sees them (a copy, without the secret hash). */
export function infoOf(facts: SessionFacts): SessionInfo {
  return {
    id: facts.id,
    userId: facts.userId,
    createdAt: facts.createdAt,
    expiresAt: facts.expiresAt,
    lastSeenAt: facts.lastSeenAt,
    rememberMe: facts.rememberMe,
    ip: facts.ip,
    userAgent: facts.userAgent,
    authenticatedAt: facts.authenticatedAt,
  };
}

interface SessionCacheOptions {
  /** Bound (entries). */
  maxEntries: number;
  /** An entry older than this is re-read: the bound on a lost invalidation (and another instance's slide). */
  maxAgeMs: number;
}

export class SessionCache {
  readonly #lru: Lru<string, SessionFacts>;

  constructor(options: SessionCacheOptions) {
    this.#lru = new Lru(options);
  }

  get size(): number {
    return this.#lru.size;
  }

  /** Read before a database read whose result `fill` may store. */
  get epoch(): number {
    return this.#lru.epoch;
  }

  get(id: string, nowMs: number): SessionFacts | undefined {
    return this.#lru.get(id, nowMs);
  }

  /** Stores facts read since `epoch`, unless something was dropped meanwhile. */
  fill(facts: SessionFacts, nowMs: number, epoch: number): void {
    this.#lru.set(facts.id, facts, nowMs, epoch);
  }

  drop(ids: Iterable<string>): void {
    for (const id of ids) this.#lru.delete(id);
  }

  dropUser(userId: string): void {
    this.#lru.deleteWhere((facts) => facts.userId === userId);
  }

  clear(): void {
    this.#lru.clear();
  }
}
