/**
 * The server owns what it opens (issue 12, "background failures bypass the logger"): the
 * database and the services are a plugin closed by `app.close()`, a registration that fails
 * closes whatever was already open, and background errors reach the app's pino logger.
 */
import { mkdtempSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createDb, sql } from '@gatehouse/db';
import { createTestDatabase, testDialects, type TestDatabase } from '@gatehouse/db/testing';
import { loadConfig } from './config.js';
import { buildServer } from './server.js';

const failingPlugin = async () => {
  throw new Error('a later plugin failed');
};

/** Paths this process holds open (Linux: /proc/self/fd). */
function openFiles(): string[] {
  const paths: string[] = [];
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      paths.push(readlinkSync(`/proc/self/fd/${fd}`));
    } catch {
      // Closed between listing and reading.
    }
  }
  return paths;
}

/** Connections to `database` other than the one asking. */
async function connectionsTo(database: TestDatabase): Promise<number> {
  const probe = createDb(database.url, { poolSize: 1 });
  try {
    const { rows } = await sql<{ n: number }>`
      select count(*)::int as n from pg_stat_activity
      where datname = current_database() and pid <> pg_backend_pid()`.execute(probe.kysely);
    return rows[0]?.n ?? -1;
  } finally {
    await probe.close();
  }
}

/** A local port nothing listens on. */
async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const address = probe.address();
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return typeof address === 'object' && address !== null ? address.port : 1;
}

describe('the server lifecycle', () => {
  const dirs: string[] = [];
  const databases: TestDatabase[] = [];
  afterEach(async () => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
    for (const database of databases.splice(0)) await database.drop();
  });

  function env(databaseUrl: string, extra: Record<string, string> = {}) {
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-lifecycle-'));
    dirs.push(dir);
    return loadConfig({ DATABASE_URL: databaseUrl, AUDIT_KEY_FILE: join(dir, 'audit.key'), PORT: '0', ...extra });
  }

  it('SQLite: a plugin failing during registration leaves the database file closed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-lifecycle-db-'));
    dirs.push(dir);
    const file = join(dir, 'gatehouse.db');
    const config = env(`file:${file}`);

    // Open and close once: the file is held while the server runs, and released by close().
    const { app } = await buildServer(config, { logger: false });
    expect(openFiles()).toContain(file);
    await app.close();
    expect(openFiles()).not.toContain(file);

    await expect(buildServer(config, { logger: false, plugins: [failingPlugin] })).rejects.toThrow(
      'a later plugin failed',
    );
    expect(openFiles().filter((path) => path.startsWith(file))).toEqual([]);
  });

  it('SQLite: services failing to start (an unreadable audit key) close the database they were given', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-lifecycle-db-'));
    dirs.push(dir);
    const file = join(dir, 'gatehouse.db');
    // A directory where the key file belongs: the audit signer cannot load it.
    const config = loadConfig({ DATABASE_URL: `file:${file}`, AUDIT_KEY_FILE: dir, PORT: '0' });
    await expect(buildServer(config, { logger: false })).rejects.toThrow(/EISDIR/);
    expect(openFiles().filter((path) => path.startsWith(file))).toEqual([]);
  });

  it.runIf(testDialects.includes('postgres'))(
    'PostgreSQL: a plugin failing during registration leaves no connection open',
    async () => {
      const database = await createTestDatabase('postgres');
      databases.push(database);
      const config = env(database.url);

      const { app } = await buildServer(config, { logger: false });
      expect(await connectionsTo(database)).toBeGreaterThan(0);
      await app.close();

      await expect(buildServer(config, { logger: false, plugins: [failingPlugin] })).rejects.toThrow(
        'a later plugin failed',
      );
      // The pool and the LISTEN connection of the session bus are gone (ends are asynchronous).
      const start = Date.now();
      while ((await connectionsTo(database)) > 0 && Date.now() - start < 2000)
        await new Promise((r) => setTimeout(r, 50));
      expect(await connectionsTo(database)).toBe(0);
    },
  );

  it('reports a background failure through the app logger, once per outage', async () => {
    const lines: string[] = [];
    const port = await closedPort();
    const config = env(`file:${join(mkdtempSync(join(tmpdir(), 'gatehouse-lifecycle-db-')), 'g.db')}`, {
      REDIS_URL: `redis://127.0.0.1:${port}`,
    });
    const { app } = await buildServer(config, { logger: { level: 'info', stream: { write: (l) => lines.push(l) } } });
    try {
      // ioredis retries every few hundred milliseconds; the outage is still one line.
      await new Promise((r) => setTimeout(r, 1500));
      const entries = lines.map((line) => JSON.parse(line) as { level: number; msg: string; component?: string });
      const outages = entries.filter((entry) => entry.msg.startsWith('Redis connection (REDIS_URL) lost'));
      expect(outages).toHaveLength(1);
      expect(outages[0]).toMatchObject({ level: 50, component: 'redis' });
    } finally {
      await app.close();
    }
  });
});
