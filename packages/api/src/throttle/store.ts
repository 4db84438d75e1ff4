/**
 * Failure counters for sign-in throttling. A counter's window opens at its first failure and
 * lasts `windowMs`; the injected clock (not the store's own clock) decides what "now" is, so
 * tests move time with a ManualClock and both stores agree.
 */
import type { Redis } from 'ioredis';

export interface CounterState {
  count: number;
  /** When the window that holds these failures ends (ms since the epoch, by the injected clock). */
  resetAtMs: number;
}

export interface CounterStore {
  /** Records one failure and returns the counter after it. */
  hit(key: string, nowMs: number, windowMs: number): Promise<CounterState>;
  /** The current counter, or null when it is empty or its window has ended. */
  peek(key: string, nowMs: number, windowMs: number): Promise<CounterState | null>;
  /** Takes one back (never below zero) while the window lasts: an attempt that turned out fine. */
  undo(key: string, nowMs: number, windowMs: number): Promise<void>;
  reset(key: string): Promise<void>;
}

/** One process's counters (the default; enough for a single instance on SQLite). */
export class MemoryCounterStore implements CounterStore {
  readonly #windows = new Map<string, { startMs: number; count: number }>();
  readonly #maxKeys: number;

  constructor(options: { maxKeys?: number } = {}) {
    this.#maxKeys = options.maxKeys ?? 100_000;
  }

  async hit(key: string, nowMs: number, windowMs: number): Promise<CounterState> {
    let entry = this.#windows.get(key);
    if (!entry || nowMs - entry.startMs >= windowMs) {
      this.#makeRoom(nowMs, windowMs);
      entry = { startMs: nowMs, count: 0 };
    }
    entry.count += 1;
    // Re-insert so the map's order stays oldest-activity first.
    this.#windows.delete(key);
    this.#windows.set(key, entry);
    return { count: entry.count, resetAtMs: entry.startMs + windowMs };
  }

  async peek(key: string, nowMs: number, windowMs: number): Promise<CounterState | null> {
    const entry = this.#windows.get(key);
    if (!entry || nowMs - entry.startMs >= windowMs) return null;
    return { count: entry.count, resetAtMs: entry.startMs + windowMs };
  }

  async undo(key: string, nowMs: number, windowMs: number): Promise<void> {
    const entry = this.#windows.get(key);
    if (entry && nowMs - entry.startMs < windowMs && entry.count > 0) entry.count -= 1;
  }

  async reset(key: string): Promise<void> {
    this.#windows.delete(key);
  }

  get size(): number {
    return this.#windows.size;
  }

  /** Bounded memory: drop ended windows, then the least recently hit keys. */
  #makeRoom(nowMs: number, windowMs: number): void {
    if (this.#windows.size < this.#maxKeys) return;
    for (const [key, entry] of this.#windows) {
      if (nowMs - entry.startMs >= windowMs) this.#windows.delete(key);
    }
    for (const key of this.#windows.keys()) {
      if (this.#windows.size < this.#maxKeys) break;
      this.#windows.delete(key);
    }
  }
}

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

  async hit(key: string, nowMs: number, windowMs: number): Promise<CounterState> {
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
