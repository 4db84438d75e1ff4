import { sql, type Kysely } from 'kysely';
import type { DialectName } from '../database.js';

/** Column types that differ between the two dialects. */
export function columnTypes(dialect: DialectName) {
  return {
    timestamp: dialect === 'postgres' ? ('timestamptz' as const) : ('text' as const),
    boolean: dialect === 'postgres' ? ('boolean' as const) : ('integer' as const),
    bytes: dialect === 'postgres' ? ('bytea' as const) : ('blob' as const),
    bigint: dialect === 'postgres' ? ('bigint' as const) : ('integer' as const),
    false: dialect === 'postgres' ? sql`false` : sql`0`,
  };
}

export async function up(db: Kysely<unknown>, dialect: DialectName): Promise<void> {
  const t = columnTypes(dialect);

  await db.schema
    .createTable('users')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('email', 'text', (c) => c.notNull())
    .addColumn('username', 'text')
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('password_hash', 'text', (c) => c.notNull())
    .addColumn('role', 'text', (c) => c.notNull().check(sql`role in ('admin', 'member')`))
    .addColumn('is_active', t.boolean, (c) => c.notNull())
    .addColumn('created_at', t.timestamp, (c) => c.notNull())
    .addColumn('updated_at', t.timestamp, (c) => c.notNull())
    .addColumn('last_sign_in_at', t.timestamp)
    .addColumn('mfa_enabled', t.boolean, (c) => c.notNull().defaultTo(t.false))
    .addColumn('mfa_secret', 'text')
    .execute();
  // Case-insensitive uniqueness; the API also stores emails lower-cased.
  await db.schema
    .createIndex('users_email_unique')
    .on('users')
    .unique()
    .expression(sql`lower(email)`)
    .execute();
  await db.schema
    .createIndex('users_username_unique')
    .on('users')
    .unique()
    .expression(sql`lower(username)`)
    .execute();
  await db.schema.createIndex('users_created_at_id').on('users').columns(['created_at', 'id']).execute();

  await db.schema
    .createTable('sessions')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('secret_hash', t.bytes, (c) => c.notNull())
    .addColumn('created_at', t.timestamp, (c) => c.notNull())
    .addColumn('expires_at', t.timestamp, (c) => c.notNull())
    .addColumn('last_seen_at', t.timestamp, (c) => c.notNull())
    .addColumn('remember_me', t.boolean, (c) => c.notNull())
    .addColumn('ip', 'text')
    .addColumn('user_agent', 'text')
    .execute();
  await db.schema.createIndex('sessions_user_id').on('sessions').columns(['user_id', 'created_at']).execute();
  await db.schema.createIndex('sessions_expires_at').on('sessions').column('expires_at').execute();

  await db.schema
    .createTable('audit_events')
    .addColumn('seq', t.bigint, (c) => c.primaryKey())
    .addColumn('at', t.timestamp, (c) => c.notNull())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('actor_id', 'text')
    .addColumn('target_id', 'text')
    .addColumn('ip', 'text')
    .addColumn('user_agent', 'text')
    .addColumn('data', 'text', (c) => c.notNull())
    .addColumn('leaf_hash', t.bytes, (c) => c.notNull())
    .execute();
  await db.schema.createIndex('audit_events_type_seq').on('audit_events').columns(['type', 'seq']).execute();
  await db.schema.createIndex('audit_events_actor_seq').on('audit_events').columns(['actor_id', 'seq']).execute();
  await db.schema.createIndex('audit_events_target_seq').on('audit_events').columns(['target_id', 'seq']).execute();
  await db.schema.createIndex('audit_events_at').on('audit_events').column('at').execute();
}
