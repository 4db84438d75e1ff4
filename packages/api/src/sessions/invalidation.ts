/**
 * Cross-instance cache invalidation (architecture §4): each instance evicts its own cache at once and
 * tells the others through PostgreSQL LISTEN/NOTIFY, or Redis pub/sub when REDIS_URL is set.
 * While a bus is not connected its instance does not use its cache at all (it cannot know what
 * it missed), and on reconnect the cache starts empty.
 */
import {
  listen,
  notify,
  type Database,
  type Db,
  type Listener,
  type ReconnectOptions,
  type Transaction,
} from '@gatehouse/db';
import type { Redis } from 'ioredis';
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
