import { createRequire } from 'node:module';
import { Kysely, PostgresDialect, sql, type RawBuilder, type Transaction } from 'kysely';
import type pg from 'pg';
import type { Database } from './schema.js';
import { openSqlite, openSqliteReadOnly } from './sqlite.js';
import { translateDbError } from './errors.js';

export type DialectName = 'sqlite' | 'postgres';

/** One open database: the Kysely instance every service uses, plus what differs by dialect. */
export interface Db {
  readonly kysely: Kysely<Database>;
  readonly dialect: DialectName;
  /** The `DATABASE_URL` it was opened with (credentials included: never log it). */
  readonly url: string;
  close(): Promise<void>;
}

export interface CreateDbOptions {
  /** PostgreSQL pool size (default 10). */
  poolSize?: number;
}

export type DatabaseLocation = { dialect: 'sqlite'; path: string } | { dialect: 'postgres'; connectionString: string };

/** `file:<path>` (or `:memory:`) is SQLite; `postgres://` / `postgresql://` is PostgreSQL. */
export function parseDatabaseUrl(url: string): DatabaseLocation {
  if (url.startsWith('file:')) {
    const path = url.slice('file:'.length).replace(/^\/\/(?=\/)/, '');
    if (path.length === 0) throw new Error('DATABASE_URL file: needs a path, e.g. file:./data/gatehouse.db');
    return { dialect: 'sqlite', path };
  }
  if (url === ':memory:') return { dialect: 'sqlite', path: ':memory:' };
  if (/^postgres(ql)?:\/\//.test(url)) return { dialect: 'postgres', connectionString: url };
  throw new Error('DATABASE_URL must start with file: (SQLite) or postgres:// (PostgreSQL)');
}

const loadModule = createRequire(import.meta.url);
let pgModule: typeof pg | undefined;

/**
 * node-postgres, loaded on first use: a server on SQLite never pays for loading it at start
 * (docs/benchmarks.md, start time).
 */
export function loadPg(): typeof pg {
  pgModule ??= loadModule('pg') as typeof pg;
  return pgModule;
}

// int8 (COUNT(*), bigint seq) as a JS number: our counters stay far below 2^53.
function pgTypes(driver: typeof pg) {
  return {
    getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
      oid === 20
        ? (value: string) => Number(value)
        : (driver.types.getTypeParser(oid, format) as (value: string) => unknown)) as typeof pg.types.getTypeParser,
  };
}

export function createDb(url: string, options: CreateDbOptions = {}): Db {
  const location = parseDatabaseUrl(url);
  if (location.dialect === 'sqlite') {
    const { dialect } = openSqlite(location.path);
    const kysely = new Kysely<Database>({ dialect });
    return { kysely, dialect: 'sqlite', url, close: () => kysely.destroy() };
  }
  const driver = loadPg();
  const pool = new driver.Pool({
    connectionString: location.connectionString,
    max: options.poolSize ?? 10,
    types: pgTypes(driver),
  });
  // An idle client losing its connection must not crash the process; the pool replaces it.
  pool.on('error', () => {});
  const kysely = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return { kysely, dialect: 'postgres', url, close: () => kysely.destroy() };
}

/**
 * Runs `fn` in one transaction: everything it writes (the change and its audit event) commits
 * together or not at all. Constraint violations come out as typed errors (see errors.ts).
 */
export async function withTransaction<T>(db: Db, fn: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
  try {
    return await db.kysely.transaction().execute(fn);
  } catch (error) {
    throw translateDbError(error);
  }
}

/** True when the database answers a trivial query (for `/ready`). */
export async function isDatabaseReady(db: Db): Promise<boolean> {
  try {
    await sql`select 1`.execute(db.kysely);
    return true;
  } catch {
    return false;
  }
}

/**
 * Row locks where the dialect has them: `query.$call(forUpdate(db))` is `SELECT … FOR UPDATE` on
 * PostgreSQL and the query unchanged on SQLite, whose write transactions (BEGIN IMMEDIATE)
 * already serialize every writer. Domain code uses this instead of branching on the dialect.
 */
export function forUpdate(db: Pick<Db, 'dialect'>) {
  return <QB extends { forUpdate(): QB }>(query: QB): QB => (db.dialect === 'postgres' ? query.forUpdate() : query);
}

/**
 * Runs `fn` on a consistent, read-only view of the committed data: every query inside sees the
 * same state, whatever commits meanwhile, and nothing waits for it.
 * - PostgreSQL: a `REPEATABLE READ READ ONLY` transaction (the snapshot is taken at its first query).
 * - SQLite file: a read transaction on a second, read-only connection; WAL lets the writer go on.
 * - SQLite `:memory:` has one connection: a transaction on it, so writes wait until `fn` is done
 *   (and a write awaited inside `fn` would wait forever).
 */
export async function readSnapshot<T>(db: Db, fn: (snapshot: Kysely<Database>) => Promise<T>): Promise<T> {
  if (db.dialect === 'postgres') {
    return db.kysely.transaction().setIsolationLevel('repeatable read').setAccessMode('read only').execute(fn);
  }
  const location = parseDatabaseUrl(db.url);
  if (location.dialect !== 'sqlite' || location.path === ':memory:') return db.kysely.transaction().execute(fn);
  const reader = new Kysely<Database>({ dialect: openSqliteReadOnly(location.path) });
  try {
    return await reader.transaction().execute(fn);
  } finally {
    await reader.destroy();
  }
}

// #19 charts
/**
 * Which fixed-width time bucket a timestamp column falls in: `floor((column − origin) / width)`
 * as an integer (0 for the bucket starting at `origin`). Domain code groups by it instead of
 * branching on the dialect. Only for rows with `column >= origin` (the division truncates).
 * - PostgreSQL: `date_part('epoch', column)` on the timestamptz (double precision: `extract`
 *   returns numeric, whose arithmetic made a 90-day count on 1M events ~25 % slower).
 * - SQLite: `unixepoch(column)` (SQLite 3.38+) on the ISO 8601 UTC text the timestamp kind is
 *   stored as (faster than `strftime('%s', …)`, which returns text).
 * Whole seconds: a timestamp's milliseconds never move it across a bucket boundary that is a
 * whole second, which every caller's is (minute-aligned offsets, hour or day widths).
 */
export function timeBucket(
  db: Pick<Db, 'dialect'>,
  column: string,
  origin: Date,
  widthSeconds: number,
): RawBuilder<number> {
  const originSeconds = Math.floor(origin.getTime() / 1000);
  const width = Math.trunc(widthSeconds);
  return db.dialect === 'postgres'
    ? sql<number>`cast(floor((date_part('epoch', ${sql.ref(column)}) - ${originSeconds}) / ${width}) as integer)`
    : sql<number>`cast((unixepoch(${sql.ref(column)}) - ${originSeconds}) / ${width} as integer)`;
}
