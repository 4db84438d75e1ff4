/**
 * Several instances (issue 8): two built servers, separate processes, on one PostgreSQL database
 * (+ Redis). A revocation on one is refused at once by the other (its session cache is
 * invalidated through PostgreSQL LISTEN/NOTIFY, or Redis pub/sub when REDIS_URL is set),
 * sign-in throttling is shared through Redis, and concurrent appends through both form one
 * gap-free audit log that verifies on either.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '@gatehouse/db/testing';
import {
  checkDatabase,
  createFirstAdmin,
  ok,
  spawnServer,
  trpc,
  verifyAudit,
  type ServerProcess,
  type SignedIn,
} from './harness.js';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const PASSWORD = 'instances-Member-pass-1732';

interface Pair {
  a: ServerProcess;
  b: ServerProcess;
  database: TestDatabase;
  admin: SignedIn;
  dir: string;
}

async function startPair(redis: boolean): Promise<Pair> {
  const database = await createTestDatabase('postgres');
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-instances-'));
  // One audit signing key for the deployment, as two replicas would mount it.
  const env: Record<string, string> = {
    DATABASE_URL: database.url,
    AUDIT_KEY_FILE: join(dir, 'audit.key'),
    DATABASE_POOL_SIZE: '4',
  };
  if (redis) env.REDIS_URL = REDIS_URL;
  const a = await spawnServer(dir, env);
  const b = await spawnServer(dir, env);
  const admin = await createFirstAdmin(a.url);
  return { a, b, database, admin, dir };
}

async function stopPair(pair: Pair | undefined): Promise<void> {
  if (!pair) return;
  await pair.a.stop();
  await pair.b.stop();
  await pair.database.drop();
  rmSync(pair.dir, { recursive: true, force: true });
}

async function newMember(pair: Pair): Promise<string> {
  const email = `m-${randomBytes(6).toString('hex')}@instances.test`;
  await ok(pair.a.url, 'mutation', 'user.create', { email, name: 'Member', password: PASSWORD }, pair.admin.token);
  return email;
}

/** Milliseconds until `auth.me` with `token` on `url` answers 401 (polled), or throws after 5 s. */
async function refusedWithin(url: string, token: string): Promise<number> {
  const started = Date.now();
  for (;;) {
    const me = await trpc(url, 'query', 'auth.me', undefined, token);
    if (me.status === 401) return Date.now() - started;
    expect(me.status).toBe(200);
    if (Date.now() - started > 5_000) throw new Error('the other instance still accepts the revoked session after 5 s');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function revocationPropagates(pair: Pair): Promise<number[]> {
  const email = await newMember(pair);
  const delays: number[] = [];
  // 1) one session revoked by id on A; 2) sign-out on B seen by A; 3) an admin revoking all on A.
  const s1 = await ok<SignedIn>(pair.a.url, 'mutation', 'auth.signIn', { identifier: email, password: PASSWORD });
  const s2 = await ok<SignedIn>(pair.b.url, 'mutation', 'auth.signIn', { identifier: email, password: PASSWORD });
  for (const token of [s1.token, s2.token]) {
    // Each instance has validated (and cached) both sessions.
    expect((await trpc(pair.a.url, 'query', 'auth.me', undefined, token)).status).toBe(200);
    expect((await trpc(pair.b.url, 'query', 'auth.me', undefined, token)).status).toBe(200);
  }
  await ok(pair.a.url, 'mutation', 'session.revoke', { id: s1.token.slice(0, s1.token.indexOf('.')) }, s2.token);
  delays.push(await refusedWithin(pair.b.url, s1.token));
  await ok(pair.b.url, 'mutation', 'auth.signOut', {}, s2.token);
  delays.push(await refusedWithin(pair.a.url, s2.token));

  const s3 = await ok<SignedIn & { user: { id: string } }>(pair.b.url, 'mutation', 'auth.signIn', {
    identifier: email,
    password: PASSWORD,
  });
  expect((await trpc(pair.b.url, 'query', 'auth.me', undefined, s3.token)).status).toBe(200);
  await ok(pair.a.url, 'mutation', 'session.revokeAllForUser', { userId: s3.user.id }, pair.admin.token);
  delays.push(await refusedWithin(pair.b.url, s3.token));
  return delays;
}

describe('two instances on one PostgreSQL database', () => {
  let pair: Pair | undefined;
  beforeAll(async () => {
    pair = await startPair(false);
  }, 60_000);
  afterAll(() => stopPair(pair), 30_000);

  it('a revocation on one is refused at once by the other (LISTEN/NOTIFY)', async () => {
    const delays = await revocationPropagates(pair!);
    console.log(`instances (PostgreSQL NOTIFY): revocation seen by the other instance after ${delays.join(', ')} ms`);
    for (const ms of delays) expect(ms).toBeLessThan(2_000);
  });
});

describe('two instances on one PostgreSQL database + Redis', () => {
  let pair: Pair | undefined;
  let redis: Redis;
  beforeAll(async () => {
    redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 2 });
    pair = await startPair(true);
  }, 60_000);
  afterAll(async () => {
    await stopPair(pair);
    // This test's failures from 127.0.0.1 must not count against later runs on this machine.
    await redis.del('gatehouse:throttle:i:127.0.0.1');
    await redis.quit();
  }, 30_000);

  it('a revocation on one is refused at once by the other (Redis pub/sub)', async () => {
    const delays = await revocationPropagates(pair!);
    console.log(`instances (Redis): revocation seen by the other instance after ${delays.join(', ')} ms`);
    for (const ms of delays) expect(ms).toBeLessThan(2_000);
  });

  it('shares sign-in throttling: failures on both count toward one limit', async () => {
    const email = await newMember(pair!);
    const limit = 5; // failures per account and IP (defaultThrottleOptions.accountIpLimit)
    const statuses: number[] = [];
    for (let i = 0; i < limit; i++) {
      const url = i % 2 === 0 ? pair!.a.url : pair!.b.url;
      statuses.push(
        (await trpc(url, 'mutation', 'auth.signIn', { identifier: email, password: 'not-the-password' })).status,
      );
    }
    expect(statuses).toEqual(Array(limit).fill(401));
    // Neither instance saw 5 failures itself; together they did: both now refuse, even the right password.
    for (const url of [pair!.a.url, pair!.b.url]) {
      const next = await trpc(url, 'mutation', 'auth.signIn', { identifier: email, password: PASSWORD });
      expect(next.status).toBe(429);
      expect(next.code).toBe('TOO_MANY_REQUESTS');
    }
  });

  it('concurrent appends through both form one gap-free log that verifies on either', async () => {
    const { a, b, admin } = pair!;
    const member = await ok<SignedIn>(b.url, 'mutation', 'auth.signIn', {
      identifier: await newMember(pair!),
      password: PASSWORD,
    });
    const writes: Promise<unknown>[] = [];
    for (let i = 0; i < 40; i++) {
      writes.push(ok(a.url, 'mutation', 'auth.updateProfile', { name: `Admin ${i}` }, admin.token));
      writes.push(ok(b.url, 'mutation', 'auth.updateProfile', { name: `Member ${i}` }, member.token));
    }
    await Promise.all(writes);
    const onA = await verifyAudit(a.url, admin.token);
    const onB = await verifyAudit(b.url, admin.token);
    expect(onA).toMatchObject({ ok: true, reason: null, firstInvalidSeq: null });
    expect(onB).toMatchObject({ ok: true, reason: null, firstInvalidSeq: null });
    expect(onA.treeSize).toBe(onB.treeSize);
    expect(onA.treeSize).toBeGreaterThanOrEqual(80);
    const report = await checkDatabase(pair!.database.url);
    expect(report.problems).toEqual([]);
    expect(report.auditEvents).toBe(onA.treeSize);
  });
});
