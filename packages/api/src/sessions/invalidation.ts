/**
 * Cross-instance cache invalidation (design §4): each instance evicts its own cache at once and
 * tells the others through PostgreSQL LISTEN/NOTIFY, or Redis pub/sub when REDIS_URL is set.
 * While a bus is not connected its instance does not use its cache at all (it cannot know what
 * it missed), and on reconnect the cache starts empty.
 */
import type { Database, Transaction } from '@gatehouse/db';
import { loadPg, sql } from '@gatehouse/db';
import type { Redis } from 'ioredis';
import type pg from 'pg';

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

export const INVALIDATION_CHANNEL = 'gatehouse_session_invalidate';

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

/** A single process (SQLite): nothing to tell anyone; the cache is always usable. */
export class LocalBus implements InvalidationBus {
  readonly connected = true;
  async start(): Promise<void> {}
  async publish(): Promise<void> {}
  async publishInTransaction(): Promise<boolean> {
    return true;
  }
  async close(): Promise<void> {}
}

export interface PostgresBusOptions {
  connectionString: string;
  channel?: string;
  reconnectDelayMs?: number;
}

/** LISTEN on a dedicated connection; NOTIFY through the caller's transaction or the pool. */
export class PostgresBus implements InvalidationBus {
  readonly #options: Required<PostgresBusOptions>;
  readonly #notify: (message: string) => Promise<void>;
  #client: pg.Client | null = null;
  #connected = false;
  #backendPid: number | null = null;
  #closed = false;
  #timer: NodeJS.Timeout | null = null;
  #onMessage: (message: InvalidationMessage) => void = () => {};
  #onReset: () => void = () => {};

  constructor(options: PostgresBusOptions, notify: (channel: string, payload: string) => Promise<void>) {
    this.#options = { channel: INVALIDATION_CHANNEL, reconnectDelayMs: 1000, ...options };
    this.#notify = (payload) => notify(this.#options.channel, payload);
  }

  get connected(): boolean {
    return this.#connected;
  }

  /** The PostgreSQL backend serving the LISTEN connection (for monitoring and tests). */
  get backendPid(): number | null {
    return this.#connected ? this.#backendPid : null;
  }

  async start(onMessage: (message: InvalidationMessage) => void, onReset: () => void): Promise<void> {
    this.#onMessage = onMessage;
    this.#onReset = onReset;
    await this.#connect().catch(() => this.#scheduleReconnect());
  }

  async #connect(): Promise<void> {
    if (this.#closed) return;
    const client = new (loadPg().Client)({
      connectionString: this.#options.connectionString,
      application_name: 'gatehouse-session-bus',
    });
    const lost = () => {
      if (this.#client !== client) return;
      this.#client = null;
      this.#connected = false;
      this.#onReset();
      client.end().catch(() => {});
      this.#scheduleReconnect();
    };
    client.on('error', lost);
    client.on('end', lost);
    client.on('notification', (n) => {
      if (n.channel !== this.#options.channel || !n.payload) return;
      const message = parseMessage(n.payload);
      if (message) this.#onMessage(message);
    });
    this.#client = client;
    try {
      await client.connect();
      await client.query(`LISTEN ${loadPg().escapeIdentifier(this.#options.channel)}`);
      const pid = await client.query<{ pid: number }>('select pg_backend_pid() as pid');
      this.#backendPid = pid.rows[0]?.pid ?? null;
    } catch (error) {
      if (this.#client === client) this.#client = null;
      client.removeAllListeners('end');
      client.end().catch(() => {});
      throw error;
    }
    if (this.#closed) {
      await client.end().catch(() => {});
      return;
    }
    // Anything published while we were away is unknown: start from an empty cache.
    this.#onReset();
    this.#connected = true;
  }

  #scheduleReconnect(): void {
    if (this.#closed || this.#timer) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#connect().catch(() => this.#scheduleReconnect());
    }, this.#options.reconnectDelayMs);
    this.#timer.unref();
  }

  async publish(message: InvalidationMessage): Promise<void> {
    for (const part of splitMessage(message)) await this.#notify(JSON.stringify(part));
  }

  async publishInTransaction(trx: Transaction<Database>, message: InvalidationMessage): Promise<boolean> {
    for (const part of splitMessage(message)) {
      await sql`select pg_notify(${this.#options.channel}, ${JSON.stringify(part)})`.execute(trx);
    }
    return true;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#connected = false;
    if (this.#timer) clearTimeout(this.#timer);
    const client = this.#client;
    this.#client = null;
    if (client) await client.end().catch(() => {});
  }
}

/** Redis pub/sub: a duplicate connection subscribes; the shared one publishes. */
export class RedisBus implements InvalidationBus {
  readonly #redis: Redis;
  readonly #channel: string;
  #subscriber: Redis | null = null;
  #connected = false;

  constructor(redis: Redis, options: { channel?: string } = {}) {
    this.#redis = redis;
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
    subscriber.on('error', () => {});
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
