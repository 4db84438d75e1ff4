import { sql, type Kysely } from 'kysely';
import type { DialectName } from '../database.js';

/**
 * One identifier rule: every account stores the normalized form of its email and username
 * (`email_key`, `username_key`: Unicode NFKC, trimmed, lower-cased), unique, and every look-up
 * compares against these columns. The rule itself lives in packages/api/src/users/identifier.ts;
 * this is a frozen copy of it as of this migration, so the backfill never changes meaning.
 * Replaces the `lower(email)` / `lower(username)` indexes of 001, which the databases lower-case
 * differently (SQLite ASCII only, PostgreSQL by locale).
 */
function identifierKey(text: string): string {
  return text.normalize('NFKC').trim().toLowerCase();
}

interface IdentifierRow {
  id: string;
  email: string;
  username: string | null;
}

export async function up(db: Kysely<unknown>, dialect: DialectName): Promise<void> {
  // SQLite cannot add a NOT NULL column without a default; the backfill below replaces it.
  await db.schema
    .alterTable('users')
    .addColumn('email_key', 'text', (c) => (dialect === 'sqlite' ? c.notNull().defaultTo('') : c))
    .execute();
  await db.schema.alterTable('users').addColumn('username_key', 'text').execute();

  const { rows } = await sql<IdentifierRow>`select id, email, username from users`.execute(db);
  const owners = new Map<string, string>();
  for (const row of rows) {
    const emailKey = identifierKey(row.email);
    const usernameKey = row.username === null ? null : identifierKey(row.username);
    for (const key of [`email:${emailKey}`, ...(usernameKey === null ? [] : [`username:${usernameKey}`])]) {
      const other = owners.get(key);
      if (other !== undefined) {
        throw new Error(
          `users ${other} and ${row.id} have the same normalized ${key.split(':')[0]}: rename one, then migrate again`,
        );
      }
      owners.set(key, row.id);
    }
    await sql`update users set email_key = ${emailKey}, username_key = ${usernameKey} where id = ${row.id}`.execute(db);
  }
  if (dialect === 'postgres') await sql`alter table users alter column email_key set not null`.execute(db);

  await db.schema.dropIndex('users_email_unique').execute();
  await db.schema.dropIndex('users_username_unique').execute();
  await db.schema.createIndex('users_email_key_unique').on('users').unique().column('email_key').execute();
  await db.schema.createIndex('users_username_key_unique').on('users').unique().column('username_key').execute();
}
