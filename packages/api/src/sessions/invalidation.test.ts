import { generateKeyPairSync } from 'node:crypto';
import { sql, type Db } from '@gatehouse/db';
import { createMigratedTestDb, TEST_POSTGRES_URL, testDialects } from '@gatehouse/db/testing';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { signerFromPrivateKey } from '../audit/checkpoint.js';
import { AuditService } from '../audit/service.js';
import { ManualClock } from '../clock.js';
import { defaultApiConfig } from '../config.js';
import { createTestServices, createTestUser } from '../testing.js';
import { parseMessage, PostgresBus, splitMessage, type InvalidationMessage } from './invalidation.js';
import { SessionManager } from './manager.js';

async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 3000): Promise<void> {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
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
    const { db, test, cleanup } = await createMigratedTestDb('postgres');
    closers.push(cleanup);
    return { db, url: test.url };
  }

  function notifier(db: Db) {
    return async (channel: string, payload: string) => {
      await sql`select pg_notify(${channel}, ${payload})`.execute(db.kysely);
    };
  }

  async function terminate(pid: number): Promise<void> {
    const admin = new pg.Client({ connectionString: TEST_POSTGRES_URL });
    await admin.connect();
    try {
      await admin.query('select pg_terminate_backend($1)', [pid]);
    } finally {
      await admin.end();
    }
  }

  it('delivers messages between two buses and reconnects after losing its connection', async () => {
    const { db, url } = await setup();
    const channel = `test_${Date.now()}_${Math.floor(Math.random() * 1e6)}`;
    const received: InvalidationMessage[] = [];
    let resets = 0;
    const listener = new PostgresBus({ connectionString: url, channel, reconnectDelayMs: 50 }, notifier(db));
    const sender = new PostgresBus({ connectionString: url, channel, reconnectDelayMs: 50 }, notifier(db));
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

    await terminate(listener.backendPid ?? 0);
    await waitFor(() => !listener.connected);
    expect(resets).toBeGreaterThan(resetsAtStart);
    await waitFor(() => listener.connected);
    await sender.publish({ u: 'someone' });
    await waitFor(() => received.length === 2);
    expect(received[1]).toEqual({ u: 'someone' });
  });

  it('a session service does not trust its cache while its bus is down', async () => {
    const { db, url } = await setup();
    const clock = new ManualClock();
    const services = await createTestServices(db, { clock });
    closers.push(() => services.close());
    const { token } = await createTestUser(services);

    const bus = new PostgresBus({ connectionString: url, reconnectDelayMs: 60_000 }, notifier(db));
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

    await terminate(bus.backendPid ?? 0);
    await waitFor(() => !bus.connected);
    expect(sessions.cachedCount).toBe(0);
    // Deleted with no notification at all: still seen, because the cache is not used now.
    await db.kysely.deleteFrom('sessions').execute();
    expect(await sessions.validate(token ?? '')).toBeNull();
  });
});
