import { closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import type BetterSqlite3Module from 'better-sqlite3';
import {
  CompiledQuery,
  SqliteAdapter,
  SqliteDialect,
  SqliteDriver,
  type DatabaseConnection,
  type DialectAdapter,
  type Driver,
  type SqliteDatabase,
  type SqliteDialectConfig,
  type SqliteStatement,
} from 'kysely';
import { columnKind } from './schema.js';

/**
 * The better-sqlite3 build this Node can run. Version 12 is a classic V8 addon: on Node 24 its
 * destructors trip an assertion inside Node whenever the GC finalizes a statement, which aborts
 * the process (WiseLibs/better-sqlite3#1515; reproduced here on Node 24.21). Version 13 is built
 * on Node-API 10, which Node 20 lacks (it segfaults on load there). Both are installed; the
 * Node-API level picks one. Same API, so one type serves both.
 */
export const BETTER_SQLITE3_MODULE = Number(process.versions.napi) >= 10 ? 'better-sqlite3-napi' : 'better-sqlite3';
export const BetterSqlite3 = createRequire(import.meta.url)(BETTER_SQLITE3_MODULE) as typeof BetterSqlite3Module;

/**
 * A parameter as SQLite binds it. SQLite has no timestamp or boolean type: a `Date` is written
 * as the `timestamp` kind is stored (ISO 8601 UTC text), a boolean as the `boolean` kind (0/1),
 * and any `Uint8Array` (the `bytes` kind) as the Buffer better-sqlite3 binds as a blob.
 */
function toSqliteParam(value: unknown): unknown {
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (value instanceof Uint8Array && !Buffer.isBuffer(value)) {
    return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  }
  return value;
}

/** Result columns (by their name in the row) that need converting, and to what. */
type RowConversion = ReadonlyArray<readonly [name: string, kind: 'timestamp' | 'boolean']>;

/**
 * What to convert in a statement's rows, from the schema: SQLite reports the table and column
 * each result column comes from, through aliases, joins, subqueries and RETURNING alike, so
 * `users.is_active as u_is_active` converts and an expression (`count(*)`) never does.
 */
function rowConversion(statement: BetterSqlite3Module.Statement): RowConversion {
  if (!statement.reader) return [];
  const conversion: [string, 'timestamp' | 'boolean'][] = [];
  for (const { name, table, column } of statement.columns()) {
    if (table === null || column === null) continue;
    const kind = columnKind(table, column);
    if (kind === 'timestamp' || kind === 'boolean') conversion.push([name, kind]);
  }
  return conversion;
}

function fromSqliteRow(conversion: RowConversion, row: unknown): unknown {
  if (conversion.length === 0 || row === null || typeof row !== 'object') return row;
  const record = row as Record<string, unknown>;
  for (const [name, kind] of conversion) {
    const value = record[name];
    if (kind === 'timestamp') {
      if (typeof value === 'string') record[name] = new Date(value);
    } else if (typeof value === 'number') {
      record[name] = value !== 0;
    }
  }
  return record;
}

/**
 * Compiled statements kept per SQL text. Kysely's SQLite driver prepares every query anew, and
 * compiling the same few dozen statements on each request was a measurable share of a request's
 * CPU (docs/benchmarks.md). Kysely runs one query at a time on its single connection, so a cached
 * statement is never in use twice at once; SQLite re-prepares it itself after a schema change.
 */
const STATEMENT_CACHE_SIZE = 256;

/** A prepared statement and what its rows need converting. */
interface CachedStatement {
  statement: BetterSqlite3Module.Statement;
  conversion: RowConversion;
}

/** Schema changes (migrations) can change what `select *` returns: start the cache afresh. */
const DDL = /^\s*(create|alter|drop)\s/i;

/**
 * Wraps better-sqlite3 so Kysely sees the schema's values (`Date`, `boolean`) in and out, as it
 * does with pg: the column kinds of schema.ts decide what each result column becomes.
 */
function wrapDatabase(db: BetterSqlite3Module.Database): SqliteDatabase {
  const statements = new Map<string, CachedStatement>();
  const statementFor = (sql: string): CachedStatement => {
    let cached = statements.get(sql);
    if (cached) return cached;
    const statement = db.prepare(sql);
    cached = { statement, conversion: rowConversion(statement) };
    // Queries built with raw values (rare) must not grow the cache without bound: drop the oldest.
    if (statements.size >= STATEMENT_CACHE_SIZE) statements.delete(statements.keys().next().value as string);
    statements.set(sql, cached);
    return cached;
  };
  return {
    close: () => {
      statements.clear();
      db.close();
    },
    prepare(sql: string): SqliteStatement {
      const { statement, conversion } = statementFor(sql);
      const params = (parameters: ReadonlyArray<unknown>) => parameters.map(toSqliteParam);
      const fromRow = (row: unknown) => fromSqliteRow(conversion, row);
      return {
        reader: statement.reader,
        all: (parameters) => statement.all(...params(parameters)).map(fromRow),
        run: (parameters) => {
          const result = statement.run(...params(parameters));
          if (DDL.test(sql)) statements.clear();
          return result;
        },
        *iterate(parameters) {
          for (const row of statement.iterate(...params(parameters))) yield fromRow(row);
        },
      };
    },
  };
}

/**
 * `BEGIN IMMEDIATE` takes the write lock up front, so a transaction that reads and then writes
 * cannot fail half-way with SQLITE_BUSY when another process (the CLI, say) writes too.
 */
class ImmediateSqliteDriver extends SqliteDriver {
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }
}

/**
 * SQLite's DDL is transactional, but Kysely's SQLite adapter says otherwise, so its Migrator
 * would run each migration's statements one by one in autocommit: a failing migration would
 * leave the ones before it (and its own first statements) applied, and each statement would pay
 * its own commit (an fsync under synchronous=FULL). With this adapter the Migrator runs every
 * pending migration in one `BEGIN IMMEDIATE` transaction, as on PostgreSQL: all or nothing, one
 * commit, and a second process migrating at the same time waits for the write lock and then
 * finds nothing to do.
 */
class TransactionalDdlSqliteAdapter extends SqliteAdapter {
  override get supportsTransactionalDdl(): boolean {
    return true;
  }
}

class ImmediateSqliteDialect extends SqliteDialect {
  readonly #config: SqliteDialectConfig;
  constructor(config: SqliteDialectConfig) {
    super(config);
    this.#config = config;
  }
  override createDriver(): Driver {
    return new ImmediateSqliteDriver(this.#config);
  }
  override createAdapter(): DialectAdapter {
    return new TransactionalDdlSqliteAdapter();
  }
}

interface OpenSqlite {
  dialect: SqliteDialect;
  raw: BetterSqlite3Module.Database;
}

/**
 * Opens a SQLite file for durable use: WAL, synchronous=FULL (an acknowledged commit survives a
 * power loss), foreign keys on, and a busy timeout for other processes holding the write lock.
 */
export function openSqlite(path: string): OpenSqlite {
  if (path !== ':memory:') {
    // Password hashes live here: a new database, and any directory made for it, is private to
    // the server's user. SQLite gives the -wal and -shm files the database file's permissions.
    mkdirSync(dirname(resolve(path)), { recursive: true, mode: 0o700 });
    if (!existsSync(path)) closeSync(openSync(path, 'a', 0o600));
  }
  const raw = new BetterSqlite3(path);
  raw.pragma('journal_mode = WAL');
  raw.pragma('synchronous = FULL');
  raw.pragma('foreign_keys = ON');
  raw.pragma('busy_timeout = 5000');
  return { dialect: new ImmediateSqliteDialect({ database: wrapDatabase(raw) }), raw };
}

/**
 * A second, read-only connection to a SQLite file, for long reads beside the writer: in WAL
 * mode its read transactions see one committed state and never hold the write lock. Its
 * transactions are plain (deferred) `BEGIN`: the snapshot starts at their first read.
 */
export function openSqliteReadOnly(path: string): SqliteDialect {
  const raw = new BetterSqlite3(path, { readonly: true, fileMustExist: true });
  raw.pragma('busy_timeout = 5000');
  return new SqliteDialect({ database: wrapDatabase(raw) });
}
