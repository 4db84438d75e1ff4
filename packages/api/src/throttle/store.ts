/**
 * Failure counters for sign-in throttling. A counter's window opens at its first failure and
 * lasts `windowMs`; the injected clock (not the store's own clock) decides what "now" is, so
 * tests move time with a ManualClock and every store agrees. Three stores, one contract
 * (store.test.ts runs the same spec on each): memory (one process), Redis (REDIS_URL), and
 * PostgreSQL (a PostgreSQL database without REDIS_URL).
 */
import { sql, type Database, type Kysely } from '@gatehouse/db';
import type { Redis } from 'ioredis';

export interface CounterState {
  count: number;
  /** When the window that holds these failures ends (ms since the epoch, by the injected clock). */
  resetAtMs: number;
}

export interface CounterStore {
  /**
   * Records one attempt and returns the counter after it. `limit` is the count at which the
   * caller refuses further attempts: the memory store never drops a counter that has reached it.
   */
  hit(key: string, nowMs: number, windowMs: number, limit: number): Promise<CounterState>;
  /** The current counter, or null when it is empty or its window has ended. Creates nothing. */
  peek(key: string, nowMs: number, windowMs: number): Promise<CounterState | null>;
  /** Takes one back (never below zero) while the window lasts: an attempt that turned out fine. */
  undo(key: string, nowMs: number, windowMs: number): Promise<void>;
  reset(key: string): Promise<void>;
}

interface MemoryWindow {
  startMs: number;
  windowMs: number;
  count: number;
  limit: number;
}

/**
 * One process's counters (the default on SQLite; enough for a single instance). Bounded to
 * about `maxKeys` counters: when full it drops ended windows first, then the counters with the
 * fewest attempts (oldest activity first among equals), and never a counter that has reached
 * its limit. So a flood of new keys cannot unlock anyone; and since refused attempts create no
 * keys (see throttle.ts), every key a flood adds cost the server one full password check.
 */
export class MemoryCounterStore implements CounterStore {
  readonly #windows = new Map<string, MemoryWindow>();
  readonly #maxKeys: number;
  /** The size at which the next new key makes room (maxKeys, or more while locked keys fill it). */
  #scanAt: number;

  constructor(options: { maxKeys?: number } = {}) {
    this.#maxKeys = options.maxKeys ?? 100_000;
    this.#scanAt = this.#maxKeys;
  }

  async hit(key: string, nowMs: number, windowMs: number, limit: number): Promise<CounterState> {
    let entry = this.#windows.get(key);
    if (!entry || ended(entry, nowMs)) {
      if (!entry) this.#makeRoom(nowMs);
      entry = { startMs: nowMs, windowMs, count: 0, limit };
    }
    entry.count += 1;
    entry.limit = limit;
    // Re-insert so the map's order stays oldest-activity first.
    this.#windows.delete(key);
    this.#windows.set(key, entry);
    return { count: entry.count, resetAtMs: entry.startMs + windowMs };
  }

  async peek(key: string, nowMs: number, windowMs: number): Promise<CounterState | null> {
    const entry = this.#windows.get(key);
    if (!entry || nowMs - entry.startMs >= windowMs || nowMs < entry.startMs) return null;
    return { count: entry.count, resetAtMs: entry.startMs + windowMs };
  }

  async undo(key: string, nowMs: number, windowMs: number): Promise<void> {
    const entry = this.#windows.get(key);
    if (entry && nowMs >= entry.startMs && nowMs - entry.startMs < windowMs && entry.count > 0) entry.count -= 1;
  }

  async reset(key: string): Promise<void> {
    this.#windows.delete(key);
  }

  get size(): number {
    return this.#windows.size;
  }

  /** Makes room for one new key: see the class comment for what goes first. */
  #makeRoom(nowMs: number): void {
    if (this.#windows.size < this.#scanAt) return;
    for (const [key, entry] of this.#windows) if (ended(entry, nowMs)) this.#windows.delete(key);
    // Drop a tenth at once, so a full store sorts once per maxKeys / 10 new keys, not per key.
    const target = Math.floor(this.#maxKeys * 0.9);
    if (this.#windows.size >= this.#maxKeys) {
      const droppable = [...this.#windows].filter(([, entry]) => entry.count < entry.limit);
      droppable.sort(([, a], [, b]) => a.count - b.count); // stable: oldest activity first among equals
      for (const [key] of droppable) {
        if (this.#windows.size <= target) break;
        this.#windows.delete(key);
      }
    }
    // Held up by counters at their limit: look again only after another tenth has arrived.
    this.#scanAt = Math.max(this.#maxKeys, this.#windows.size + this.#maxKeys - target);
  }
}

const ended = (entry: MemoryWindow, nowMs: number) => nowMs - entry.startMs >= entry.windowMs || nowMs < entry.startMs;

// Atomic "open or extend the window, then count": KEYS[1], ARGV = now, window.
const HIT_SCRIPT = `
local start = redis.call('HGET', KEYS[1], 's')
local now = tonumber(ARGV[1])
local win = tonumber(ARGV[2])
if (not start) or (now - tonumber(start) >= win) or (now < tonumber(start)) then
  redis.call('HSET', KEYS[1], 's', ARGV[1], 'c', 1)
  redis.call('PEXPIRE', KEYS[1], win)
  return {ARGV[1], 1}
end
local c = redis.call('HINCRBY', KEYS[1], 'c', 1)
return {start, c}
`;

const UNDO_SCRIPT = `
local start = redis.call('HGET', KEYS[1], 's')
if start and tonumber(ARGV[1]) >= tonumber(start) and tonumber(ARGV[1]) - tonumber(start) < tonumber(ARGV[2]) then
  local c = tonumber(redis.call('HGET', KEYS[1], 'c') or '0')
  if c > 0 then redis.call('HINCRBY', KEYS[1], 'c', -1) end
end
return 1
`;

/**
 * Counters shared by every instance through Redis (when REDIS_URL is set). Each key is a hash
 * `{s: window start, c: count}`; Redis' own expiry only collects ended windows.
 */
export class RedisCounterStore implements CounterStore {
  readonly #redis: Redis;
  readonly #prefix: string;

  constructor(redis: Redis, options: { keyPrefix?: string } = {}) {
    this.#redis = redis;
    this.#prefix = options.keyPrefix ?? 'gatehouse:throttle:';
  }

  async hit(key: string, nowMs: number, windowMs: number, _limit?: number): Promise<CounterState> {
    const [start, count] = (await this.#redis.eval(
      HIT_SCRIPT,
      1,
      this.#prefix + key,
      String(nowMs),
      String(windowMs),
    )) as [string, number];
    return { count: Number(count), resetAtMs: Number(start) + windowMs };
  }

  async peek(key: string, nowMs: number, windowMs: number): Promise<CounterState | null> {
    const [start, count] = await this.#redis.hmget(this.#prefix + key, 's', 'c');
    if (start == null || count == null) return null;
    const startMs = Number(start);
    if (nowMs - startMs >= windowMs || nowMs < startMs) return null;
    return { count: Number(count), resetAtMs: startMs + windowMs };
  }

  async undo(key: string, nowMs: number, windowMs: number): Promise<void> {
    await this.#redis.eval(UNDO_SCRIPT, 1, this.#prefix + key, String(nowMs), String(windowMs));
  }

  async reset(key: string): Promise<void> {
    await this.#redis.del(this.#prefix + key);
  }
}

/**
 * Counters shared by every instance through the PostgreSQL database itself, when there is no
 * Redis: one row per counter, counted by a single `INSERT … ON CONFLICT DO UPDATE` (atomic per
 * row, so concurrent attempts on any instance are counted exactly) that also opens a new window
 * when the old one has ended. Ended rows are deleted at most once per `sweepIntervalMs`, by the
 * next attempt that comes along (one indexed DELETE; no timer to stop).
 */
export class PostgresCounterStore implements CounterStore {
  readonly #db: Kysely<Database>;
  readonly #prefix: string;
  readonly #sweepIntervalMs: number;
  #lastSweepMs = Number.NEGATIVE_INFINITY;

  constructor(db: Kysely<Database>, options: { keyPrefix?: string; sweepIntervalMs?: number } = {}) {
    this.#db = db;
    this.#prefix = options.keyPrefix ?? '';
    this.#sweepIntervalMs = options.sweepIntervalMs ?? 60_000;
  }

  async hit(key: string, nowMs: number, windowMs: number, _limit?: number): Promise<CounterState> {
    await this.#sweepNow(nowMs);
    const now = sql`${nowMs}::bigint`;
    const win = sql`${windowMs}::bigint`;
    const ended = sql`(${now} - t.start_ms >= ${win} or ${now} < t.start_ms)`;
    const { rows } = await sql<{ start_ms: string | number; count: number }>`
      insert into throttle_counters as t (key, start_ms, expires_ms, count)
      values (${this.#prefix + key}, ${now}, ${now} + ${win}, 1)
      on conflict (key) do update set
        start_ms = case when ${ended} then excluded.start_ms else t.start_ms end,
        expires_ms = case when ${ended} then excluded.expires_ms else t.expires_ms end,
        count = case when ${ended} then 1 else t.count + 1 end
      returning start_ms, count`.execute(this.#db);
    const row = rows[0];
    if (!row) throw new Error('throttle_counters upsert returned no row');
    return { count: Number(row.count), resetAtMs: Number(row.start_ms) + windowMs };
  }

  async peek(key: string, nowMs: number, windowMs: number): Promise<CounterState | null> {
    const row = await this.#db
      .selectFrom('throttle_counters')
      .select(['start_ms', 'count'])
      .where('key', '=', this.#prefix + key)
      .executeTakeFirst();
    if (!row) return null;
    const startMs = Number(row.start_ms);
    if (nowMs - startMs >= windowMs || nowMs < startMs) return null;
    return { count: Number(row.count), resetAtMs: startMs + windowMs };
  }

  async undo(key: string, nowMs: number, windowMs: number): Promise<void> {
    await this.#db
      .updateTable('throttle_counters')
      .set((eb) => ({ count: eb('count', '-', 1) }))
      .where('key', '=', this.#prefix + key)
      .where('count', '>', 0)
      .where('start_ms', '<=', nowMs)
      .where('start_ms', '>', nowMs - windowMs)
      .execute();
  }

  async reset(key: string): Promise<void> {
    await this.#db
      .deleteFrom('throttle_counters')
      .where('key', '=', this.#prefix + key)
      .execute();
  }

  /** Deletes every counter whose window has ended by `nowMs` (any prefix: they are all dead). */
  async sweep(nowMs: number): Promise<number> {
    this.#lastSweepMs = nowMs;
    const result = await this.#db.deleteFrom('throttle_counters').where('expires_ms', '<=', nowMs).executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  async #sweepNow(nowMs: number): Promise<void> {
    if (nowMs - this.#lastSweepMs >= this.#sweepIntervalMs || nowMs < this.#lastSweepMs) await this.sweep(nowMs);
  }
}
