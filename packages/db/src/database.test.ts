import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Migrator, sql, type Kysely } from 'kysely';
import { withTransaction, type Db } from './database.js';
import { ForeignKeyViolationError, UniqueViolationError } from './errors.js';
import { migrateToLatest } from './migrate.js';
import { createMigratedTestDb, createTestDatabase, testDialects, type TestDatabase } from './testing.js';
import type { NewUserRow } from './schema.js';

function newUser(overrides: Partial<NewUserRow> = {}): NewUserRow {
  const now = new Date();
  const row = {
    id: randomUUID(),
    email: `${randomUUID()}@example.com`,
    username: null,
    name: 'Test User',
    password_hash: '$argon2id$placeholder',
    role: 'member' as const,
    is_active: true,
    created_at: now,
    updated_at: now,
    last_sign_in_at: null,
    mfa_secret: null,
    external_id: null,
    ...overrides,
  };
  // The normalized identifiers (migration 003), as the api's users module stores them.
  const key = (text: string) => text.normalize('NFKC').trim().toLowerCase();
  return { ...row, email_key: key(row.email), username_key: row.username ? key(row.username) : null };
}

describe.each(testDialects)('database on %s', (dialect) => {
  let db: Db;
  let testDb: TestDatabase;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    ({ db, test: testDb, cleanup } = await createMigratedTestDb(dialect));
  });
  afterAll(async () => cleanup());

  it('migrates an empty database, and a second run is a no-op', async () => {
    const fresh = await createTestDatabase(dialect);
    const handle = fresh.open();
    try {
      const first = await migrateToLatest(handle);
      expect(first.applied).toContain('001_initial');
      const second = await migrateToLatest(handle);
      expect(second.applied).toEqual([]);
    } finally {
      await handle.close();
      await fresh.drop();
    }
  });

  it('applies pending migrations all or nothing: a failing one leaves no earlier one behind', async () => {
    const fresh = await createTestDatabase(dialect);
    const handle = fresh.open();
    const tableNames = async () => (await handle.kysely.introspection.getTables()).map((table) => table.name);
    try {
      const migrator = new Migrator({
        db: handle.kysely,
        provider: {
          getMigrations: async () => ({
            '001_fine': {
              up: async (trx: Kysely<unknown>) => {
                await trx.schema.createTable('first_table').addColumn('id', 'integer').execute();
              },
            },
            '002_breaks': {
              up: async (trx: Kysely<unknown>) => {
                await trx.schema.createTable('second_table').addColumn('id', 'integer').execute();
                await sql`select * from no_such_table`.execute(trx);
              },
            },
          }),
        },
      });
      const { error, results } = await migrator.migrateToLatest();
      expect(error).toBeDefined();
      expect(results?.map((r) => [r.migrationName, r.status])).toEqual([
        ['001_fine', 'Success'],
        ['002_breaks', 'Error'],
      ]);
      // The successful first migration was rolled back with the failing one.
      const tables = await tableNames();
      expect(tables).not.toContain('first_table');
      expect(tables).not.toContain('second_table');
      const applied = await sql<{ name: string }>`select name from kysely_migration`.execute(handle.kysely);
      expect(applied.rows).toEqual([]);
    } finally {
      await handle.close();
      await fresh.drop();
    }
  });

  it('round-trips timestamps as Date in UTC and booleans as boolean', async () => {
    const at = new Date('2026-03-01T12:34:56.789Z');
    const user = newUser({ created_at: at, updated_at: at, is_active: false });
    await db.kysely.insertInto('users').values(user).execute();
    const row = await db.kysely.selectFrom('users').selectAll().where('id', '=', user.id).executeTakeFirstOrThrow();
    expect(row.created_at).toBeInstanceOf(Date);
    expect(row.created_at.toISOString()).toBe('2026-03-01T12:34:56.789Z');
    expect(row.is_active).toBe(false);
    expect(row.mfa_enabled).toBe(false);
    expect(row.last_sign_in_at).toBeNull();

    // Under a prefixed alias too (session validation joins the user as u_*).
    const aliased = await db.kysely
      .selectFrom('users')
      .select([
        'users.is_active as u_is_active',
        'users.mfa_enabled as u_mfa_enabled',
        'users.created_at as u_created_at',
      ])
      .where('id', '=', user.id)
      .executeTakeFirstOrThrow();
    expect(aliased).toEqual({ u_is_active: false, u_mfa_enabled: false, u_created_at: at });
  });

  it('compares timestamps in time order', async () => {
    const user = newUser();
    await db.kysely.insertInto('users').values(user).execute();
    const base = Date.parse('2026-01-01T00:00:00.000Z');
    for (const [i, offset] of [5_000, 50, 500_000].entries()) {
      await db.kysely
        .insertInto('sessions')
        .values({
          id: `order-${dialect}-${i}`,
          user_id: user.id,
          secret_hash: new Uint8Array(32),
          created_at: new Date(base),
          expires_at: new Date(base + offset),
          last_seen_at: new Date(base),
          remember_me: false,
          ip: null,
          user_agent: null,
        })
        .execute();
    }
    const expiring = await db.kysely
      .selectFrom('sessions')
      .select('id')
      .where('user_id', '=', user.id)
      .where('expires_at', '<', new Date(base + 10_000))
      .orderBy('expires_at')
      .execute();
    expect(expiring.map((r) => r.id)).toEqual([`order-${dialect}-1`, `order-${dialect}-0`]);
  });

  it('rejects an email or username that differs only in case, as a typed error', async () => {
    await db.kysely
      .insertInto('users')
      .values(newUser({ email: 'case@example.com', username: 'CaseUser' }))
      .execute();
    const emailClash = withTransaction(db, (trx) =>
      trx
        .insertInto('users')
        .values(newUser({ email: 'CASE@Example.com' }))
        .execute(),
    );
    await expect(emailClash).rejects.toBeInstanceOf(UniqueViolationError);
    await expect(emailClash).rejects.toMatchObject({ field: 'email' });
    const usernameClash = withTransaction(db, (trx) =>
      trx
        .insertInto('users')
        .values(newUser({ username: 'caseuser' }))
        .execute(),
    );
    await expect(usernameClash).rejects.toMatchObject({ field: 'username' });
    // Many users may have no username.
    await db.kysely.insertInto('users').values([newUser(), newUser()]).execute();
  });

  it('deletes a user’s sessions with the user, and refuses sessions of unknown users', async () => {
    const user = newUser();
    await db.kysely.insertInto('users').values(user).execute();
    const now = new Date();
    const session = {
      user_id: user.id,
      secret_hash: new Uint8Array(32).fill(7),
      created_at: now,
      expires_at: now,
      last_seen_at: now,
      remember_me: true,
      ip: '127.0.0.1',
      user_agent: 'vitest',
    };
    await db.kysely
      .insertInto('sessions')
      .values({ ...session, id: `cascade-${dialect}` })
      .execute();
    const stored = await db.kysely
      .selectFrom('sessions')
      .selectAll()
      .where('id', '=', `cascade-${dialect}`)
      .executeTakeFirstOrThrow();
    expect(Buffer.from(stored.secret_hash).equals(Buffer.alloc(32, 7))).toBe(true);
    expect(stored.remember_me).toBe(true);

    await db.kysely.deleteFrom('users').where('id', '=', user.id).execute();
    const left = await db.kysely.selectFrom('sessions').select('id').where('user_id', '=', user.id).execute();
    expect(left).toEqual([]);

    const orphan = withTransaction(db, (trx) =>
      trx
        .insertInto('sessions')
        .values({ ...session, id: `orphan-${dialect}`, user_id: randomUUID() })
        .execute(),
    );
    await expect(orphan).rejects.toBeInstanceOf(ForeignKeyViolationError);
  });

  it('rolls a failed transaction back completely', async () => {
    const first = newUser({ email: `rollback-${dialect}@example.com` });
    await expect(
      withTransaction(db, async (trx) => {
        await trx.insertInto('users').values(first).execute();
        await trx
          .insertInto('users')
          .values(newUser({ email: first.email }))
          .execute();
      }),
    ).rejects.toBeInstanceOf(UniqueViolationError);
    const found = await db.kysely.selectFrom('users').select('id').where('id', '=', first.id).execute();
    expect(found).toEqual([]);
  });

  it('keeps every write of concurrent writers on two connections', async () => {
    // On PostgreSQL a second pool stands in for a second server instance. better-sqlite3 is
    // synchronous, so in one process SQLite writers share one connection and Kysely queues
    // their transactions; a second SQLite connection here would block the event loop.
    const other = dialect === 'postgres' ? testDb.open() : db;
    try {
      const writers = 20;
      const results = await Promise.allSettled(
        Array.from({ length: writers }, (_, i) =>
          withTransaction(i % 2 === 0 ? db : other, async (trx) => {
            await trx
              .insertInto('users')
              .values(newUser({ email: `writer-${dialect}-${i}@example.com` }))
              .execute();
            const seen = await trx
              .selectFrom('users')
              .select('id')
              .where('email', '=', `writer-${dialect}-${i}@example.com`)
              .execute();
            expect(seen).toHaveLength(1);
          }),
        ),
      );
      expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
      const total = await db.kysely
        .selectFrom('users')
        .select(sql<number>`count(*)`.as('n'))
        .where('email', 'like', `writer-${dialect}-%`)
        .executeTakeFirstOrThrow();
      expect(Number(total.n)).toBe(writers);
    } finally {
      if (other !== db) await other.close();
    }
  });

  it('stores the audit event columns', async () => {
    await db.kysely
      .insertInto('audit_events')
      .values({
        seq: 1,
        at: new Date(),
        type: 'auth.setup',
        actor_id: null,
        target_id: null,
        ip: null,
        user_agent: null,
        data: '{}',
        leaf_hash: new Uint8Array(32),
      })
      .execute();
    const duplicate = withTransaction(db, (trx) =>
      trx
        .insertInto('audit_events')
        .values({
          seq: 1,
          at: new Date(),
          type: 'x',
          actor_id: null,
          target_id: null,
          ip: null,
          user_agent: null,
          data: '{}',
          leaf_hash: new Uint8Array(32),
        })
        .execute(),
    );
    await expect(duplicate).rejects.toBeInstanceOf(UniqueViolationError);
  });
});
