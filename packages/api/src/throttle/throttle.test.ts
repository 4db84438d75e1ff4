import { createMigratedTestDb, testDialects, type TestDatabase } from '@gatehouse/db/testing';
import type { Db } from '@gatehouse/db';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../clock.js';
import { connectTestRedis, uniqueTestPrefix } from '../testing.js';
import { MemoryCounterStore, PostgresCounterStore, RedisCounterStore, type CounterStore } from './store.js';
import { createLoginThrottle, type LoginThrottle, type ThrottleOptions } from './throttle.js';

const hasPostgres = testDialects.includes('postgres');
let redis: Redis | null = null;
let pg: { db: Db; test: TestDatabase; cleanup(): Promise<void> } | null = null;
beforeAll(async () => {
  redis = await connectTestRedis();
  if (hasPostgres) pg = await createMigratedTestDb('postgres');
});
afterAll(async () => {
  await redis?.quit();
  await pg?.cleanup();
});

const stores: [string, () => CounterStore | null][] = [
  ['memory', () => new MemoryCounterStore()],
  ['redis', () => (redis ? new RedisCounterStore(redis, { keyPrefix: uniqueTestPrefix('throttle') }) : null)],
  ['postgres', () => (pg ? new PostgresCounterStore(pg.db.kysely, { keyPrefix: uniqueTestPrefix('throttle') }) : null)],
];

/** n attempts that all fail; returns the verdicts. */
async function fail(
  throttle: LoginThrottle,
  n: number,
  account: string,
  ip: string | null,
  options: Parameters<LoginThrottle['attempt']>[2] = {},
) {
  const verdicts = [];
  for (let i = 0; i < n; i++) verdicts.push(await throttle.attempt(account, ip, options));
  return verdicts;
}

const defaults: Partial<ThrottleOptions> = {};

describe.each(stores)('login throttle with the %s store', (_name, makeStore) => {
  function setup(
    options: Partial<ThrottleOptions> = { accountIpLimit: 3, accountLimit: 3, ipLimit: 5, windowMs: 60_000 },
  ) {
    const store = makeStore();
    if (!store) return null;
    const clock = new ManualClock();
    return { clock, store, throttle: createLoginThrottle(store, clock, options) };
  }

  it('lets attempts through up to the limit, then says how long to wait', async (ctx) => {
    const s = setup();
    if (!s) return ctx.skip();
    for (let i = 0; i < 3; i++) {
      expect(await s.throttle.attempt('ada', '10.0.0.1')).toBeNull();
      s.clock.advance(1000);
    }
    expect(await s.throttle.attempt('ada', '10.0.0.1')).toEqual({ scope: 'account_ip', retryAfterSeconds: 57 });
    // Another account from another address is not affected.
    expect(await s.throttle.attempt('grace', '10.0.0.2')).toBeNull();
  });

  it('opens again when the window ends, and hammering does not extend it', async (ctx) => {
    const s = setup();
    if (!s) return ctx.skip();
    await fail(s.throttle, 3, 'ada', null);
    expect(await s.throttle.attempt('ada', null)).toMatchObject({ scope: 'account', retryAfterSeconds: 60 });
    s.clock.advance(59_999);
    await fail(s.throttle, 10, 'ada', null);
    expect((await s.throttle.attempt('ada', null))?.retryAfterSeconds).toBe(1);
    s.clock.advance(1);
    expect(await s.throttle.attempt('ada', null)).toBeNull();
  });

  it('a success resets the account, gives the IP its attempt back, and keeps the IP’s failures', async (ctx) => {
    const s = setup();
    if (!s) return ctx.skip();
    await fail(s.throttle, 2, 'ada', '10.0.0.9');
    expect(await s.throttle.attempt('ada', '10.0.0.9')).toBeNull(); // the good one
    await s.throttle.succeeded('ada', '10.0.0.9');
    expect(await s.throttle.attempt('ada', '10.0.0.9')).toBeNull();
    await s.throttle.succeeded('ada', '10.0.0.9');
    // The IP has 2 failures counted; 3 more attempts reach its limit of 5.
    await fail(s.throttle, 3, 'bob', '10.0.0.9');
    expect(await s.throttle.attempt('mallory', '10.0.0.9')).toEqual({ scope: 'ip', retryAfterSeconds: 60 });
  });

  it('throttles an account per address first, so an attacker cannot lock the owner out everywhere', async (ctx) => {
    const s = setup({ accountIpLimit: 2, accountLimit: 4, ipLimit: 100, windowMs: 60_000 });
    if (!s) return ctx.skip();
    await fail(s.throttle, 2, 'ada', '10.6.6.6');
    expect(await s.throttle.attempt('ada', '10.6.6.6')).toMatchObject({ scope: 'account_ip' });
    expect(await s.throttle.attempt('ada', '192.0.2.10')).toBeNull();
    await s.throttle.succeeded('ada', '192.0.2.10');
    // Spread over many addresses, the account's own limit still holds.
    await fail(s.throttle, 1, 'ada', '10.7.7.7');
    await fail(s.throttle, 1, 'ada', '10.8.8.8');
    await fail(s.throttle, 1, 'ada', '10.9.9.9');
    await fail(s.throttle, 1, 'ada', '10.10.10.10');
    expect(await s.throttle.attempt('ada', '192.0.2.10')).toMatchObject({ scope: 'account' });
  });

  it('counts a burst of concurrent attempts exactly (no slipping past the limit)', async (ctx) => {
    const s = setup({ accountIpLimit: 5, accountLimit: 5, ipLimit: 1000, windowMs: 60_000 });
    if (!s) return ctx.skip();
    const verdicts = await Promise.all(Array.from({ length: 50 }, () => s.throttle.attempt('ada', '10.0.0.1')));
    expect(verdicts.filter((v) => v === null)).toHaveLength(5);
  });

  it('treats identifiers case-insensitively', async (ctx) => {
    const s = setup();
    if (!s) return ctx.skip();
    for (const id of ['Ada@Example.com', 'ada@example.com', 'ADA@EXAMPLE.COM']) await s.throttle.attempt(id, null);
    expect(await s.throttle.attempt('ada@example.com', null)).not.toBeNull();
  });

  it('one address can never keep the owner out, however many attempts it sends', async (ctx) => {
    const s = setup(defaults);
    if (!s) return ctx.skip();
    // The attack of issue 13: far more than the account-wide limit, sequential and in one burst.
    await fail(s.throttle, 100, 'admin', '10.6.6.6');
    await Promise.all(Array.from({ length: 50 }, () => s.throttle.attempt('admin', '10.6.6.6')));
    expect(await s.throttle.attempt('admin', '10.6.6.6')).toMatchObject({ scope: 'account_ip' });
    // Only the 5 the pair let through reached the account counter: the owner gets in elsewhere.
    expect(await s.throttle.attempt('admin', '192.0.2.10')).toBeNull();
    // It takes four addresses (4 × 5 = 20) to lock the account for everyone; three leave a way in.
    for (const ip of ['10.7.7.7', '10.8.8.8']) await fail(s.throttle, 30, 'admin', ip);
    expect(await s.throttle.attempt('admin', '192.0.2.11')).toBeNull();
  });

  it('attempts refused by the IP limit do not count on the account either', async (ctx) => {
    const s = setup({ accountIpLimit: 5, accountLimit: 6, ipLimit: 3, windowMs: 60_000 });
    if (!s) return ctx.skip();
    await fail(s.throttle, 3, 'someone', '10.6.6.6');
    for (let i = 0; i < 20; i++) expect(await s.throttle.attempt('ada', '10.6.6.6')).toMatchObject({ scope: 'ip' });
    expect(await fail(s.throttle, 6, 'ada', null)).toEqual(Array(6).fill(null));
    expect(await s.throttle.attempt('ada', null)).toMatchObject({ scope: 'account' });
  });

  it('a trusted device signs in while the account-wide lock is active, within its own limit', async (ctx) => {
    const s = setup({ ...defaults, accountLimit: 8 });
    if (!s) return ctx.skip();
    const devices = s.throttle.devices;
    const owner = devices.verify(devices.issue('user-1').value, 'user-1');
    expect(owner).not.toBeNull();
    for (const ip of ['10.1.1.1', '10.2.2.2']) await fail(s.throttle, 5, 'user:user-1', ip);
    expect(await s.throttle.attempt('user:user-1', '192.0.2.10')).toMatchObject({ scope: 'account' });
    // The owner's browser, even from the attacker's own address:
    expect(await s.throttle.attempt('user:user-1', '10.1.1.1', { device: owner })).toBeNull();
    await s.throttle.succeeded('user:user-1', '10.1.1.1', { device: owner });
    // Its success unlocks nothing for the others…
    expect(await s.throttle.attempt('user:user-1', '192.0.2.10')).toMatchObject({ scope: 'account' });
    // …and a device has a limit of its own (5), which other devices do not share.
    expect(await fail(s.throttle, 5, 'user:user-1', null, { device: owner })).toEqual(Array(5).fill(null));
    expect(await s.throttle.attempt('user:user-1', null, { device: owner })).toMatchObject({ scope: 'device' });
    const other = devices.verify(devices.issue('user-1').value, 'user-1');
    expect(await s.throttle.attempt('user:user-1', null, { device: other })).toBeNull();
  });
});

describe('flooding the memory store', () => {
  const options = { accountIpLimit: 5, accountLimit: 20, ipLimit: 50, windowMs: 60_000 };

  it('refused attempts create no counter keys', async () => {
    const store = new MemoryCounterStore();
    const throttle = createLoginThrottle(store, new ManualClock(), options);
    for (let i = 0; i < 50; i++) await throttle.attempt(`user${i}@example.com`, '10.6.6.6');
    const size = store.size;
    for (let i = 0; i < 5000; i++) {
      expect(await throttle.attempt(`flood${i}@example.com`, '10.6.6.6')).toMatchObject({ scope: 'ip' });
    }
    expect(store.size).toBe(size);
  });

  it('a flood of distinct identifiers from many addresses cannot reset a victim’s counters', async () => {
    const store = new MemoryCounterStore({ maxKeys: 200 });
    const clock = new ManualClock();
    const throttle = createLoginThrottle(store, clock, options);
    await fail(throttle, 5, 'victim', '10.6.6.6');
    for (const ip of ['10.7.7.7', '10.8.8.8']) await fail(throttle, 4, 'victim', ip);
    for (let i = 0; i < 20_000; i++) await throttle.attempt(`flood${i}`, `2001:db8::${i.toString(16)}`);
    expect(store.size).toBeLessThanOrEqual(200);
    // Still locked from the attacker's address, and the account still holds its 13 failures.
    expect(await throttle.attempt('victim', '10.6.6.6')).toMatchObject({ scope: 'account_ip' });
    expect(await fail(throttle, 7, 'victim', null)).toEqual(Array(7).fill(null));
    expect(await throttle.attempt('victim', null)).toMatchObject({ scope: 'account' });
  });
});

describe('redis counter store', () => {
  it('shares counters between instances (two stores on one Redis)', async (ctx) => {
    if (!redis) return ctx.skip();
    const prefix = uniqueTestPrefix('shared');
    const clock = new ManualClock();
    const a = createLoginThrottle(new RedisCounterStore(redis, { keyPrefix: prefix }), clock, { accountLimit: 2 });
    const b = createLoginThrottle(new RedisCounterStore(redis, { keyPrefix: prefix }), clock, { accountLimit: 2 });
    expect(await a.attempt('ada', null)).toBeNull();
    expect(await b.attempt('ada', null)).toBeNull();
    expect(await a.attempt('ada', null)).not.toBeNull();
    // Keys never hold the identifier in clear.
    const keys = await redis.keys(`${prefix}*`);
    expect(keys.length).toBe(1);
    expect(keys[0]).not.toContain('ada');
  });
});

describe.runIf(hasPostgres)('postgres counter store without Redis', () => {
  it('two throttles over two database handles share the limit (N + 1 is refused, not 2N + 1)', async () => {
    const other = pg!.test.open();
    try {
      const prefix = uniqueTestPrefix('instances');
      const clock = new ManualClock();
      const limits = { accountIpLimit: 5, accountLimit: 6 };
      const a = createLoginThrottle(new PostgresCounterStore(pg!.db.kysely, { keyPrefix: prefix }), clock, limits);
      const b = createLoginThrottle(new PostgresCounterStore(other.kysely, { keyPrefix: prefix }), clock, limits);
      for (let i = 0; i < 5; i++) expect(await (i % 2 === 0 ? a : b).attempt('ada', '10.0.0.1')).toBeNull();
      expect(await b.attempt('ada', '10.0.0.1')).toMatchObject({ scope: 'account_ip' });
      expect(await a.attempt('ada', '10.0.0.1')).toMatchObject({ scope: 'account_ip' });
      expect(await a.attempt('ada', '10.0.0.2')).toBeNull();
      expect(await b.attempt('ada', '10.0.0.3')).toMatchObject({ scope: 'account' });
    } finally {
      await other.close();
    }
  });
});
