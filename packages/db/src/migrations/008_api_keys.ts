import { sql, type Kysely } from 'kysely';
import type { DialectName } from '../database.js';
import { columnTypes } from './001_initial.js';

/**
 * Issue 16 (bridges): service accounts and API keys.
 * - `users.kind`: `person` (everyone so far) or `service` (a non-human account that owns API keys,
 *   has no password and cannot sign in).
 * - `api_keys`: keys `gh_<id>_<secret>`; only the id and SHA-256(secret) are stored (see
 *   packages/api/src/api-keys/token.ts for why a fast hash is right for a 256-bit secret).
 *   `scopes` is a space-separated list (the OAuth `scope` spelling). A rotated key keeps working
 *   until its `expires_at`, which rotation moves to the end of the grace period.
 */
export async function up(db: Kysely<unknown>, dialect: DialectName): Promise<void> {
  const t = columnTypes(dialect);
  await db.schema
    .alterTable('users')
    .addColumn('kind', 'text', (c) =>
      c
        .notNull()
        .defaultTo('person')
        .check(sql`kind in ('person', 'service')`),
    )
    .execute();
  await db.schema
    .createTable('api_keys')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('secret_hash', t.bytes, (c) => c.notNull())
    .addColumn('scopes', 'text', (c) => c.notNull())
    .addColumn('created_at', t.timestamp, (c) => c.notNull())
    .addColumn('expires_at', t.timestamp)
    .addColumn('last_used_at', t.timestamp)
    .addColumn('rotated_from', 'text')
    .execute();
  await db.schema.createIndex('api_keys_user_created').on('api_keys').columns(['user_id', 'created_at']).execute();
}
