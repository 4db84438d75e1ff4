import { sql, type Kysely } from 'kysely';
import type { DialectName } from '../database.js';

/**
 * Sign-in throttle counters shared by every instance on PostgreSQL without Redis (see
 * packages/api/src/throttle/store.ts, PostgresCounterStore). UNLOGGED on PostgreSQL: counters
 * are worth no WAL traffic, and losing them in a crash only reopens every window early. On
 * SQLite the table exists for a uniform schema; the server keeps its counters in memory there.
 */
export async function up(db: Kysely<unknown>, dialect: DialectName): Promise<void> {
  if (dialect === 'postgres') {
    await sql`
      create unlogged table throttle_counters (
        key text primary key,
        start_ms bigint not null,
        expires_ms bigint not null,
        count integer not null
      )`.execute(db);
  } else {
    await db.schema
      .createTable('throttle_counters')
      .addColumn('key', 'text', (c) => c.primaryKey())
      .addColumn('start_ms', 'integer', (c) => c.notNull())
      .addColumn('expires_ms', 'integer', (c) => c.notNull())
      .addColumn('count', 'integer', (c) => c.notNull())
      .execute();
  }
  await db.schema.createIndex('throttle_counters_expires_ms').on('throttle_counters').column('expires_ms').execute();
}
