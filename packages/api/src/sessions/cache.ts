/** A bounded LRU of validated sessions, keyed by session id (design §4). */
import type { AuthUser, SessionInfo } from './types.js';

export interface CachedSession {
  session: SessionInfo;
  user: AuthUser;
  /** SHA-256 of the secret, compared in constant time on every hit. */
  secretHash: Uint8Array;
  /** When this entry was filled (injected clock, ms): entries older than maxAge are re-read. */
  cachedAtMs: number;
}

export class SessionCache {
  readonly #entries = new Map<string, CachedSession>();
  readonly #max: number;

  constructor(maxEntries: number) {
    this.#max = Math.max(0, maxEntries);
  }

  get size(): number {
    return this.#entries.size;
  }

  get(id: string): CachedSession | undefined {
    const entry = this.#entries.get(id);
    if (entry) {
      // Most recently used last.
      this.#entries.delete(id);
      this.#entries.set(id, entry);
    }
    return entry;
  }

  set(id: string, entry: CachedSession): void {
    if (this.#max === 0) return;
    this.#entries.delete(id);
    this.#entries.set(id, entry);
    while (this.#entries.size > this.#max) {
      const oldest = this.#entries.keys().next().value;
      if (oldest === undefined) break;
      this.#entries.delete(oldest);
    }
  }

  delete(id: string): void {
    this.#entries.delete(id);
  }

  deleteUser(userId: string): void {
    for (const [id, entry] of this.#entries) if (entry.session.userId === userId) this.#entries.delete(id);
  }

  clear(): void {
    this.#entries.clear();
  }
}
