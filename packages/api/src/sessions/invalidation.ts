/**
 * Cross-instance cache invalidation (architecture §4): each instance evicts its own cache at once and
 * tells the others through PostgreSQL LISTEN/NOTIFY, Redis pub/sub when REDIS_URL is set, or, on
 * a SQLite file, an invalidation table the other processes (the CLI beside a server) poll.
 * While a bus is not connected its instance does not use its cache at all (it cannot know what
 * it missed), and on reconnect the cache starts empty.
 */
import { randomUUID } from 'node:crypto';
import {
  listen,
  notify,
  sql,
  type Database,
  type Db,
  type Kysely,
  type Listener,
  type ReconnectOptions,
  type Transaction,
} from '@gatehouse/db';
import type { Redis } from 'ioredis';
import { systemClock, type Clock } from '../clock.js';
import type { Logger } from '../logger.js';
import { reportRedisOutages } from '../redis.js';

export interface InvalidationMessage {
  /** Session ids to drop. */
  s?: string[];
  /** A user whose every cached session is dropped. */
  u?: string;
}

export interface InvalidationBus {
  /** True while this instance is sure to hear every other instance's invalidations. */
  readonly connected: boolean;
  start(onMessage: (message: InvalidationMessage) => void, onReset: () => void): Promise<void>;
  publish(message: InvalidationMessage): Promise<void>;
  /**
   * Publishes as part of `trx` where the transport allows it (PostgreSQL NOTIFY is delivered on
   * commit and dropped on rollback); false when the caller must publish after commit instead.
   */
  publishInTransaction(trx: Transaction<Database>, message: InvalidationMessage): Promise<boolean>;
  close(): Promise<void>;
}

const INVALIDATION_CHANNEL = 'gatehouse_session_invalidate';

/** NOTIFY payloads stay far below PostgreSQL's 8000-byte limit. */
const IDS_PER_MESSAGE = 100;

export function splitMessage(message: InvalidationMessage): InvalidationMessage[] {
  const out: InvalidationMessage[] = [];
  if (message.u) out.push({ u: message.u });
  const ids = message.s ?? [];
  for (let i = 0; i < ids.length; i += IDS_PER_MESSAGE) out.push({ s: ids.slice(i, i + IDS_PER_MESSAGE) });
  return out;
}

export function parseMessage(payload: string): InvalidationMessage | null {
  try {
    const value: unknown = JSON.parse(payload);
    if (typeof value !== 'object' || value === null) return null;
    const { s, u } = value as Record<string, unknown>;
    const message: InvalidationMessage = {};
    if (Array.isArray(s)) message.s = s.filter((x): x is string => typeof x === 'string');
    if (typeof u === 'string') message.u = u;
    return message;
  } catch {
    return null;
  }
}

/** A single process (SQLite `:memory:`, tests): nothing to tell anyone; the cache is always usable. */
export class LocalBus implements InvalidationBus {
  readonly connected = true;
  async start(): Promise<void> {}
  async publish(): Promise<void> {}
  async publishInTransaction(): Promise<boolean> {
    return true;
  }
  async close(): Promise<void> {}
}

export interface SqliteBusOptions {
  /** Where a failing poll is logged (once when it starts failing, once when it works again). */
  logger: Logger;
  /** Timestamps the rows and decides what is old enough to prune (default: the system clock). */
  clock?: Clock;
  /** How often `PRAGMA data_version` is read (default 1 s). */
  pollIntervalMs?: number;
  /** Rows older than this are deleted (default 10 min, twice the caches' max age: see below). */
  retainMs?: number;
  /** How often this process prunes (default 1 min). */
  pruneIntervalMs?: number;
}

/** Rows per INSERT: far below SQLite's limit on bound parameters. */
const ROWS_PER_INSERT = 100;

/**
 * Every process on one SQLite file (a server, the CLI beside it) writes its invalidations to the
 * `invalidations` table, in the transaction of the change where it can (`publishInTransaction`),
 * and polls `PRAGMA data_version` each second: that number changes only when ANOTHER connection
 * committed, so an idle poll costs one pragma on the process's own connection. When it changed,
 * the rows after the last one seen are read (the process's own rows, by `origin`, are skipped: it
 * dropped those entries itself at commit) and their cache entries dropped. Ids grow in commit
 * order: SQLite has one writer at a time.
 *
 * Rows older than `retainMs` (default twice the caches' max age) are pruned, which loses nothing:
 * every live process read them long before, and an entry a stalled process still holds from
 * before such a row was written is older than the max age, so it is re-read, not served.
 */
export class SqliteBus implements InvalidationBus {
  readonly #db: Db;
  readonly #logger: Logger;
  readonly #clock: Clock;
  readonly #pollIntervalMs: number;
  readonly #retainMs: number;
  readonly #pruneIntervalMs: number;
  /** This process's rows carry it (a fresh one per bus). */
  readonly #origin = randomUUID();
  #onMessage: (message: InvalidationMessage) => void = () => {};
  #onReset: () => void = () => {};
  /** The last `data_version` read, and the id of the last row seen; null until a poll succeeds. */
  #seen: { dataVersion: number; lastId: number } | null = null;
  #lastPruneMs: number | null = null;
  #failing = false;
  #timer: NodeJS.Timeout | null = null;
  #polling: Promise<void> | null = null;
  #closed = false;

  constructor(db: Db, options: SqliteBusOptions) {
    this.#db = db;
    this.#logger = options.logger;
    this.#clock = options.clock ?? systemClock;
    this.#pollIntervalMs = options.pollIntervalMs ?? 1000;
    this.#retainMs = options.retainMs ?? 10 * 60_000;
    this.#pruneIntervalMs = options.pruneIntervalMs ?? 60_000;
  }

  get connected(): boolean {
    return this.#seen !== null && !this.#closed;
  }

  async start(onMessage: (message: InvalidationMessage) => void, onReset: () => void): Promise<void> {
    this.#onMessage = onMessage;
    this.#onReset = onReset;
    await this.poll();
    if (this.#closed) return;
    this.#timer = setInterval(() => void this.poll(), this.#pollIntervalMs);
    this.#timer.unref();
  }

  /**
   * One poll (the timer's; tests call it to decide when): reads what other processes committed
   * since the last one, and prunes when due. Never throws: a failure is logged and, until a poll
   * succeeds again, the bus is not connected (so the cache is not used).
   */
  poll(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#polling ??= this.#pollOnce().finally(() => {
      this.#polling = null;
    });
    return this.#polling;
  }

  async #pollOnce(): Promise<void> {
    try {
      await this.#readNews();
      await this.#pruneIfDue();
      if (this.#failing) {
        this.#failing = false;
        this.#logger.info({ component: 'sqlite-invalidation' }, 'SQLite invalidation poll works again');
      }
    } catch (error) {
      if (this.#seen !== null) {
        this.#seen = null;
        this.#onReset();
      }
      if (!this.#failing) {
        this.#failing = true;
        this.#logger.error(
          { component: 'sqlite-invalidation', err: error },
          'SQLite invalidation poll failed; the session cache is off until it works again',
        );
      }
    }
  }

  async #readNews(): Promise<void> {
    // data_version before the rows: a commit landing between the two is read now or next time.
    const dataVersion = await readDataVersion(this.#db);
    const seen = this.#seen;
    if (seen === null) {
      // A first look (start, or after a failure): what came before is unknown, the cache empty.
      this.#seen = { dataVersion, lastId: await lastInvalidationId(this.#db) };
      this.#onReset();
      return;
    }
    if (dataVersion === seen.dataVersion) return;
    const rows = await this.#db.kysely
      .selectFrom('invalidations')
      .select(['id', 'origin', 'kind', 'target_id'])
      .where('id', '>', seen.lastId)
      .orderBy('id')
      .execute();
    this.#seen = { dataVersion, lastId: rows.at(-1)?.id ?? seen.lastId };
    const sessionIds: string[] = [];
    for (const row of rows) {
      if (row.origin === this.#origin) continue;
      if (row.kind === 'user') this.#onMessage({ u: row.target_id });
      else sessionIds.push(row.target_id);
    }
    if (sessionIds.length > 0) this.#onMessage({ s: sessionIds });
  }

  async #pruneIfDue(): Promise<void> {
    const nowMs = this.#clock.now().getTime();
    if (this.#lastPruneMs !== null && nowMs - this.#lastPruneMs < this.#pruneIntervalMs) return;
    this.#lastPruneMs = nowMs;
    await this.#db.kysely
      .deleteFrom('invalidations')
      .where('at', '<', new Date(nowMs - this.#retainMs))
      .execute();
  }

  async publish(message: InvalidationMessage): Promise<void> {
    await this.#insert(this.#db.kysely, message);
  }

  async publishInTransaction(trx: Transaction<Database>, message: InvalidationMessage): Promise<boolean> {
    await this.#insert(trx, message);
    return true;
  }

  async #insert(db: Kysely<Database>, message: InvalidationMessage): Promise<void> {
    const at = this.#clock.now();
    const rows = [
      ...(message.u ? [{ kind: 'user' as const, target_id: message.u }] : []),
      ...(message.s ?? []).map((id) => ({ kind: 'session' as const, target_id: id })),
    ].map((row) => ({ ...row, at, origin: this.#origin }));
    for (let i = 0; i < rows.length; i += ROWS_PER_INSERT) {
      await db
        .insertInto('invalidations')
        .values(rows.slice(i, i + ROWS_PER_INSERT))
        .execute();
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    await this.#polling;
  }
}

/** Changes only when another connection committed to the file (https://sqlite.org/pragma.html#pragma_data_version). */
async function readDataVersion(db: Db): Promise<number> {
  const { rows } = await sql<{ data_version: number }>`pragma data_version`.execute(db.kysely);
  const version = rows[0]?.data_version;
  if (typeof version !== 'number') throw new Error('PRAGMA data_version returned no number');
  return version;
}

async function lastInvalidationId(db: Db): Promise<number> {
  const row = await db.kysely
    .selectFrom('invalidations')
    .select((eb) => eb.fn.max('id').as('id'))
    .executeTakeFirst();
  return row?.id ?? 0;
}

export interface PostgresBusOptions {
  /** Where the LISTEN connection's outage and recovery are logged (once each). */
  logger: Logger;
  channel?: string;
  /** Reconnect backoff of the LISTEN connection (default: 100 ms doubling up to 30 s). */
  reconnect?: ReconnectOptions;
}

/** LISTEN on a dedicated connection (`listen`); NOTIFY through the caller's transaction or the pool. */
export class PostgresBus implements InvalidationBus {
  readonly #db: Db;
  readonly #options: PostgresBusOptions;
  readonly #channel: string;
  #listener: Listener | null = null;
  #closed = false;

  constructor(db: Db, options: PostgresBusOptions) {
    this.#db = db;
    this.#options = options;
    this.#channel = options.channel ?? INVALIDATION_CHANNEL;
  }

  get connected(): boolean {
    return this.#listener?.listening ?? false;
  }

  /** The PostgreSQL backend serving the LISTEN connection (for monitoring and tests). */
  get backendPid(): number | null {
    return this.#listener?.backendPid ?? null;
  }

  async start(onMessage: (message: InvalidationMessage) => void, onReset: () => void): Promise<void> {
    const listener = await listen(this.#db, this.#channel, {
      logger: this.#options.logger,
      applicationName: 'gatehouse-session-bus',
      ...(this.#options.reconnect ? { reconnect: this.#options.reconnect } : {}),
      onMessage: (payload) => {
        const message = parseMessage(payload);
        if (message) onMessage(message);
      },
      // Anything published while we were away is unknown: start from an empty cache, both when
      // the connection goes and when it is back.
      onListening: onReset,
      onLost: onReset,
    });
    if (this.#closed) await listener.close();
    else this.#listener = listener;
  }

  async publish(message: InvalidationMessage): Promise<void> {
    for (const part of splitMessage(message)) await notify(this.#db, this.#channel, JSON.stringify(part));
  }

  async publishInTransaction(trx: Transaction<Database>, message: InvalidationMessage): Promise<boolean> {
    for (const part of splitMessage(message)) await notify(this.#db, this.#channel, JSON.stringify(part), trx);
    return true;
  }

  async close(): Promise<void> {
    this.#closed = true;
    const listener = this.#listener;
    this.#listener = null;
    await listener?.close();
  }
}

/**
 * Redis pub/sub: a duplicate connection subscribes (with the shared one's reconnect backoff, see
 * openRedis), the shared one publishes. The subscriber's outage and recovery are logged once each.
 */
export class RedisBus implements InvalidationBus {
  readonly #redis: Redis;
  readonly #channel: string;
  readonly #logger: Logger;
  #subscriber: Redis | null = null;
  #connected = false;

  constructor(redis: Redis, options: { logger: Logger; channel?: string }) {
    this.#redis = redis;
    this.#logger = options.logger;
    this.#channel = options.channel ?? 'gatehouse:session-invalidate';
  }

  get connected(): boolean {
    return this.#connected;
  }

  async start(onMessage: (message: InvalidationMessage) => void, onReset: () => void): Promise<void> {
    const subscriber = this.#redis.duplicate();
    this.#subscriber = subscriber;
    subscriber.on('message', (channel: string, payload: string) => {
      if (channel !== this.#channel) return;
      const message = parseMessage(payload);
      if (message) onMessage(message);
    });
    const down = () => {
      if (this.#connected) onReset();
      this.#connected = false;
    };
    subscriber.on('close', down);
    reportRedisOutages(subscriber, this.#logger, 'Redis subscriber (session invalidation)');
    // ioredis re-subscribes by itself after a reconnect; the cache restarts empty then.
    subscriber.on('ready', () => {
      if (this.#subscriber !== subscriber) return;
      void subscriber
        .subscribe(this.#channel)
        .then(() => {
          onReset();
          this.#connected = true;
        })
        .catch(() => {});
    });
    try {
      await subscriber.subscribe(this.#channel);
      onReset();
      this.#connected = true;
    } catch {
      // Not connected yet: the 'ready' handler subscribes once Redis answers.
    }
  }

  async publish(message: InvalidationMessage): Promise<void> {
    for (const part of splitMessage(message)) await this.#redis.publish(this.#channel, JSON.stringify(part));
  }

  async publishInTransaction(): Promise<boolean> {
    return false;
  }

  async close(): Promise<void> {
    this.#connected = false;
    const subscriber = this.#subscriber;
    this.#subscriber = null;
    if (subscriber) {
      subscriber.removeAllListeners();
      subscriber.on('error', () => {});
      await subscriber.quit().catch(() => subscriber.disconnect());
    }
  }
}
