/**
 * API key validation on the request path (issue 16), built like session validation
 * (sessions/manager.ts): the key's facts are cached by id, its owner comes from a user cache
 * read by primary key, and both are dropped on every instance by the same invalidation bus as
 * sessions — a key's id rides in the bus's session ids (key ids are 16 characters, session ids
 * 32, so they never collide), a user's id drops that user's keys.
 *
 * On a cache hit a validation costs one SHA-256, a constant-time compare and a look-up in the
 * user cache, as a session's does. The database is touched to record `last_used_at` at most once
 * per `lastUsedIntervalMs` (default 1 min) per key; that write also notices a key deleted behind
 * the cache's back.
 */
import type { ApiKeyRow, Db } from '@gatehouse/db';
import type { Clock } from '../clock.js';
import { Lru } from '../lru.js';
import { UserCache, userByIdLoader } from '../users/cache.js';
import { decodeScopes } from './scopes.js';
import * as store from './store.js';
import { apiKeySecretMatches, keyPrefix, parseApiKey } from './token.js';
import type { ApiKeyInfo, ApiKeyValidator, ValidatedApiKey } from './types.js';

interface KeyFacts extends ApiKeyInfo {
  readonly secretHash: Uint8Array;
}

export function infoOfRow(row: ApiKeyRow): ApiKeyInfo {
  return {
    id: row.id,
    prefix: keyPrefix(row.id),
    userId: row.user_id,
    name: row.name,
    scopes: decodeScopes(row.scopes),
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    lastUsedAt: row.last_used_at,
    rotatedFrom: row.rotated_from,
  };
}

function factsOf(row: ApiKeyRow): KeyFacts {
  return { ...infoOfRow(row), secretHash: new Uint8Array(row.secret_hash) };
}

function infoOf(facts: KeyFacts): ApiKeyInfo {
  const { secretHash: _hash, ...info } = facts;
  return { ...info, scopes: [...info.scopes] };
}

/** The session manager's hook for caches that share its invalidations (sessions/manager.ts). */
export interface CacheEvents {
  addCacheListener(listener: { drop(ids: readonly string[], userIds: readonly string[]): void; clear(): void }): void;
  /** False while the invalidation bus is down (then nothing may be served from a cache). */
  readonly cacheUsable: boolean;
}

interface ApiKeyManagerOptions {
  db: Db;
  clock: Clock;
  events: CacheEvents;
  cacheSize?: number;
  cacheMaxAgeMs?: number;
  lastUsedIntervalMs?: number;
}

export class ApiKeyManager implements ApiKeyValidator {
  readonly #db: Db;
  readonly #clock: Clock;
  readonly #events: CacheEvents;
  readonly #keys: Lru<string, KeyFacts>;
  readonly #users: UserCache;
  readonly #lastUsedIntervalMs: number;

  constructor(options: ApiKeyManagerOptions) {
    this.#db = options.db;
    this.#clock = options.clock;
    this.#events = options.events;
    const bounds = { maxEntries: options.cacheSize ?? 10_000, maxAgeMs: options.cacheMaxAgeMs ?? 5 * 60_000 };
    this.#keys = new Lru(bounds);
    this.#users = new UserCache({ ...bounds, load: userByIdLoader(options.db) });
    this.#lastUsedIntervalMs = options.lastUsedIntervalMs ?? 60_000;
    options.events.addCacheListener({
      drop: (ids, userIds) => {
        for (const id of ids) this.#keys.delete(id);
        if (userIds.length > 0) {
          const owners = new Set(userIds);
          this.#keys.deleteWhere((facts) => owners.has(facts.userId));
          this.#users.drop(userIds);
        }
      },
      clear: () => {
        this.#keys.clear();
        this.#users.clear();
      },
    });
  }

  get cachedCount(): number {
    return this.#keys.size;
  }

  async validate(key: string): Promise<ValidatedApiKey | null> {
    const parsed = parseApiKey(key);
    if (!parsed) return null;
    const now = this.#clock.now();
    const nowMs = now.getTime();
    const useCache = this.#events.cacheUsable;

    let facts = useCache ? this.#keys.get(parsed.id, nowMs) : undefined;
    if (!facts) {
      const epoch = this.#keys.epoch;
      const row = await store.selectKey(this.#db.kysely, parsed.id);
      if (!row) return null;
      facts = factsOf(row);
      if (useCache) this.#keys.set(facts.id, facts, nowMs, epoch);
    }
    if (!apiKeySecretMatches(parsed.secret, facts.secretHash)) return null;
    if (facts.expiresAt !== null && facts.expiresAt.getTime() <= nowMs) return null;
    const user = await this.#users.get(facts.userId, nowMs, useCache);
    if (!user?.isActive) return null;
    if (facts.lastUsedAt === null || nowMs - facts.lastUsedAt.getTime() >= this.#lastUsedIntervalMs) {
      if (!(await store.touchKey(this.#db.kysely, facts.id, now))) {
        this.#keys.delete(facts.id);
        return null;
      }
      facts.lastUsedAt = now;
    }
    return { key: infoOf(facts), user };
  }
}
