/**
 * Migration 003 stores every account's normalized identifiers (NFKC, trimmed, lower-case) and
 * makes them unique, backfilling the rows that exist, on both dialects.
 */
import { sql, type Kysely } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import type { Db } from '../database.js';
import { createTestDatabase, testDialects, type TestDatabase } from '../testing.js';
import { migrations } from './index.js';

describe.each(testDialects)('003_user_identifiers on %s', (dialect) => {
  let test: TestDatabase | undefined;
  let db: Db | undefined;

  afterEach(async () => {
    await db?.close();
    await test?.drop();
  });

  /** A database at 002, with `rows` inserted as an older Gatehouse would have. */
  async function before003(rows: { id: string; email: string; username: string | null }[]): Promise<Kysely<unknown>> {
    test = await createTestDatabase(dialect);
    db = test.open();
    const k = db.kysely as unknown as Kysely<unknown>;
    for (const [name, migration] of migrations) {
      if (name === '003_user_identifiers') break;
      await migration.up(k, dialect);
    }
    const now = dialect === 'postgres' ? sql`now()` : sql`'2026-01-01T00:00:00.000Z'`;
    const yes = dialect === 'postgres' ? sql`true` : sql`1`;
    for (const row of rows) {
      await sql`insert into users (id, email, username, name, password_hash, role, is_active, created_at, updated_at)
        values (${row.id}, ${row.email}, ${row.username}, 'N', 'h', 'member', ${yes}, ${now}, ${now})`.execute(k);
    }
    return k;
  }

  const up003 = (k: Kysely<unknown>) => {
    const migration = migrations.find(([name]) => name === '003_user_identifiers')?.[1];
    if (!migration) throw new Error('003 is not registered');
    return migration.up(k, dialect);
  };

  it('backfills the keys of existing rows and makes them unique', async () => {
    const k = await before003([
      { id: 'a', email: ' Root@Example.COM', username: 'ＲＯＯＴ' },
      { id: 'b', email: 'other@example.com', username: null },
    ]);
    await up003(k);
    const { rows } = await sql<{ id: string; email_key: string; username_key: string | null }>`
      select id, email_key, username_key from users order by id`.execute(k);
    expect(rows).toEqual([
      { id: 'a', email_key: 'root@example.com', username_key: 'root' },
      { id: 'b', email_key: 'other@example.com', username_key: null },
    ]);
    const now = dialect === 'postgres' ? sql`now()` : sql`'2026-01-01T00:00:00.000Z'`;
    const insert = (id: string, emailKey: string, usernameKey: string | null) =>
      sql`insert into users (id, email, username, name, password_hash, role, is_active, created_at, updated_at, email_key, username_key)
        values (${id}, ${emailKey}, ${usernameKey}, 'N', 'h', 'member', ${dialect === 'postgres' ? sql`true` : sql`1`}, ${now}, ${now}, ${emailKey}, ${usernameKey})`.execute(
        k,
      );
    await expect(insert('c', 'root@example.com', null)).rejects.toThrow(/email_key|unique/i);
    await expect(insert('d', 'new@example.com', 'root')).rejects.toThrow(/username_key|unique/i);
    // Many accounts without a username are fine.
    await insert('e', 'third@example.com', null);
  });

  it('refuses to guess when two existing accounts normalize to the same identifier', async () => {
    // Distinct to lower() on both databases, the same after NFKC: a person has to choose.
    const k = await before003([
      { id: 'a', email: 'ａｄａ@example.com', username: null },
      { id: 'b', email: 'ada@example.com', username: null },
    ]);
    await expect(up003(k)).rejects.toThrow(/users a and b have the same normalized email/);
  });
});
