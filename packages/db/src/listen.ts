/**
 * PostgreSQL LISTEN/NOTIFY, for what several instances must tell each other (session cache
 * invalidation). A listener holds a dedicated connection outside the pool; when it is lost it
 * reconnects with exponential backoff and LISTENs again, and the outage and the recovery are
 * logged once each. SQLite has no such thing: a SQLite database has a single server process.
 */
import type pg from 'pg';
import type { Database } from './schema.js';
import { loadPg, parseDatabaseUrl, type Db } from './database.js';
import { exponentialBackoff, OutageLog, type Logger, type ReconnectOptions } from './logger.js';
import { sql, type Transaction } from 'kysely';

export interface ListenOptions {
  /** Every notification's payload on the channel, in order. */
  onMessage(payload: string): void;
  /** LISTEN is active (at start or after a reconnect): whatever was sent before is unknown. */
  onListening?(): void;
  /** The connection is lost: nothing is heard until the next `onListening`. */
  onLost?(): void;
  logger: Logger;
  reconnect?: ReconnectOptions;
  /** `application_name` of the connection, as pg_stat_activity shows it. */
  applicationName?: string;
}

export interface Listener {
  /** True while LISTEN is active on a live connection. */
  readonly listening: boolean;
  /** The PostgreSQL backend serving the connection while listening (monitoring, tests). */
  readonly backendPid: number | null;
  close(): Promise<void>;
}

/**
 * Starts listening on `channel`. Resolves after the first attempt: listening, or (server
 * unreachable, logged) retrying in the background.
 */
export async function listen(db: Db, channel: string, options: ListenOptions): Promise<Listener> {
  const location = parseDatabaseUrl(db.url);
  if (location.dialect !== 'postgres') {
    throw new Error('LISTEN needs PostgreSQL: on SQLite there is one server process and nobody to hear from');
  }
  const listener = new PgListener(location.connectionString, channel, options);
  await listener.start();
  return listener;
}

/**
 * `NOTIFY channel, payload`: inside `trx` it is delivered on commit and dropped on rollback;
 * without, at once. Payloads must stay below PostgreSQL's 8000 bytes.
 */
export async function notify(db: Db, channel: string, payload: string, trx?: Transaction<Database>): Promise<void> {
  if (db.dialect !== 'postgres') throw new Error('NOTIFY needs PostgreSQL');
  await sql`select pg_notify(${channel}, ${payload})`.execute(trx ?? db.kysely);
}

class PgListener implements Listener {
  readonly #connectionString: string;
  readonly #channel: string;
  readonly #options: ListenOptions;
  readonly #delay: (attempt: number) => number;
  readonly #outage: OutageLog;
  #client: pg.Client | null = null;
  #listening = false;
  #backendPid: number | null = null;
  #closed = false;
  #attempt = 0;
  #timer: NodeJS.Timeout | null = null;

  constructor(connectionString: string, channel: string, options: ListenOptions) {
    this.#connectionString = connectionString;
    this.#channel = channel;
    this.#options = options;
    this.#delay = exponentialBackoff(options.reconnect);
    this.#outage = new OutageLog(options.logger, 'PostgreSQL LISTEN connection', { channel });
  }

  get listening(): boolean {
    return this.#listening;
  }

  get backendPid(): number | null {
    return this.#listening ? this.#backendPid : null;
  }

  async start(): Promise<void> {
    await this.#connect().catch((error: unknown) => this.#failed(error));
  }

  async #connect(): Promise<void> {
    if (this.#closed) return;
    const driver = loadPg();
    const client = new driver.Client({
      connectionString: this.#connectionString,
      application_name: this.#options.applicationName ?? 'gatehouse-listen',
    });
    const lost = (error: unknown) => {
      // Before LISTEN succeeded, the failing connect below handles it.
      if (this.#client !== client || !this.#listening) return;
      this.#client = null;
      this.#listening = false;
      this.#backendPid = null;
      client.end().catch(() => {});
      this.#options.onLost?.();
      this.#failed(error);
    };
    client.on('error', lost);
    client.on('end', () => lost(new Error('the LISTEN connection ended')));
    client.on('notification', (n) => {
      if (this.#client === client && n.channel === this.#channel && n.payload !== undefined) {
        this.#options.onMessage(n.payload);
      }
    });
    this.#client = client;
    try {
      await client.connect();
      await client.query(`LISTEN ${driver.escapeIdentifier(this.#channel)}`);
      const pid = await client.query<{ pid: number }>('select pg_backend_pid() as pid');
      this.#backendPid = pid.rows[0]?.pid ?? null;
    } catch (error) {
      if (this.#client === client) this.#client = null;
      client.end().catch(() => {});
      throw error;
    }
    if (this.#closed) {
      this.#client = null;
      await client.end().catch(() => {});
      return;
    }
    this.#listening = true;
    this.#attempt = 0;
    this.#outage.recovered();
    this.#options.onListening?.();
  }

  #failed(error: unknown): void {
    if (this.#closed) return;
    this.#outage.failed(error);
    if (this.#timer !== null) return;
    this.#attempt += 1;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#connect().catch((e: unknown) => this.#failed(e));
    }, this.#delay(this.#attempt));
    this.#timer.unref();
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#listening = false;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    const client = this.#client;
    this.#client = null;
    if (client) await client.end().catch(() => {});
  }
}
