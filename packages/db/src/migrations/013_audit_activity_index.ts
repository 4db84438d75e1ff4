import type { Kysely } from 'kysely';
import type { DialectName } from '../database.js';

/**
 * Issue #19, activity charts (packages/api/src/audit/activity.ts): `audit.activity` counts
 * events of a few types per time bucket over a range. (type, at) lets both databases read
 * exactly those rows, one index range per type, from the index alone (it holds both columns the
 * query needs), instead of walking the whole range of `audit_events_at` and looking every row up.
 */
export async function up(db: Kysely<unknown>, _dialect: DialectName): Promise<void> {
  await db.schema.createIndex('audit_events_type_at').on('audit_events').columns(['type', 'at']).execute();
}
