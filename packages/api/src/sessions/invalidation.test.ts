import { generateKeyPairSync } from 'node:crypto';
import { sql, type Db } from '@gatehouse/db';
import { createMigratedTestDb, startTcpProxy, testDialects } from '@gatehouse/db/testing';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { signerFromPrivateKey } from '../audit/checkpoint.js';
import { AuditService } from '../audit/service.js';
import { ManualClock } from '../clock.js';
import { defaultApiConfig } from '../config.js';
import type { Logger } from '../logger.js';
import { openRedis } from '../redis.js';
import { cliActor } from '../actor.js';
import type { Services } from '../services.js';
import { connectTestRedis, createTestServices, createTestUser, TEST_REDIS_URL, uniqueTestPrefix } from '../testing.js';
import { transact } from '../unit-of-work.js';
import { setPassword, updateUser } from '../users/service.js';
import {
  parseMessage,
  PostgresBus,
  RedisBus,
  splitMessage,
  SqliteBus,
  type InvalidationMessage,
} from './invalidation.js';
import { SessionManager } from './manager.js';

async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 3000): Promise<void> {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function recordingLogger(): { logger: Logger; lines: { level: string; msg: string; obj: object }[] } {
  const lines: { level: string; msg: string; obj: object }[] = [];
  const at = (level: string) => (obj: object, msg: string) => lines.push({ level, msg, obj });
  return { logger: { error: at('error'), warn: at('warn'), info: at('info') }, lines };
}

describe('invalidation messages', () => {
  it('split long id lists to stay below the NOTIFY payload limit', () => {
    const ids = Array.from({ length: 250 }, (_, i) => `${i}`.padStart(32, 'a'));
    const parts = splitMessage({ u: 'user-1', s: ids });
    expect(parts[0]).toEqual({ u: 'user-1' });
    expect(parts.slice(1).map((p) => p.s?.length)).toEqual([100, 100, 50]);
    for (const part of parts) expect(JSON.stringify(part).length).toBeLessThan(8000);
  });

  it('parse only what they should contain', () => {
    expect(parseMessage('{"s":["a",1],"u":"x"}')).toEqual({ s: ['a'], u: 'x' });
    expect(parseMessage('not json')).toBeNull();
    expect(parseMessage('42')).toBeNull();
  });
});

describe('the SQLite invalidation bus (two processes on one file)', () => {
  const closers: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
  });

  /** Two handles on one SQLite file: two connections, as a server and the CLI beside it have. */
  async function twoHandles(): Promise<[Db, Db]> {
    const { db, test, cleanup } = await createMigratedTestDb('sqlite');
    const other = test.open();
    closers.push(cleanup, () => other.close());
    return [db, other];
  }

  /** A bus that polls only when the test says (`bus.poll()`). */
  async function startBus(db: Db, options: { clock?: ManualClock; logger?: Logger } = {}) {
    const received: InvalidationMessage[] = [];
    let resets = 0;
    const bus = new SqliteBus(db, {
      logger: options.logger ?? recordingLogger().logger,
      pollIntervalMs: 60_000,
      ...(options.clock ? { clock: options.clock } : {}),
    });
    closers.push(() => bus.close());
    await bus.start(
      (m) => received.push(m),
      () => resets++,
    );
    return { bus, received, resets: () => resets };
  }

  async function servicesOn(db: Db): Promise<Services> {
    const services = await createTestServices(db);
    closers.push(() => services.close());
    return services;
  }

  it("drops a session cached by one process within ~1.5 s of another process's password reset", async () => {
    const [serverDb, cliDb] = await twoHandles();
    const server = await servicesOn(serverDb);
    const cli = await servicesOn(cliDb);
    const { user, token } = await createTestUser(server);
    expect(await server.sessions.validate(token ?? '')).not.toBeNull();
    expect(server.sessions.cachedCount).toBe(1);

    await setPassword(cli, cliActor(), { kind: 'reset', userId: user.id, newPassword: 'a brand new long passphrase' });
    const committed = Date.now();
    // The row is gone, but the server's cache still says the session is alive until it hears.
    await waitFor(async () => (await server.sessions.validate(token ?? '')) === null, 1500);
    expect(Date.now() - committed).toBeLessThan(1500);
    expect(server.sessions.cachedCount).toBe(0);
  });

  it("drops a user cached by one process within ~1.5 s of another process's role change", async () => {
    const [serverDb, cliDb] = await twoHandles();
    const server = await servicesOn(serverDb);
    const cli = await servicesOn(cliDb);
    const { user, token } = await createTestUser(server, { role: 'admin' });
    await createTestUser(server, { role: 'admin' }); // so the demotion leaves an active admin
    expect((await server.sessions.validate(token ?? ''))?.user.role).toBe('admin');

    await updateUser(cli, cliActor(), { id: user.id, role: 'member' });
    // The session row is untouched: only the dropped user cache entry can show the demotion.
    await waitFor(async () => (await server.sessions.validate(token ?? ''))?.user.role === 'member', 1500);
  });

  it("writes the row in the change's transaction: a rolled-back change tells nobody", async () => {
    const [serverDb, cliDb] = await twoHandles();
    const cli = await servicesOn(cliDb);
    const { received } = await startBus(serverDb);
    await expect(
      transact(cli, async (work) => {
        work.invalidate({ userIds: ['rolled-back'] });
        throw new Error('refused');
      }),
    ).rejects.toThrow('refused');
    expect(await serverDb.kysely.selectFrom('invalidations').selectAll().execute()).toEqual([]);

    await transact(cli, async (work) => {
      work.invalidate({ userIds: ['committed'], sessionIds: ['s1', 's2'] });
    });
    const rows = await serverDb.kysely.selectFrom('invalidations').select(['kind', 'target_id']).execute();
    expect(rows).toEqual([
      { kind: 'user', target_id: 'committed' },
      { kind: 'session', target_id: 's1' },
      { kind: 'session', target_id: 's2' },
    ]);
    expect(received).toEqual([]);
  });

  it("hands a process only the other processes' rows, each once", async () => {
    const [dbA, dbB] = await twoHandles();
    const a = await startBus(dbA);
    const b = await startBus(dbB);

    await a.bus.publish({ u: 'from-a' });
    await a.bus.poll();
    // Only A committed: its data_version did not move, and A's own rows are not news to it.
    expect(a.received).toEqual([]);

    await b.bus.publish({ s: ['from-b-1', 'from-b-2'] });
    await a.bus.poll();
    await b.bus.poll();
    expect(a.received).toEqual([{ s: ['from-b-1', 'from-b-2'] }]);
    expect(b.received).toEqual([{ u: 'from-a' }]);

    await a.bus.poll();
    await b.bus.poll();
    expect(a.received).toHaveLength(1);
    expect(b.received).toHaveLength(1);
  });

  it('prunes rows older than the retention, keeping newer ones', async () => {
    const [db] = await twoHandles();
    const clock = new ManualClock('2026-03-01T12:00:00.000Z');
    const { bus } = await startBus(db, { clock });
    await bus.publish({ u: 'old' });
    clock.advance(9 * 60_000);
    await bus.publish({ u: 'recent' });
    clock.advance(2 * 60_000); // 'old' is 11 min old, 'recent' 2 min: the retention is 10 min
    await bus.poll();
    const left = await db.kysely.selectFrom('invalidations').select('target_id').execute();
    expect(left).toEqual([{ target_id: 'recent' }]);
  });

  it('logs a failing poll once, does not use the cache meanwhile, and starts empty when it works again', async () => {
    const [dbA, dbB] = await twoHandles();
    const { logger, lines } = recordingLogger();
    const a = await startBus(dbA, { logger });
    expect(a.bus.connected).toBe(true);
    const resetsAtStart = a.resets();

    await sql`alter table invalidations rename to invalidations_away`.execute(dbB.kysely);
    await a.bus.poll();
    await a.bus.poll();
    expect(a.bus.connected).toBe(false);
    expect(a.resets()).toBe(resetsAtStart + 1);
    await sql`alter table invalidations_away rename to invalidations`.execute(dbB.kysely);
    await a.bus.poll();
    expect(a.bus.connected).toBe(true);
    expect(a.resets()).toBe(resetsAtStart + 2);
    expect(lines.map((l) => [l.level, l.msg])).toEqual([
      ['error', 'SQLite invalidation poll failed; the session cache is off until it works again'],
      ['info', 'SQLite invalidation poll works again'],
    ]);
  });

  it('polls on its own timer, which stops on close', async () => {
    const [dbA, dbB] = await twoHandles();
    const received: InvalidationMessage[] = [];
    const bus = new SqliteBus(dbA, { logger: recordingLogger().logger, pollIntervalMs: 20 });
    await bus.start(
      (m) => received.push(m),
      () => {},
    );
    const other = new SqliteBus(dbB, { logger: recordingLogger().logger });
    await other.publish({ u: 'heard' });
    await waitFor(() => received.length === 1, 1000);
    await bus.close();
    expect(bus.connected).toBe(false);
    await other.publish({ u: 'not heard' });
    await new Promise((r) => setTimeout(r, 100));
    expect(received).toEqual([{ u: 'heard' }]);
  });
});

describe.runIf(testDialects.includes('postgres'))('the PostgreSQL invalidation bus', () => {
  const closers: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
  });

  async function setup() {
    const { db, cleanup } = await createMigratedTestDb('postgres');
    closers.push(cleanup);
    return db;
  }

  async function terminate(db: Db, pid: number | null): Promise<void> {
    await sql`select pg_terminate_backend(${pid})`.execute(db.kysely);
  }

  it('delivers messages between two buses and reconnects after losing its connection', async () => {
    const db = await setup();
    const channel = `test_${Date.now()}_${Math.floor(Math.random() * 1e6)}`;
    const received: InvalidationMessage[] = [];
    let resets = 0;
    const { logger, lines } = recordingLogger();
    const listener = new PostgresBus(db, { logger, channel, reconnect: { initialDelayMs: 50 } });
    const sender = new PostgresBus(db, { logger: recordingLogger().logger, channel });
    closers.push(
      () => listener.close(),
      () => sender.close(),
    );
    await listener.start(
      (m) => received.push(m),
      () => resets++,
    );
    await sender.start(
      () => {},
      () => {},
    );
    expect(listener.connected).toBe(true);
    const resetsAtStart = resets;

    await sender.publish({ s: ['one'] });
    await waitFor(() => received.length === 1);
    expect(received[0]).toEqual({ s: ['one'] });

    await terminate(db, listener.backendPid);
    await waitFor(() => resets > resetsAtStart);
    await waitFor(() => listener.connected);
    await sender.publish({ u: 'someone' });
    await waitFor(() => received.length === 2);
    expect(received[1]).toEqual({ u: 'someone' });
    expect(lines.map((l) => l.level)).toEqual(['error', 'info']);
  });

  it('a session service does not trust its cache while its bus is down', async () => {
    const db = await setup();
    const clock = new ManualClock();
    const services = await createTestServices(db, { clock });
    closers.push(() => services.close());
    const { token } = await createTestUser(services);

    const bus = new PostgresBus(db, { logger: recordingLogger().logger, reconnect: { initialDelayMs: 60_000 } });
    const audit = new AuditService({
      db,
      clock,
      config: defaultApiConfig,
      signer: signerFromPrivateKey('gatehouse/test', generateKeyPairSync('ed25519').privateKey),
    });
    const sessions = new SessionManager({ db, clock, config: defaultApiConfig, audit, bus });
    closers.push(() => sessions.close());
    await sessions.start({ sweep: false });
    expect(await sessions.validate(token ?? '')).not.toBeNull();
    expect(sessions.cachedCount).toBe(1);

    await terminate(db, bus.backendPid);
    await waitFor(() => !bus.connected);
    expect(sessions.cachedCount).toBe(0);
    // Deleted with no notification at all: still seen, because the cache is not used now.
    await db.kysely.deleteFrom('sessions').execute();
    expect(await sessions.validate(token ?? '')).toBeNull();
  });
});

describe('the Redis invalidation bus', () => {
  let redis: Redis | null = null;
  beforeAll(async () => {
    redis = await connectTestRedis();
  });
  afterAll(async () => {
    await redis?.quit();
  });
  const closers: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
  });

  it("logs its subscriber's outage once and its recovery once, and messages flow again", async (context) => {
    if (!redis) return context.skip();
    const target = new URL(TEST_REDIS_URL);
    const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 6379) });
    closers.push(() => proxy.close());
    target.port = String(proxy.port);
    // Publishes go straight to Redis; the subscriber (a duplicate) goes through the proxy.
    const viaProxy = await openRedis(target.toString(), recordingLogger().logger, {
      reconnect: { initialDelayMs: 20, maxDelayMs: 100 },
    });
    closers.push(() => viaProxy.quit().catch(() => viaProxy.disconnect()));
    const channel = uniqueTestPrefix('bus');
    const { logger, lines } = recordingLogger();
    const bus = new RedisBus(viaProxy, { logger, channel });
    closers.push(() => bus.close());
    const received: InvalidationMessage[] = [];
    let resets = 0;
    await bus.start(
      (m) => received.push(m),
      () => resets++,
    );
    expect(bus.connected).toBe(true);
    const publisher = new RedisBus(redis, { logger: recordingLogger().logger, channel });

    await proxy.cut();
    await waitFor(() => !bus.connected);
    await new Promise((r) => setTimeout(r, 300)); // several refused reconnects
    expect(lines.map((l) => l.level)).toEqual(['error']);
    await proxy.restore();
    await waitFor(() => bus.connected);
    expect(resets).toBeGreaterThanOrEqual(2);
    await publisher.publish({ s: ['after'] });
    await waitFor(() => received.length === 1);
    expect(received).toEqual([{ s: ['after'] }]);
    expect(lines.map((l) => [l.level, l.msg])).toEqual([
      ['error', 'Redis subscriber (session invalidation) lost; reconnecting with backoff'],
      ['info', 'Redis subscriber (session invalidation) restored'],
    ]);
  });
});
