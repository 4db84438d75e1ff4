import type { Kysely } from 'kysely';
import type { DialectName } from '../database.js';
import { columnTypes } from './001_initial.js';

/**
 * Issue #19, witnesses (packages/api/src/audit/witness):
 * - audit_cosignatures: the C2SP tlog-cosignature lines witnesses returned, one per checkpoint
 *   size and witness (the full `— <name> <base64>` line, and its timestamp).
 * - audit_witness_state: per configured witness, the largest tree size it cosigned for this log
 *   (the `old` size of the next add-checkpoint), and the problem it reported, if any (a fork or a
 *   rollback shown to it), kept until an operator looks.
 */
export async function up(db: Kysely<unknown>, dialect: DialectName): Promise<void> {
  const t = columnTypes(dialect);
  await db.schema
    .createTable('audit_cosignatures')
    .addColumn('tree_size', t.bigint, (c) => c.notNull())
    .addColumn('witness', 'text', (c) => c.notNull())
    .addColumn('cosigned_at', t.bigint, (c) => c.notNull())
    .addColumn('line', 'text', (c) => c.notNull())
    .addColumn('received_at', t.timestamp, (c) => c.notNull())
    .addPrimaryKeyConstraint('audit_cosignatures_pk', ['tree_size', 'witness'])
    .execute();
  await db.schema
    .createTable('audit_witness_state')
    .addColumn('witness', 'text', (c) => c.primaryKey())
    .addColumn('tree_size', t.bigint, (c) => c.notNull())
    .addColumn('problem', 'text')
    .addColumn('updated_at', t.timestamp, (c) => c.notNull())
    .execute();
}
