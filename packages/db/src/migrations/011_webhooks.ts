import { sql, type Kysely } from 'kysely';
import type { DialectName } from '../database.js';
import { columnTypes } from './001_initial.js';

/**
 * Issue #19, webhooks (packages/api/src/webhooks):
 * - webhook_endpoints: admin-configured receivers. The signing secret is sealed (AES-GCM with the
 *   MFA key, bound to the endpoint id), never stored in clear; during a rotation the previous one
 *   is kept sealed until `previous_secret_expires_at`. `cursor_seq` is the last audit seq handled
 *   (delivered, or skipped because it did not match); the worker leases a row with `locked_until`
 *   and `lease_token` so two instances never deliver one endpoint at once.
 * - webhook_deliveries: the delivery log, numbered per endpoint (`n`), one row per attempt.
 */
export async function up(db: Kysely<unknown>, dialect: DialectName): Promise<void> {
  const t = columnTypes(dialect);
  await db.schema
    .createTable('webhook_endpoints')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('url', 'text', (c) => c.notNull())
    .addColumn('description', 'text', (c) => c.notNull())
    .addColumn('events', 'text', (c) => c.notNull())
    .addColumn('secret_sealed', 'text', (c) => c.notNull())
    .addColumn('previous_secret_sealed', 'text')
    .addColumn('previous_secret_expires_at', t.timestamp)
    .addColumn('enabled', t.boolean, (c) => c.notNull())
    .addColumn('disabled_reason', 'text')
    .addColumn('disabled_at', t.timestamp)
    .addColumn('cursor_seq', t.bigint, (c) => c.notNull())
    .addColumn('failures', 'integer', (c) => c.notNull())
    .addColumn('first_failure_at', t.timestamp)
    .addColumn('next_attempt_at', t.timestamp, (c) => c.notNull())
    .addColumn('locked_until', t.timestamp)
    .addColumn('lease_token', 'text')
    .addColumn('last_error', 'text')
    .addColumn('deliveries', t.bigint, (c) => c.notNull())
    .addColumn('created_by', 'text', (c) => c.references('users.id').onDelete('set null'))
    .addColumn('created_at', t.timestamp, (c) => c.notNull())
    .addColumn('updated_at', t.timestamp, (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('webhook_endpoints_due')
    .on('webhook_endpoints')
    .columns(['enabled', 'next_attempt_at'])
    .execute();
  await db.schema
    .createTable('webhook_deliveries')
    .addColumn('endpoint_id', 'text', (c) => c.notNull().references('webhook_endpoints.id').onDelete('cascade'))
    .addColumn('n', t.bigint, (c) => c.notNull())
    /** The audit seq delivered; null for a `webhook.test` message. */
    .addColumn('seq', t.bigint)
    .addColumn('event_type', 'text', (c) => c.notNull())
    .addColumn('message_id', 'text', (c) => c.notNull())
    .addColumn('attempt', 'integer', (c) => c.notNull())
    .addColumn('ok', t.boolean, (c) => c.notNull())
    .addColumn('status_code', 'integer')
    .addColumn('error', 'text')
    .addColumn('response_excerpt', 'text')
    .addColumn('duration_ms', 'integer', (c) => c.notNull())
    .addColumn('at', t.timestamp, (c) => c.notNull())
    .addPrimaryKeyConstraint('webhook_deliveries_pk', ['endpoint_id', 'n'])
    .addCheckConstraint('webhook_deliveries_attempt', sql`attempt >= 1`)
    .execute();
}
