import type { Kysely } from 'kysely';
import type { DialectName } from '../database.js';

/**
 * `users.external_id` (issue #17, `gatehouse import users`): the id a user had in the backend
 * Gatehouse replaced, kept so the old application's records can still be joined to its users.
 * Unique where set (several NULLs are allowed on both dialects); `user.byExternalId` reads it
 * through the index.
 */
export async function up(db: Kysely<unknown>, _dialect: DialectName): Promise<void> {
  await db.schema.alterTable('users').addColumn('external_id', 'text').execute();
  await db.schema.createIndex('users_external_id_unique').on('users').column('external_id').unique().execute();
}
