import { sha256 } from '@oslojs/crypto/sha2';
import { withTransaction, type Db } from '@gatehouse/db';
import type { KyselyPlugin } from 'kysely';
import { createMigratedTestDb, testDialects } from '@gatehouse/db/testing';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../clock.js';
import { defaultApiConfig, type ApiConfig } from '../config.js';
import type { Services } from '../services.js';
import { connectTestRedis, createTestServices, createTestUser, uniqueTestPrefix } from '../testing.js';
import { transact } from '../unit-of-work.js';
import { authenticate } from './authenticate.js';
import { LocalBus } from './invalidation.js';
import { SessionManager } from './manager.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

async function waitFor(check: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  const start = Date.now();
  while (Date.now() - start < timeoutMs) {
    if (await check()) return Date.now() - start;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`condition not met within ${timeoutMs} ms`);
}

describe.each(testDialects)('sessions on %s', (dialect) => {
  let db: Db;
  let cleanup: () => Promise<void>;
  let clock: ManualClock;
  let services: Services;
  const extra: Services[] = [];

  async function start(config: Partial<ApiConfig> = {}) {
    await services.close();
    services = await createTestServices(db, { clock, config });
  }

  beforeEach(async () => {
    ({ db, cleanup } = await createMigratedTestDb(dialect));
    clock = new ManualClock('2026-02-01T12:00:00.000Z');
    services = await createTestServices(db, { clock });
  });
  afterEach(async () => {
    await services.close();
    for (const s of extra.splice(0)) await s.close();
    await cleanup();
  });

  async function events(type: string) {
    return (await services.audit.log.list({ type, limit: 200 })).items;
  }

  async function openSession(userId: string, rememberMe = false) {
    return withTransaction(db, (trx) =>
      services.sessions.create(trx, { userId, rememberMe, ip: '192.0.2.1', userAgent: 'test' }),
    );
  }

  it('issues <id>.<secret> tokens and stores only the id and SHA-256(secret)', async () => {
    const { user } = await createTestUser(services, { withSession: false });
    const { token, session } = await openSession(user.id);
    const [id, secret] = token.split('.') as [string, string];
    expect(id).toMatch(/^[a-z2-7]{32}$/);
    expect(secret).toMatch(/^[a-z2-7]{32}$/);
    expect(session.id).toBe(id);
    const row = await db.kysely.selectFrom('sessions').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    expect(Buffer.from(row.secret_hash).equals(Buffer.from(sha256(new TextEncoder().encode(secret))))).toBe(true);
    expect(JSON.stringify(row)).not.toContain(secret);
    expect(row).toMatchObject({ user_id: user.id, ip: '192.0.2.1', user_agent: 'test', remember_me: false });
  });

  it('rejects a wrong secret, a malformed token and an unknown id', async () => {
    const { token } = await createTestUser(services);
    const [id] = (token ?? '').split('.');
    expect(await services.sessions.validate(`${id}.${'a'.repeat(32)}`)).toBeNull();
    expect(await services.sessions.validate('not-a-token')).toBeNull();
    expect(await services.sessions.validate(`${'b'.repeat(32)}.${'c'.repeat(32)}`)).toBeNull();
    expect(await services.sessions.validate(token ?? '')).not.toBeNull();
    // Still rejected once the right token is cached.
    expect(await services.sessions.validate(`${id}.${'a'.repeat(32)}`)).toBeNull();
  });

  it('expires a normal session after SESSION_TTL and a remember-me session after SESSION_REMEMBER_TTL', async () => {
    const { user } = await createTestUser(services, { withSession: false });
    const normal = await openSession(user.id, false);
    const remembered = await openSession(user.id, true);
    expect(normal.session.expiresAt.getTime() - clock.now().getTime()).toBe(DAY);
    expect(remembered.session.expiresAt.getTime() - clock.now().getTime()).toBe(30 * DAY);
    clock.advance(DAY);
    expect(await services.sessions.validate(normal.token)).toBeNull();
    expect(await services.sessions.validate(remembered.token)).not.toBeNull();
    clock.advance(30 * DAY);
    expect(await services.sessions.validate(remembered.token)).toBeNull();
  });

  it('slides the expiry once less than half of the lifetime is left (renewed: true)', async () => {
    const { token, session } = await createTestUser(services);
    clock.advance(11 * HOUR);
    let auth = await services.sessions.validate(token ?? '');
    expect(auth?.renewed).toBe(false);
    expect(auth?.session.expiresAt).toEqual(session?.expiresAt);
    clock.advance(2 * HOUR); // 11 h left < 12 h
    auth = await services.sessions.validate(token ?? '');
    expect(auth?.renewed).toBe(true);
    expect(auth?.session.expiresAt).toEqual(new Date(clock.now().getTime() + DAY));
    const row = await db.kysely.selectFrom('sessions').select('expires_at').executeTakeFirstOrThrow();
    expect(row.expires_at).toEqual(auth?.session.expiresAt);
    clock.advance(HOUR);
    expect((await services.sessions.validate(token ?? ''))?.renewed).toBe(false);
    // Kept alive by activity well past the first expiry.
    for (let i = 0; i < 5; i++) {
      clock.advance(20 * HOUR);
      expect(await services.sessions.validate(token ?? '')).not.toBeNull();
    }
  });

  it('never lets a session outlive SESSION_ABSOLUTE_TTL, however active', async () => {
    await start({ sessionAbsoluteTtlMs: 40 * DAY });
    const { user } = await createTestUser(services, { withSession: false });
    const { token, session } = await openSession(user.id, true);
    const cap = session.createdAt.getTime() + 40 * DAY;
    for (let day = 10; day < 40; day += 10) {
      clock.set(new Date(session.createdAt.getTime() + day * DAY));
      const auth = await services.sessions.validate(token);
      expect(auth).not.toBeNull();
      expect(auth?.session.expiresAt.getTime()).toBeLessThanOrEqual(cap);
    }
    clock.set(new Date(cap - 1000));
    const last = await services.sessions.validate(token);
    expect(last?.session.expiresAt.getTime()).toBe(cap);
    expect(last?.renewed).toBe(false);
    clock.set(new Date(cap));
    expect(await services.sessions.validate(token)).toBeNull();
  });

  it('writes last_seen_at at most once a minute', async () => {
    const { token, session } = await createTestUser(services);
    const lastSeen = async () =>
      (await db.kysely.selectFrom('sessions').select('last_seen_at').executeTakeFirstOrThrow()).last_seen_at;
    await services.sessions.validate(token ?? '');
    clock.advance(30_000);
    await services.sessions.validate(token ?? '');
    expect(await lastSeen()).toEqual(session?.lastSeenAt);
    clock.advance(31_000);
    const auth = await services.sessions.validate(token ?? '');
    expect(await lastSeen()).toEqual(clock.now());
    expect(auth?.session.lastSeenAt).toEqual(clock.now());
  });

  it('keeps at most SESSION_MAX_PER_USER sessions, evicting the oldest (audited)', async () => {
    await start({ sessionMaxPerUser: 3 });
    const { user } = await createTestUser(services, { withSession: false });
    const opened = [];
    for (let i = 0; i < 4; i++) {
      opened.push(await openSession(user.id));
      clock.advance(1000);
    }
    expect(opened[3]?.evictedIds).toEqual([opened[0]?.session.id]);
    expect(await services.sessions.validate(opened[0]?.token ?? '')).toBeNull();
    for (const s of opened.slice(1)) expect(await services.sessions.validate(s.token)).not.toBeNull();
    const evicted = await events('session.evicted');
    expect(evicted).toHaveLength(1);
    expect(evicted[0]).toMatchObject({
      actorId: user.id,
      targetId: user.id,
      data: { sessionId: opened[0]?.session.id, reason: 'max_per_user' },
    });
  });

  it('keeps the cap when sessions open in the same millisecond, never evicting the new one', async () => {
    await start({ sessionMaxPerUser: 2 });
    const { user } = await createTestUser(services, { withSession: false });
    for (let i = 0; i < 6; i++) {
      const created = await openSession(user.id);
      expect(created.evictedIds).not.toContain(created.session.id);
      expect(await services.sessions.validate(created.token)).not.toBeNull();
      const count = await db.kysely.selectFrom('sessions').select('id').where('user_id', '=', user.id).execute();
      expect(count.length).toBe(Math.min(i + 1, 2));
    }
    expect(await events('session.evicted')).toHaveLength(4);
  });

  it('the cleanup sweep deletes expired sessions with one audit event per sweep', async () => {
    const { user } = await createTestUser(services, { withSession: false });
    await openSession(user.id, false);
    await openSession(user.id, false);
    const kept = await openSession(user.id, true);
    expect(await services.sessions.sweep()).toBe(0);
    expect(await events('session.expired_cleanup')).toHaveLength(0);
    clock.advance(DAY + 1);
    expect(await services.sessions.sweep()).toBe(2);
    expect(await services.sessions.sweep()).toBe(0);
    const sweeps = await events('session.expired_cleanup');
    expect(sweeps).toHaveLength(1);
    expect(sweeps[0]?.data).toEqual({ count: 2 });
    const left = await db.kysely.selectFrom('sessions').select('id').execute();
    expect(left.map((r) => r.id)).toEqual([kept.session.id]);
  });

  it('sweeps at start and on its interval when running in the background', async () => {
    const { user } = await createTestUser(services, { withSession: false });
    await openSession(user.id);
    clock.advance(2 * DAY);
    const { createServices } = await import('../create-services.js');
    const { generateKeyPairSync } = await import('node:crypto');
    const { signerFromPrivateKey } = await import('../audit/checkpoint.js');
    const background = await createServices({
      db,
      clock,
      config: { ...defaultApiConfig, sessionCleanupIntervalMs: 50 },
      auditSigner: signerFromPrivateKey('gatehouse/test', generateKeyPairSync('ed25519').privateKey),
      mfaKey: new Uint8Array(32).fill(7), // issue 15: no MFA_KEY_FILE written by a test
    });
    extra.push(background);
    expect(await db.kysely.selectFrom('sessions').select('id').execute()).toHaveLength(0);
    await openSession(user.id);
    clock.advance(2 * DAY);
    await waitFor(async () => (await db.kysely.selectFrom('sessions').select('id').execute()).length === 0, 2000);
    expect(await events('session.expired_cleanup')).toHaveLength(2);
  });

  it('caches validations (bounded) and a revocation takes effect at once in process', async () => {
    const a = await createTestUser(services);
    const b = await createTestUser(services);
    await services.sessions.validate(a.token ?? '');
    await services.sessions.validate(b.token ?? '');
    expect(services.sessions.cachedCount).toBe(2);
    await withTransaction(db, (trx) => services.sessions.revokeAllForUser(trx, a.user.id));
    await services.sessions.invalidate({ userId: a.user.id });
    expect(await services.sessions.validate(a.token ?? '')).toBeNull();
    expect(await services.sessions.validate(b.token ?? '')).not.toBeNull();

    await start({});
    const small = await createTestServices(db, { clock, sessionCacheSize: 2 });
    extra.push(small);
    const users = [await createTestUser(small), await createTestUser(small), await createTestUser(small)];
    for (const u of users) expect(await small.sessions.validate(u.token ?? '')).not.toBeNull();
    expect(small.sessions.cachedCount).toBe(2);
  });

  it('serves cache hits without reading the database, and re-checks the row at least every minute', async () => {
    const { token } = await createTestUser(services);
    await services.sessions.validate(token ?? '');
    // Deleted behind the service's back (no invalidation): the cache still answers…
    await db.kysely.deleteFrom('sessions').execute();
    expect(await services.sessions.validate(token ?? '')).not.toBeNull();
    // …until the throttled last_seen_at write notices the row is gone.
    clock.advance(61_000);
    expect(await services.sessions.validate(token ?? '')).toBeNull();
  });

  it('an inactive user has no valid session', async () => {
    const { user, token } = await createTestUser(services);
    await db.kysely.updateTable('users').set({ is_active: false }).where('id', '=', user.id).execute();
    expect(await services.sessions.validate(token ?? '')).toBeNull();
  });

  describe('the caches: session facts by id, users by id, each dropped after commit', () => {
    const setRole = (userId: string, role: 'admin' | 'member') =>
      transact(services, async (work) => {
        await work.trx.updateTable('users').set({ role }).where('id', '=', userId).execute();
        work.invalidate({ userIds: [userId] });
      });

    it('sees a demotion on the very next request once the unit of work commits', async () => {
      const { user, token } = await createTestUser(services, { role: 'admin' });
      expect((await services.sessions.validate(token ?? ''))?.user.role).toBe('admin');
      await setRole(user.id, 'member');
      const auth = await services.sessions.validate(token ?? '');
      expect(auth?.user.role).toBe('member');
      // The session itself was not revoked: only the user was re-read.
      expect(auth?.session.userId).toBe(user.id);
    });

    it('sees a deactivation on the very next request, whatever the session cache holds', async () => {
      const { user, token } = await createTestUser(services);
      expect(await services.sessions.validate(token ?? '')).not.toBeNull();
      await transact(services, async (work) => {
        await work.trx.updateTable('users').set({ is_active: false }).where('id', '=', user.id).execute();
        work.invalidate({ userIds: [user.id] });
      });
      expect(await services.sessions.validate(token ?? '')).toBeNull();
    });

    it('serves a hit from the caches alone; a lost invalidation lives at most the cache max age', async () => {
      const { user, token } = await createTestUser(services, { role: 'admin' });
      expect((await services.sessions.validate(token ?? ''))?.user.role).toBe('admin');
      // Changed behind the service's back (an invalidation this instance never heard): the hit
      // path reads no user row, so the cached role is still served…
      await db.kysely.updateTable('users').set({ role: 'member', name: 'Renamed' }).where('id', '=', user.id).execute();
      clock.advance(4 * 60_000);
      expect((await services.sessions.validate(token ?? ''))?.user).toMatchObject({ role: 'admin' });
      // …but never past the cache's max age (5 minutes by default).
      clock.advance(60_000);
      expect((await services.sessions.validate(token ?? ''))?.user).toMatchObject({ role: 'member', name: 'Renamed' });
    });

    it('honours a shorter cacheMaxAgeMs for both session facts and users', async () => {
      const manager = new SessionManager({
        db,
        clock,
        config: defaultApiConfig,
        audit: services.audit,
        bus: new LocalBus(),
        cacheMaxAgeMs: 10_000,
      });
      await manager.start({ sweep: false });
      try {
        const { user, token } = await createTestUser(services);
        expect((await manager.validate(token ?? ''))?.user.name).toBe(user.name);
        await db.kysely.updateTable('users').set({ name: 'Later' }).where('id', '=', user.id).execute();
        clock.advance(9_999);
        expect((await manager.validate(token ?? ''))?.user.name).toBe(user.name);
        clock.advance(1);
        expect((await manager.validate(token ?? ''))?.user.name).toBe('Later');
      } finally {
        await manager.close();
      }
    });

    it('hands out copies: a caller changing its result cannot change the cache', async () => {
      const { token } = await createTestUser(services);
      const first = await services.sessions.validate(token ?? '');
      if (!first) throw new Error('expected a session');
      first.user.role = 'admin';
      first.session.expiresAt = new Date(0);
      const second = await services.sessions.validate(token ?? '');
      expect(second?.user.role).toBe('member');
      expect(second?.session.expiresAt.getTime()).toBeGreaterThan(clock.now().getTime());
    });

    it('a revocation in a unit of work drops the cached session after commit, without a hand-placed invalidate()', async () => {
      const { user, token, session } = await createTestUser(services);
      const other = await openSession(user.id);
      expect(await services.sessions.validate(token ?? '')).not.toBeNull();
      expect(await services.sessions.validate(other.token)).not.toBeNull();
      await expect(
        transact(services, async (work) => {
          await services.sessions.revoke(work, session?.id ?? '');
          throw new Error('rollback');
        }),
      ).rejects.toThrow('rollback');
      expect(await services.sessions.validate(token ?? '')).not.toBeNull();
      expect(services.sessions.cachedCount).toBe(2);

      await transact(services, (work) => services.sessions.revoke(work, session?.id ?? ''));
      expect(await services.sessions.validate(token ?? '')).toBeNull();
      await transact(services, (work) => services.sessions.revokeAllForUser(work, user.id));
      expect(await services.sessions.validate(other.token)).toBeNull();
      expect(services.sessions.cachedCount).toBe(0);
    });

    it('answers a hit without a database query; a miss reads the session row and the user by id', async () => {
      const statements: string[] = [];
      const counting: KyselyPlugin = {
        transformQuery(args) {
          statements.push(args.node.kind);
          return args.node;
        },
        transformResult: (args) => Promise.resolve(args.result),
      };
      const manager = new SessionManager({
        db: { ...db, kysely: db.kysely.withPlugin(counting) },
        clock,
        config: defaultApiConfig,
        audit: services.audit,
        bus: new LocalBus(),
      });
      await manager.start({ sweep: false });
      try {
        const { token } = await createTestUser(services);
        expect(await manager.validate(token ?? '')).not.toBeNull();
        expect(statements).toEqual(['SelectQueryNode', 'SelectQueryNode']);
        statements.length = 0;
        clock.advance(30_000);
        for (let i = 0; i < 3; i++) expect(await manager.validate(token ?? '')).not.toBeNull();
        expect(statements).toEqual([]);
        clock.advance(31_000); // last_seen_at is due: one write, no read
        expect(await manager.validate(token ?? '')).not.toBeNull();
        expect(statements).toEqual(['UpdateQueryNode']);
      } finally {
        await manager.close();
      }
    });

    it('authenticate(): no token is no session; a token is validated', async () => {
      const { user, token } = await createTestUser(services);
      expect(await authenticate(services, null)).toBeNull();
      expect(await authenticate(services, '')).toBeNull();
      expect((await authenticate(services, token))?.user.id).toBe(user.id);
    });

    it('an invalidation by user id drops every cached session of that user and no one else’s', async () => {
      const a = await createTestUser(services);
      const a2 = await openSession(a.user.id);
      const b = await createTestUser(services);
      for (const t of [a.token ?? '', a2.token, b.token ?? '']) await services.sessions.validate(t);
      expect(services.sessions.cachedCount).toBe(3);
      await services.invalidator.invalidate({ userIds: [a.user.id] });
      expect(services.sessions.cachedCount).toBe(1);
      expect(await services.sessions.validate(b.token ?? '')).not.toBeNull();
      expect(await services.sessions.validate(a.token ?? '')).not.toBeNull(); // rows still there: re-read
    });
  });
});

describe.runIf(testDialects.includes('postgres'))('cross-instance invalidation over PostgreSQL LISTEN/NOTIFY', () => {
  it('a revocation on one instance rejects the token on another within a second', async () => {
    const { db, test, cleanup } = await createMigratedTestDb('postgres');
    const clock = new ManualClock();
    const services = await createTestServices(db, { clock });
    const dbB = test.open();
    const b = await createTestServices(dbB, { clock });
    try {
      const { user, token } = await createTestUser(services);
      expect(await b.sessions.validate(token ?? '')).not.toBeNull();
      expect(b.sessions.cachedCount).toBe(1);
      await withTransaction(db, (trx) => services.sessions.revokeAllForUser(trx, user.id));
      await services.sessions.invalidate({ userId: user.id });
      const ms = await waitFor(async () => (await b.sessions.validate(token ?? '')) === null, 1000);
      expect(ms).toBeLessThan(1000);
      expect(b.sessions.cachedCount).toBe(0);
    } finally {
      await b.close();
      await dbB.close();
      await services.close();
      await cleanup();
    }
  });

  it('a revocation inside a transaction is announced on commit, even without a later invalidate()', async () => {
    const { db, test, cleanup } = await createMigratedTestDb('postgres');
    const clock = new ManualClock();
    const services = await createTestServices(db, { clock });
    const dbB = test.open();
    const b = await createTestServices(dbB, { clock });
    try {
      const { user, token } = await createTestUser(services);
      expect(await b.sessions.validate(token ?? '')).not.toBeNull();
      await withTransaction(db, (trx) => services.sessions.revokeAllForUser(trx, user.id));
      await waitFor(async () => (await b.sessions.validate(token ?? '')) === null, 1000);
      // A rolled-back revocation announces nothing and deletes nothing.
      const other = await createTestUser(services);
      expect(await b.sessions.validate(other.token ?? '')).not.toBeNull();
      await expect(
        withTransaction(db, async (trx) => {
          await services.sessions.revokeAllForUser(trx, other.user.id);
          throw new Error('rollback');
        }),
      ).rejects.toThrow('rollback');
      expect(await b.sessions.validate(other.token ?? '')).not.toBeNull();
    } finally {
      await b.close();
      await dbB.close();
      await services.close();
      await cleanup();
    }
  });
});

describe.runIf(testDialects.includes('postgres'))('cross-instance user invalidation over PostgreSQL', () => {
  it('a demotion committed on A is seen by B on its next request after the notification', async () => {
    const { db, test, cleanup } = await createMigratedTestDb('postgres');
    const clock = new ManualClock();
    const a = await createTestServices(db, { clock });
    const dbB = test.open();
    const b = await createTestServices(dbB, { clock });
    try {
      const { user, token } = await createTestUser(a, { role: 'admin' });
      expect((await b.sessions.validate(token ?? ''))?.user.role).toBe('admin');
      await transact(a, async (work) => {
        await work.trx.updateTable('users').set({ role: 'member' }).where('id', '=', user.id).execute();
        work.invalidate({ userIds: [user.id] });
      });
      const ms = await waitFor(async () => (await b.sessions.validate(token ?? ''))?.user.role === 'member', 1000);
      expect(ms).toBeLessThan(1000);
      expect(await b.sessions.validate(token ?? '')).not.toBeNull();
    } finally {
      await b.close();
      await dbB.close();
      await a.close();
      await cleanup();
    }
  });
});

describe('cross-instance invalidation over Redis pub/sub', () => {
  let redis: Redis | null = null;
  beforeAll(async () => {
    redis = await connectTestRedis();
  });
  afterAll(async () => {
    await redis?.quit();
  });

  it.runIf(testDialects.includes('postgres'))(
    'a revocation on A reaches B through Redis within a second',
    async (ctx) => {
      if (!redis) return ctx.skip();
      const { db, test, cleanup } = await createMigratedTestDb('postgres');
      const dbB = test.open();
      const clock = new ManualClock();
      const throttle = { keyPrefix: uniqueTestPrefix('bus') };
      const a = await createTestServices(db, { clock, redis, throttle });
      const b = await createTestServices(dbB, { clock, redis, throttle });
      try {
        const { token, session } = await createTestUser(a);
        expect(await b.sessions.validate(token ?? '')).not.toBeNull();
        await withTransaction(db, (trx) => a.sessions.revoke(trx, session?.id ?? ''));
        await a.sessions.invalidate({ sessionIds: [session?.id ?? ''] });
        const ms = await waitFor(async () => (await b.sessions.validate(token ?? '')) === null, 1000);
        expect(ms).toBeLessThan(1000);
      } finally {
        await a.close();
        await b.close();
        await dbB.close();
        await cleanup();
      }
    },
  );
});
