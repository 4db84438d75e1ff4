/**
 * Test helpers: real databases, never mocks. SQLite gets a temp file; PostgreSQL gets its own
 * database on the server of TEST_POSTGRES_URL (so parallel runs don't collide), dropped afterwards.
 *
 * PostgreSQL is at TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/test). Outside CI an
 * unreachable server skips the PostgreSQL half with a visible line; with CI=true it must run.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { createDb, type Db, type DialectName } from './database.js';
import { migrateToLatest } from './migrate.js';

const TEST_POSTGRES_URL = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

async function probePostgres(): Promise<boolean> {
  const client = new pg.Client({ connectionString: TEST_POSTGRES_URL, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

const postgresReachable = await probePostgres();
if (!postgresReachable) {
  if (process.env.CI === 'true') {
    throw new Error(
      `CI=true but PostgreSQL is unreachable at ${TEST_POSTGRES_URL}: the PostgreSQL tests must run in CI`,
    );
  }
  console.warn(
    `[gatehouse tests] PostgreSQL unreachable at ${TEST_POSTGRES_URL}: SKIPPING the PostgreSQL half of the suite`,
  );
}

/** The dialects this run tests: always SQLite, PostgreSQL when reachable (always in CI). */
export const testDialects: readonly DialectName[] = postgresReachable ? ['sqlite', 'postgres'] : ['sqlite'];

export interface TestDatabase {
  /** A DATABASE_URL another process or a second `createDb` can open to reach the same data. */
  url: string;
  dialect: DialectName;
  /** Opens a new handle on the same database (e.g. a second server instance). */
  open(): Db;
  /** Drops the schema / deletes the file. Close every handle first. */
  drop(): Promise<void>;
}

/** Creates an empty, isolated database (not migrated). */
export async function createTestDatabase(dialect: DialectName): Promise<TestDatabase> {
  if (dialect === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-test-'));
    const url = `file:${join(dir, 'test.db')}`;
    return { url, dialect, open: () => createDb(url), drop: async () => rmSync(dir, { recursive: true, force: true }) };
  }
  // A database of its own (not a schema): Kysely's migrator introspects every schema of its
  // database, and NOTIFY channels are per database, so parallel test databases stay apart.
  const name = `gh_test_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  await adminQuery(`create database "${name}"`);
  const url = new URL(TEST_POSTGRES_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    dialect,
    open: () => createDb(url.toString(), { poolSize: 5 }),
    drop: () => adminQuery(`drop database if exists "${name}" with (force)`),
  };
}

async function adminQuery(statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: TEST_POSTGRES_URL });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}

/** An isolated, migrated database with one open handle; `cleanup` closes it and drops the data. */
export async function createMigratedTestDb(
  dialect: DialectName,
): Promise<{ db: Db; test: TestDatabase; cleanup(): Promise<void> }> {
  const test = await createTestDatabase(dialect);
  const db = test.open();
  await migrateToLatest(db);
  return {
    db,
    test,
    cleanup: async () => {
      await db.close();
      await test.drop();
    },
  };
}

/**
 * A TCP hop in front of a real server (PostgreSQL, Redis) that a test can cut and restore, to
 * make a real outage: `cut()` drops every connection and refuses new ones until `restore()`.
 */
export interface TcpProxy {
  /** The port to connect to instead of the target's (the same after a restore). */
  readonly port: number;
  cut(): Promise<void>;
  restore(): Promise<void>;
  close(): Promise<void>;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  let server: Server | null = null;
  let port = 0;
  const open = (onPort: number) =>
    new Promise<void>((resolve, reject) => {
      const next = createServer((client) => {
        const upstream = connect(target.port, target.host);
        sockets.add(client).add(upstream);
        const drop = () => {
          client.destroy();
          upstream.destroy();
          sockets.delete(client);
          sockets.delete(upstream);
        };
        for (const socket of [client, upstream]) {
          socket.on('error', drop);
          socket.on('close', drop);
        }
        client.pipe(upstream).pipe(client);
      });
      next.once('error', reject);
      next.listen(onPort, '127.0.0.1', () => {
        server = next;
        port = (next.address() as AddressInfo).port;
        resolve();
      });
    });
  const cut = async () => {
    const current = server;
    server = null;
    for (const socket of sockets) socket.destroy();
    sockets.clear();
    if (current) await new Promise<void>((resolve) => current.close(() => resolve()));
  };
  await open(0);
  return {
    get port() {
      return port;
    },
    cut,
    restore: () => (server ? Promise.resolve() : open(port)),
    close: cut,
  };
}
