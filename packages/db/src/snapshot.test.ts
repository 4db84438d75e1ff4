import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSnapshot, type Db } from './database.js';
import { createMigratedTestDb, testDialects } from './testing.js';

async function addUser(db: Db): Promise<void> {
  const now = new Date();
  const email = `${randomUUID()}@example.com`;
  await db.kysely
    .insertInto('users')
    .values({
      id: randomUUID(),
      email,
      email_key: email,
      username: null,
      username_key: null,
      name: 'Snapshot',
      password_hash: '$argon2id$placeholder',
      role: 'member',
      is_active: true,
      created_at: now,
      updated_at: now,
      last_sign_in_at: null,
      mfa_secret: null,
      external_id: null,
    })
    .execute();
}

async function countUsers(db: Db['kysely']): Promise<number> {
  const row = await db
    .selectFrom('users')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

describe.each(testDialects)('a read snapshot on %s', (dialect) => {
  let db: Db;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    ({ db, cleanup } = await createMigratedTestDb(dialect));
    await addUser(db);
  });
  afterAll(async () => cleanup());

  it('does not see a write committed while it is open', async () => {
    const seen = await readSnapshot(db, async (snapshot) => {
      const before = await countUsers(snapshot);
      await addUser(db); // commits outside the snapshot, meanwhile
      const after = await countUsers(snapshot);
      return { before, after };
    });
    expect(seen.after).toBe(seen.before);
    expect(await countUsers(db.kysely)).toBe(seen.before + 1);
  });

  it('is read-only', async () => {
    await expect(readSnapshot(db, (snapshot) => snapshot.deleteFrom('users').execute())).rejects.toThrow(
      /read-only|readonly/,
    );
    expect(await countUsers(db.kysely)).toBeGreaterThan(0);
  });

  it('returns what its function returns, with the values converted as everywhere', async () => {
    const user = await readSnapshot(db, (snapshot) =>
      snapshot.selectFrom('users').select(['created_at', 'is_active']).limit(1).executeTakeFirstOrThrow(),
    );
    expect(user.created_at).toBeInstanceOf(Date);
    expect(user.is_active).toBe(true);
  });
});
