/**
 * Database access for the audit tree (tables of migrations 001 and 002, typed in
 * @gatehouse/db's schema). Everything takes a `Kysely` that may be a transaction, so appends
 * run inside the caller's transaction.
 */
import { forUpdate, type AuditEventRow, type Database, type Db, type Kysely } from '@gatehouse/db';
import { CompactRange, HASH_SIZE, hashComplete, type NodeId, type NodeReader } from './merkle.js';
import type { AuditEvent } from './types.js';

/**
 * Which complete subtrees audit_nodes keeps: levels 4, 8, 12, … (one row per 16 leaves, amortised
 * 1/15 of a row per append). Any other subtree is at most 8 stored hashes away (≤ 7 hash ops).
 */
export const NODE_STRIDE = 4;
export const isStoredLevel = (level: number): boolean => level > 0 && level % NODE_STRIDE === 0;

interface Head {
  size: number;
  range: CompactRange;
  root: Buffer;
}

/**
 * Reads the tree head. `lockFor` (the open database) takes the row lock that serializes
 * appenders (`forUpdate`); pass it only inside the appending transaction.
 */
export async function readHead(db: Kysely<Database>, lockFor?: Pick<Db, 'dialect'>): Promise<Head> {
  const row = await db
    .selectFrom('audit_head')
    .select(['tree_size', 'frontier', 'root_hash'])
    .where('id', '=', 1)
    .$call((qb) => (lockFor ? qb.$call(forUpdate(lockFor)) : qb))
    .executeTakeFirst();
  if (row === undefined) throw new Error('audit_head row is missing: run the migrations');
  const size = Number(row.tree_size);
  return { size, range: CompactRange.deserialize(size, row.frontier), root: Buffer.from(row.root_hash) };
}

/**
 * A NodeReader over audit_events.leaf_hash (level 0) and audit_nodes (levels 4k). A level in
 * between is rebuilt from its ≤ 8 descendants at the stored level below it. Two queries per call.
 */
export function nodeReader(db: Kysely<Database>): NodeReader {
  return async (ids: readonly NodeId[]) => {
    const plans = ids.map(({ level, index }) => {
      const base = level - (level % NODE_STRIDE);
      const count = 2 ** (level - base);
      return { base, first: index * count, count };
    });
    const leafPlans = plans.filter((p) => p.base === 0);
    const nodePlans = plans.filter((p) => p.base > 0);
    const found = new Map<string, Uint8Array>();
    if (leafPlans.length > 0) {
      const seqs = leafPlans.flatMap((p) => Array.from({ length: p.count }, (_, i) => p.first + i + 1));
      const rows = await db.selectFrom('audit_events').select(['seq', 'leaf_hash']).where('seq', 'in', seqs).execute();
      for (const r of rows) found.set(`0/${Number(r.seq) - 1}`, r.leaf_hash);
    }
    if (nodePlans.length > 0) {
      const rows = await db
        .selectFrom('audit_nodes')
        .select(['level', 'idx', 'hash'])
        .where((eb) =>
          eb.or(
            nodePlans.map((p) =>
              eb.and([eb('level', '=', p.base), eb('idx', '>=', p.first), eb('idx', '<', p.first + p.count)]),
            ),
          ),
        )
        .execute();
      for (const r of rows) found.set(`${r.level}/${Number(r.idx)}`, r.hash);
    }
    return plans.map(({ base, first, count }) => {
      const children: Uint8Array[] = [];
      for (let i = first; i < first + count; i++) {
        const h = found.get(`${base}/${i}`);
        if (h === undefined || h.length !== HASH_SIZE)
          throw new Error(`audit tree node ${base}/${i} is missing or corrupt`);
        children.push(h);
      }
      return count === 1 ? Buffer.from(children[0] as Uint8Array) : hashComplete(children);
    });
  };
}

export function rowToEvent(row: AuditEventRow): AuditEvent {
  return {
    seq: Number(row.seq),
    at: row.at,
    type: row.type,
    actorId: row.actor_id,
    targetId: row.target_id,
    ip: row.ip,
    userAgent: row.user_agent,
    data: JSON.parse(row.data) as Record<string, unknown>,
    leafHash: Buffer.from(row.leaf_hash).toString('hex'),
  };
}

export const EVENT_COLUMNS = [
  'seq',
  'at',
  'type',
  'actor_id',
  'target_id',
  'ip',
  'user_agent',
  'data',
  'leaf_hash',
] as const;
