/**
 * A bounded in-memory map for cached facts: the least recently used entry goes first when it is
 * full, and an entry older than `maxAgeMs` (by the caller's clock) is never returned. An epoch,
 * bumped by every removal, lets a reader that started before a removal refuse to fill the map
 * with what it read (it may be exactly what was just removed).
 */
interface Entry<V> {
  value: V;
  storedAtMs: number;
}

interface LruOptions {
  maxEntries: number;
  maxAgeMs: number;
}

export class Lru<K, V> {
  readonly #entries = new Map<K, Entry<V>>();
  readonly #maxEntries: number;
  readonly #maxAgeMs: number;
  #epoch = 0;

  constructor(options: LruOptions) {
    this.#maxEntries = Math.max(0, options.maxEntries);
    this.#maxAgeMs = options.maxAgeMs;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Read before loading what `set` will store; `set` ignores the value if a removal happened since. */
  get epoch(): number {
    return this.#epoch;
  }

  get(key: K, nowMs: number): V | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    this.#entries.delete(key);
    if (nowMs - entry.storedAtMs >= this.#maxAgeMs) return undefined;
    this.#entries.set(key, entry); // most recently used last
    return entry.value;
  }

  set(key: K, value: V, nowMs: number, epoch: number): void {
    if (this.#maxEntries === 0 || epoch !== this.#epoch) return;
    this.#entries.delete(key);
    this.#entries.set(key, { value, storedAtMs: nowMs });
    for (const oldest of this.#entries.keys()) {
      if (this.#entries.size <= this.#maxEntries) break;
      this.#entries.delete(oldest);
    }
  }

  delete(key: K): void {
    this.#epoch += 1;
    this.#entries.delete(key);
  }

  deleteWhere(matches: (value: V) => boolean): void {
    this.#epoch += 1;
    for (const [key, entry] of this.#entries) if (matches(entry.value)) this.#entries.delete(key);
  }

  clear(): void {
    this.#epoch += 1;
    this.#entries.clear();
  }
}
