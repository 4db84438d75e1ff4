/**
 * One contract, three stores: every CounterStore passes the same spec (memory, Redis,
 * PostgreSQL), then each store's own promises (bounded memory, sharing between instances).
 */
import { sql, type Db } from '@gatehouse/db';
import { createMigratedTestDb, testDialects, type TestDatabase } from '@gatehouse/db/testing';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectTestRedis, uniqueTestPrefix } from '../testing.js';
import { MemoryCounterStore, PostgresCounterStore, RedisCounterStore, type CounterStore } from './store.js';

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

export const counterStores: [string, () => CounterStore | null][] = [
  ['memory', () => new MemoryCounterStore()],
  ['redis', () => (redis ? new RedisCounterStore(redis, { keyPrefix: uniqueTestPrefix('store') }) : null)],
  ['postgres', () => (pg ? new PostgresCounterStore(pg.db.kysely, { keyPrefix: uniqueTestPrefix('store') }) : null)],
];

const WINDOW = 60_000;
const LIMIT = 5;

describe.each(counterStores)('the %s counter store', (_name, makeStore) => {
  it('opens a window at the first hit and counts within it', async (ctx) => {
    const store = makeStore();
    if (!store) return ctx.skip();
    expect(await store.hit('k', 1_000, WINDOW, LIMIT)).toEqual({ count: 1, resetAtMs: 61_000 });
    expect(await store.hit('k', 30_000, WINDOW, LIMIT)).toEqual({ count: 2, resetAtMs: 61_000 });
    expect(await store.peek('k', 60_999, WINDOW)).toEqual({ count: 2, resetAtMs: 61_000 });
    // The window never moves: at its end the next hit opens a new one.
    expect(await store.peek('k', 61_000, WINDOW)).toBeNull();
    expect(await store.hit('k', 61_000, WINDOW, LIMIT)).toEqual({ count: 1, resetAtMs: 121_000 });
  });

  it('peeks without creating anything', async (ctx) => {
    const store = makeStore();
    if (!store) return ctx.skip();
    expect(await store.peek('absent', 0, WINDOW)).toBeNull();
    expect(await store.peek('absent', 0, WINDOW)).toBeNull();
    expect(await store.hit('absent', 0, WINDOW, LIMIT)).toMatchObject({ count: 1 });
  });

  it('undo never goes below zero nor touches an ended window', async (ctx) => {
    const store = makeStore();
    if (!store) return ctx.skip();
    await store.undo('k', 0, 1000);
    expect(await store.peek('k', 0, 1000)).toBeNull();
    await store.hit('k', 0, 1000, LIMIT);
    await store.undo('k', 10, 1000);
    await store.undo('k', 10, 1000);
    expect(await store.peek('k', 10, 1000)).toEqual({ count: 0, resetAtMs: 1000 });
    await store.hit('k', 20, 1000, LIMIT);
    await store.undo('k', 1000, 1000);
    expect(await store.peek('k', 999, 1000)).toEqual({ count: 1, resetAtMs: 1000 });
  });

  it('reset forgets the counter, and keys are independent', async (ctx) => {
    const store = makeStore();
    if (!store) return ctx.skip();
    await store.hit('a', 0, WINDOW, LIMIT);
    await store.hit('a', 0, WINDOW, LIMIT);
    await store.hit('b', 0, WINDOW, LIMIT);
    await store.reset('a');
    expect(await store.peek('a', 1, WINDOW)).toBeNull();
    expect(await store.peek('b', 1, WINDOW)).toEqual({ count: 1, resetAtMs: WINDOW });
  });

  it('counts concurrent hits exactly: each sees its own count', async (ctx) => {
    const store = makeStore();
    if (!store) return ctx.skip();
    const states = await Promise.all(Array.from({ length: 40 }, () => store.hit('burst', 5, WINDOW, LIMIT)));
    expect(states.map((s) => s.count).sort((a, b) => a - b)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    expect(new Set(states.map((s) => s.resetAtMs))).toEqual(new Set([5 + WINDOW]));
  });
});

describe('memory counter store bound', () => {
  it('stays bounded under a flood of new keys', async () => {
    const store = new MemoryCounterStore({ maxKeys: 10 });
    for (let i = 0; i < 100; i++) await store.hit(`k${i}`, 0, WINDOW, LIMIT);
    expect(store.size).toBeLessThanOrEqual(10);
  });

  it('never drops a counter at its limit, and drops the fewest attempts first', async () => {
    const store = new MemoryCounterStore({ maxKeys: 20 });
    for (let i = 0; i < LIMIT; i++) await store.hit('victim-locked', 0, WINDOW, LIMIT);
    for (let i = 0; i < LIMIT - 1; i++) await store.hit('victim-four', 0, WINDOW, LIMIT);
    for (let i = 0; i < 10_000; i++) await store.hit(`flood${i}`, 1, WINDOW, LIMIT);
    expect(store.size).toBeLessThanOrEqual(20);
    expect(await store.peek('victim-locked', 2, WINDOW)).toEqual({ count: LIMIT, resetAtMs: WINDOW });
    expect(await store.peek('victim-four', 2, WINDOW)).toEqual({ count: LIMIT - 1, resetAtMs: WINDOW });
  });

  it('grows past its bound only by counters at their limit, and shrinks back when they end', async () => {
    const store = new MemoryCounterStore({ maxKeys: 10 });
    for (let i = 0; i < 30; i++) for (let n = 0; n < LIMIT; n++) await store.hit(`locked${i}`, 0, WINDOW, LIMIT);
    for (let i = 0; i < 100; i++) await store.hit(`flood${i}`, 1, WINDOW, LIMIT);
    for (let i = 0; i < 30; i++) expect(await store.peek(`locked${i}`, 2, WINDOW)).toMatchObject({ count: LIMIT });
    expect(store.size).toBeLessThanOrEqual(30 + 10);
    for (let i = 0; i < 100; i++) await store.hit(`later${i}`, WINDOW, WINDOW, LIMIT);
    expect(store.size).toBeLessThanOrEqual(10);
  });

  it('drops ended windows before anything else', async () => {
    const store = new MemoryCounterStore({ maxKeys: 3 });
    await store.hit('old', 0, 1000, LIMIT);
    await store.hit('new1', 900, 1000, LIMIT);
    await store.hit('new2', 900, 1000, LIMIT);
    await store.hit('new3', 1000, 1000, LIMIT);
    expect(await store.peek('old', 1000, 1000)).toBeNull();
    expect(await store.peek('new1', 1000, 1000)).toMatchObject({ count: 1 });
    expect(await store.peek('new2', 1000, 1000)).toMatchObject({ count: 1 });
  });
});

describe.runIf(hasPostgres)('postgres counter store', () => {
  it('shares counters between two handles on one database', async () => {
    const other = pg!.test.open();
    try {
      const prefix = uniqueTestPrefix('shared');
      const a = new PostgresCounterStore(pg!.db.kysely, { keyPrefix: prefix });
      const b = new PostgresCounterStore(other.kysely, { keyPrefix: prefix });
      const states = await Promise.all(
        Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? a : b).hit('k', 0, WINDOW, LIMIT)),
      );
      expect(Math.max(...states.map((s) => s.count))).toBe(20);
      expect(await b.peek('k', 1, WINDOW)).toEqual({ count: 20, resetAtMs: WINDOW });
    } finally {
      await other.close();
    }
  });

  it('deletes ended windows periodically, on the next hit after the sweep interval', async () => {
    const prefix = uniqueTestPrefix('sweep');
    const store = new PostgresCounterStore(pg!.db.kysely, { keyPrefix: prefix, sweepIntervalMs: 10_000 });
    const rows = async () =>
      (
        await pg!.db.kysely
          .withTables<{ throttle_counters: { key: string } }>()
          .selectFrom('throttle_counters')
          .select('key')
          .where('key', 'like', `${prefix}%`)
          .execute()
      ).map((r) => r.key.slice(prefix.length));
    await store.hit('short', 1_000_000, 1000, LIMIT);
    await store.hit('long', 1_000_000, WINDOW, LIMIT);
    await store.hit('long', 1_005_000, WINDOW, LIMIT); // within the interval: no sweep yet
    expect((await rows()).sort()).toEqual(['long', 'short']);
    await store.hit('long', 1_010_000, WINDOW, LIMIT);
    expect(await rows()).toEqual(['long']);
    expect(await store.peek('long', 1_010_000, WINDOW)).toMatchObject({ count: 3 });
  });

  it('keeps counters in an UNLOGGED table', async () => {
    const { rows } = await sql<{
      relpersistence: string;
    }>`select relpersistence from pg_class where relname = 'throttle_counters'`.execute(pg!.db.kysely);
    expect(rows[0]?.relpersistence).toBe('u');
  });
});
