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
import { connectTestRedis, createTestServices, createTestUser, TEST_REDIS_URL, uniqueTestPrefix } from '../testing.js';
import { parseMessage, PostgresBus, RedisBus, splitMessage, type InvalidationMessage } from './invalidation.js';
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
