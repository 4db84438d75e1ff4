/**
 * Signed-in users by id, for session validation (architecture §4): the session cache holds session
 * facts only, and the user a request acts as comes from here — read by primary key on a miss,
 * dropped by user id after every committed change to the account (`Invalidator`, on every
 * instance), and never older than `maxAgeMs` even if an invalidation is lost.
 */
import type { Db } from '@gatehouse/db';
import { Lru } from '../lru.js';
import { toUser } from './mapping.js';
import { findPublicById } from './repository.js';
import type { AuthUser } from '../sessions/types.js';

/** Reads one user by primary key; null when there is none. */
type UserLoader = (id: string) => Promise<AuthUser | null>;

/** The AuthUser columns only: the password hash and the MFA secret are never read here. */
export function userByIdLoader(db: Db): UserLoader {
  return async (id) => {
    const row = await findPublicById(db.kysely, id);
    return row ? toUser(row) : null;
  };
}

interface UserCacheOptions {
  load: UserLoader;
  /** Bound (entries). */
  maxEntries: number;
  /** An entry older than this is re-read: the bound on a lost invalidation. */
  maxAgeMs: number;
}

export class UserCache {
  readonly #load: UserLoader;
  readonly #lru: Lru<string, AuthUser>;

  constructor(options: UserCacheOptions) {
    this.#load = options.load;
    this.#lru = new Lru(options);
  }

  get size(): number {
    return this.#lru.size;
  }

  /**
   * The user, from the cache when `useCache` and fresh, else from the database (then cached
   * when active and nothing was dropped meanwhile). A copy: callers may change it freely.
   */
  async get(id: string, nowMs: number, useCache: boolean): Promise<AuthUser | null> {
    const cached = useCache ? this.#lru.get(id, nowMs) : undefined;
    if (cached) return { ...cached };
    const epoch = this.#lru.epoch;
    const user = await this.#load(id);
    if (user?.isActive && useCache) this.#lru.set(id, { ...user }, nowMs, epoch);
    return user;
  }

  drop(ids: Iterable<string>): void {
    for (const id of ids) this.#lru.delete(id);
  }

  clear(): void {
    this.#lru.clear();
  }
}
