import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../clock.js';
import { connectTestRedis, uniqueTestPrefix } from '../testing.js';
import { MemoryCounterStore, RedisCounterStore, type CounterStore } from './store.js';
import { createLoginThrottle, type LoginThrottle, type ThrottleOptions } from './throttle.js';

let redis: Redis | null = null;
beforeAll(async () => {
  redis = await connectTestRedis();
});
afterAll(async () => {
  await redis?.quit();
});

const stores: [string, () => CounterStore | null][] = [
  ['memory', () => new MemoryCounterStore()],
  ['redis', () => (redis ? new RedisCounterStore(redis, { keyPrefix: uniqueTestPrefix('throttle') }) : null)],
];

/** n attempts that all fail; returns the verdicts. */
async function fail(throttle: LoginThrottle, n: number, account: string, ip: string | null) {
  const verdicts = [];
  for (let i = 0; i < n; i++) verdicts.push(await throttle.attempt(account, ip));
  return verdicts;
}

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

  it('undo never goes below zero nor touches an ended window', async (ctx) => {
    const s = setup();
    if (!s) return ctx.skip();
    await s.store.undo('k', 0, 1000);
    expect(await s.store.peek('k', 0, 1000)).toBeNull();
    await s.store.hit('k', 0, 1000, 5);
    await s.store.undo('k', 10, 1000);
    await s.store.undo('k', 10, 1000);
    expect(await s.store.peek('k', 10, 1000)).toEqual({ count: 0, resetAtMs: 1000 });
    await s.store.hit('k', 20, 1000, 5);
    await s.store.undo('k', 1000, 1000);
    expect(await s.store.peek('k', 999, 1000)).toEqual({ count: 1, resetAtMs: 1000 });
  });
});

describe('memory counter store', () => {
  it('stays bounded', async () => {
    const store = new MemoryCounterStore({ maxKeys: 10 });
    for (let i = 0; i < 100; i++) await store.hit(`k${i}`, 0, 60_000, 5);
    expect(store.size).toBeLessThanOrEqual(10);
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
