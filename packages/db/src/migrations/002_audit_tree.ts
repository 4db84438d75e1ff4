import { sql, type Kysely } from 'kysely';
import type { DialectName } from '../database.js';
import { columnTypes } from './001_initial.js';

/**
 * The audit log's Merkle tree state, next to `audit_events` (see packages/api/src/audit):
 * - audit_head: the single tree head row (size, compact-range frontier, root). Appends lock it
 *   (`SELECT … FOR UPDATE` on PostgreSQL) so concurrent writers serialize and the log never forks.
 * - audit_nodes: hashes of complete subtrees at every 4th level (4, 8, 12, …), written as appends
 *   complete them; with the leaf hashes in audit_events they give any proof in O(log n) reads.
 * - audit_checkpoints: signed tree heads (C2SP signed notes), one per tree size.
 */
export async function up(db: Kysely<unknown>, dialect: DialectName): Promise<void> {
  const t = columnTypes(dialect);

  await db.schema
    .createTable('audit_head')
    .addColumn('id', 'integer', (c) => c.primaryKey().check(sql`id = 1`))
    .addColumn('tree_size', t.bigint, (c) => c.notNull())
    .addColumn('frontier', t.bytes, (c) => c.notNull())
    .addColumn('root_hash', t.bytes, (c) => c.notNull())
    .execute();
  // The empty tree: no frontier, root = SHA-256("").
  const emptyRoot = Buffer.from('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', 'hex');
  await sql`insert into audit_head (id, tree_size, frontier, root_hash) values (1, 0, ${Buffer.alloc(0)}, ${emptyRoot})`.execute(
    db,
  );

  await db.schema
    .createTable('audit_nodes')
    .addColumn('level', 'integer', (c) => c.notNull())
    .addColumn('idx', t.bigint, (c) => c.notNull())
    .addColumn('hash', t.bytes, (c) => c.notNull())
    .addPrimaryKeyConstraint('audit_nodes_pk', ['level', 'idx'])
    .execute();

  await db.schema
    .createTable('audit_checkpoints')
    .addColumn('tree_size', t.bigint, (c) => c.primaryKey())
    .addColumn('root_hash', t.bytes, (c) => c.notNull())
    .addColumn('origin', 'text', (c) => c.notNull())
    .addColumn('note', 'text', (c) => c.notNull())
    .addColumn('signed_at', t.timestamp, (c) => c.notNull())
    .execute();
}
