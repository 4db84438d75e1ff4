import { withTransaction, type Db, type SessionRow } from '@gatehouse/db';
import { createMigratedTestDb, testDialects } from '@gatehouse/db/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../clock.js';
import type { Services } from '../services.js';
import { createTestServices, createTestUser } from '../testing.js';
import * as store from './store.js';
import { generateSessionToken } from './token.js';

const HOUR = 3_600_000;
const t0 = new Date('2026-03-01T00:00:00.000Z');
const at = (ms: number) => new Date(t0.getTime() + ms);

describe.each(testDialects)('the session store on %s', (dialect) => {
  let db: Db;
  let cleanup: () => Promise<void>;
  let services: Services;
  let userId: string;

  beforeEach(async () => {
    ({ db, cleanup } = await createMigratedTestDb(dialect));
    services = await createTestServices(db, { clock: new ManualClock(t0) });
    userId = (await createTestUser(services, { withSession: false })).user.id;
  });
  afterEach(async () => {
    await services.close();
    await cleanup();
  });

  function row(overrides: Partial<SessionRow> = {}): SessionRow {
    const { id, secretHash } = generateSessionToken();
    return {
      id,
      user_id: userId,
      secret_hash: secretHash,
      created_at: t0,
      expires_at: at(24 * HOUR),
      last_seen_at: t0,
      remember_me: false,
      ip: '192.0.2.7',
      authenticated_at: t0,
      user_agent: 'store-test',
      ...overrides,
    };
  }

  it('stores a row and reads it back by id with every column in its type', async () => {
    const written = row({ remember_me: true });
    await store.insertSession(db.kysely, written);
    const read = await store.selectSession(db.kysely, written.id);
    expect(read).toMatchObject({ ...written, secret_hash: expect.anything() });
    expect(read?.created_at).toBeInstanceOf(Date);
    expect(read?.remember_me).toBe(true);
    expect(Buffer.from(read?.secret_hash ?? []).equals(Buffer.from(written.secret_hash))).toBe(true);
    expect(await store.selectSession(db.kysely, 'nope')).toBeNull();
  });

  it('lists a user’s ids newest first, ties broken by id', async () => {
    const rows = [row({ created_at: at(1) }), row({ created_at: at(2) }), row({ created_at: at(2) })];
    for (const r of rows) await store.insertSession(db.kysely, r);
    const tied = [rows[1]?.id ?? '', rows[2]?.id ?? ''].sort().reverse();
    expect(await store.sessionIdsOfUser(db.kysely, userId)).toEqual([...tied, rows[0]?.id]);
  });

  it('touches last_seen_at, and the expiry only when given; false once the row is gone', async () => {
    const r = row();
    await store.insertSession(db.kysely, r);
    expect(await store.touchSession(db.kysely, r.id, { lastSeenAt: at(HOUR) })).toBe(true);
    expect(await store.selectSession(db.kysely, r.id)).toMatchObject({
      last_seen_at: at(HOUR),
      expires_at: r.expires_at,
    });
    expect(await store.touchSession(db.kysely, r.id, { lastSeenAt: at(2 * HOUR), expiresAt: at(30 * HOUR) })).toBe(
      true,
    );
    expect(await store.selectSession(db.kysely, r.id)).toMatchObject({
      last_seen_at: at(2 * HOUR),
      expires_at: at(30 * HOUR),
    });
    await store.deleteSession(db.kysely, r.id);
    expect(await store.touchSession(db.kysely, r.id, { lastSeenAt: at(3 * HOUR) })).toBe(false);
  });

  it('deletes one row (returning it), a list of ids, or all of a user’s rows but one', async () => {
    const [a, b, c, d] = [row(), row(), row(), row()];
    for (const r of [a, b, c, d]) await store.insertSession(db.kysely, r);
    expect((await store.deleteSession(db.kysely, a.id))?.id).toBe(a.id);
    expect(await store.deleteSession(db.kysely, a.id)).toBeNull();
    await store.deleteSessions(db.kysely, []);
    await store.deleteSessions(db.kysely, [b.id]);
    const removed = await withTransaction(db, (trx) => store.deleteSessionsOfUser(trx, userId, d.id));
    expect(removed).toEqual([c.id]);
    expect(await store.sessionIdsOfUser(db.kysely, userId)).toEqual([d.id]);
    expect(await store.deleteSessionsOfUser(db.kysely, userId)).toEqual([d.id]);
  });

  it('lists, counts and sweeps by the live window it is given (no policy of its own)', async () => {
    const live = row({ created_at: at(HOUR), expires_at: at(10 * HOUR) });
    const expired = row({ expires_at: at(2 * HOUR) });
    const tooOld = row({ created_at: at(0), expires_at: at(10 * HOUR) });
    for (const r of [live, expired, tooOld]) await store.insertSession(db.kysely, r);
    const window = { expiresAfter: at(2 * HOUR), createdAfter: at(0) };
    expect((await store.liveSessionsOfUser(db.kysely, userId, window)).map((r) => r.id)).toEqual([live.id]);
    expect(await store.countLiveSessions(db.kysely, window)).toBe(1);
    const swept = await withTransaction(db, (trx) => store.deleteDeadSessions(trx, window));
    expect(swept.sort()).toEqual([expired.id, tooOld.id].sort());
    expect(await store.sessionIdsOfUser(db.kysely, userId)).toEqual([live.id]);
  });

  it('queues session writers of one user behind the per-user lock', async () => {
    const order: string[] = [];
    const first = withTransaction(db, async (trx) => {
      await store.lockSessionOwner(db, trx, userId);
      order.push('first locked');
      await new Promise((r) => setTimeout(r, 150));
      await store.insertSession(trx, row());
      order.push('first done');
    });
    while (!order.includes('first locked')) await new Promise((r) => setTimeout(r, 5));
    const second = withTransaction(db, async (trx) => {
      await store.lockSessionOwner(db, trx, userId);
      order.push('second locked');
      await store.insertSession(trx, row());
    });
    await Promise.all([first, second]);
    expect(order).toEqual(['first locked', 'first done', 'second locked']);
    expect(await store.sessionIdsOfUser(db.kysely, userId)).toHaveLength(2);
  });
});
