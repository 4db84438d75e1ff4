import { sql, type Kysely } from 'kysely';
import type { DialectName } from '../database.js';
import { columnTypes } from './001_initial.js';

/**
 * Cache invalidations for the other processes on one SQLite file (packages/api/src/sessions/
 * invalidation.ts, SqliteBus): each committed change that makes cached sessions or users stale
 * writes a row here in its own transaction; every process polls `PRAGMA data_version` and reads
 * the rows it has not seen. AUTOINCREMENT: ids only grow, so pruning never lets one be reused.
 * On PostgreSQL (LISTEN/NOTIFY or Redis carry invalidations) the table exists for a uniform schema.
 */
export async function up(db: Kysely<unknown>, dialect: DialectName): Promise<void> {
  const t = columnTypes(dialect);
  await db.schema
    .createTable('invalidations')
    .addColumn('id', t.bigint, (c) =>
      dialect === 'postgres' ? c.primaryKey().generatedByDefaultAsIdentity() : c.primaryKey().autoIncrement(),
    )
    .addColumn('at', t.timestamp, (c) => c.notNull())
    .addColumn('origin', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind in ('session', 'user')`))
    .addColumn('target_id', 'text', (c) => c.notNull())
    .execute();
}
