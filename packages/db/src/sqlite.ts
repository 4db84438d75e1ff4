import { closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import type BetterSqlite3Module from 'better-sqlite3';
import {
  CompiledQuery,
  SqliteDialect,
  SqliteDriver,
  type DatabaseConnection,
  type Driver,
  type SqliteDatabase,
  type SqliteDialectConfig,
  type SqliteStatement,
} from 'kysely';
import { isBooleanColumn, TIMESTAMP_COLUMN_SUFFIX } from './schema.js';

/**
 * The better-sqlite3 build this Node can run. Version 12 is a classic V8 addon: on Node 24 its
 * destructors trip an assertion inside Node whenever the GC finalizes a statement, which aborts
 * the process (WiseLibs/better-sqlite3#1515; reproduced here on Node 24.21). Version 13 is built
 * on Node-API 10, which Node 20 lacks (it segfaults on load there). Both are installed; the
 * Node-API level picks one. Same API, so one type serves both.
 */
export const BETTER_SQLITE3_MODULE = Number(process.versions.napi) >= 10 ? 'better-sqlite3-napi' : 'better-sqlite3';
export const BetterSqlite3 = createRequire(import.meta.url)(BETTER_SQLITE3_MODULE) as typeof BetterSqlite3Module;

/** Parameters SQLite cannot bind natively become text/integers. */
function toSqliteParam(value: unknown): unknown {
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'boolean') return value ? 1 : 0;
  return value;
}

function fromSqliteRow(row: unknown): unknown {
  if (row === null || typeof row !== 'object') return row;
  const record = row as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    const value = record[key];
    if (key.endsWith(TIMESTAMP_COLUMN_SUFFIX) && typeof value === 'string') {
      record[key] = new Date(value);
    } else if (typeof value === 'number' && isBooleanColumn(key)) {
      record[key] = value !== 0;
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

/** Wraps better-sqlite3 so Kysely sees `Date` and `boolean` in and out, as it does with pg. */
function wrapDatabase(db: BetterSqlite3Module.Database): SqliteDatabase {
  const statements = new Map<string, BetterSqlite3Module.Statement>();
  const statementFor = (sql: string): BetterSqlite3Module.Statement => {
    let statement = statements.get(sql);
    if (statement) return statement;
    statement = db.prepare(sql);
    // Queries built with raw values (rare) must not grow the cache without bound: drop the oldest.
    if (statements.size >= STATEMENT_CACHE_SIZE) statements.delete(statements.keys().next().value as string);
    statements.set(sql, statement);
    return statement;
  };
  return {
    close: () => {
      statements.clear();
      db.close();
    },
    prepare(sql: string): SqliteStatement {
      const statement = statementFor(sql);
      const params = (parameters: ReadonlyArray<unknown>) => parameters.map(toSqliteParam);
      return {
        reader: statement.reader,
        all: (parameters) => statement.all(...params(parameters)).map(fromSqliteRow),
        run: (parameters) => statement.run(...params(parameters)),
        *iterate(parameters) {
          for (const row of statement.iterate(...params(parameters))) yield fromSqliteRow(row);
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

class ImmediateSqliteDialect extends SqliteDialect {
  readonly #config: SqliteDialectConfig;
  constructor(config: SqliteDialectConfig) {
    super(config);
    this.#config = config;
  }
  override createDriver(): Driver {
    return new ImmediateSqliteDriver(this.#config);
  }
}

export interface OpenSqlite {
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
