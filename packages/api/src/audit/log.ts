/**
 * The audit log service: appends inside the caller's transaction, listing, proofs and a live feed.
 */
import { EventEmitter, once } from 'node:events';
import type { Database, Db, Kysely, Transaction } from '@gatehouse/db';
import { assertStorableText, leafHash, normalizeData } from './leaf.js';
import { consistencyProof, EMPTY_ROOT, inclusionProof, MerkleError, rootAt, toHex } from './merkle.js';
import { EVENT_COLUMNS, isStoredLevel, nodeReader, readHead, rowToEvent } from './store.js';
import type { AuditEvent, AuditEventInput, ConsistencyProofResult, InclusionProofResult } from './types.js';
import { DomainError, notFound } from '../errors.js';

const badRequest = (message: string) => new DomainError('BAD_REQUEST', 'invalid_input', message);

export interface AuditListFilter {
  limit?: number;
  /** Opaque cursor from a previous page's `nextCursor`. */
  cursor?: string | null;
  /** One type, or any of several (#19 charts). */
  type?: string | readonly string[];
  actorId?: string;
  targetId?: string;
  since?: Date;
  until?: Date;
}

interface AuditLogOptions {
  db: Db;
  /** Millisecond clock; tests inject their own. */
  now?: () => Date;
}

export class AuditLog {
  readonly #db: Db;
  readonly #now: () => Date;
  // In-process hint that an append happened (possibly not yet committed): wakes live feeds early.
  readonly #appended = new EventEmitter();

  constructor(options: AuditLogOptions) {
    this.#db = options.db;
    this.#now = options.now ?? (() => new Date());
    this.#appended.setMaxListeners(0);
  }

  /**
   * #19 webhooks: calls `listener(seq)` after every append on this instance — before its commit,
   * so a listener re-reads committed events a moment later. Returns the unsubscribe function.
   */
  onAppend(listener: (seq: number) => void): () => void {
    this.#appended.on('append', listener);
    return () => this.#appended.off('append', listener);
  }

  /** The read-side connection (outside any transaction: committed data only). */
  get kysely(): Kysely<Database> {
    return this.#db.kysely;
  }

  /**
   * Appends one event inside `trx`, the transaction of the change it records: both commit or
   * neither does. The head row is locked first (PostgreSQL `FOR UPDATE`; SQLite transactions
   * are already serialized by BEGIN IMMEDIATE), so concurrent appenders on any number of
   * instances queue up on it: seq stays gap-free and the tree never forks.
   */
  async append(trx: Transaction<Database>, input: AuditEventInput): Promise<AuditEvent> {
    const head = await readHead(trx, this.#db);
    const seq = head.size + 1;
    // Millisecond precision is what the leaf's ISO timestamp carries and what both databases keep.
    const at = new Date(this.#now().getTime());
    const data = normalizeData(input.data ?? {});
    const fields = {
      seq,
      at,
      type: input.type,
      actorId: input.actorId ?? null,
      targetId: input.targetId ?? null,
      ip: input.ip ?? null,
      userAgent: input.userAgent ?? null,
      data: data.value,
    };
    for (const [name, value] of [
      ['type', fields.type],
      ['actorId', fields.actorId],
      ['targetId', fields.targetId],
      ['ip', fields.ip],
      ['userAgent', fields.userAgent],
    ] as const) {
      assertStorableText(name, value);
    }
    const hash = leafHash(fields);
    const nodes: { level: number; idx: number; hash: Buffer }[] = [];
    head.range.append(hash, (level, idx, h) => {
      if (isStoredLevel(level)) nodes.push({ level, idx, hash: h });
    });

    await trx
      .insertInto('audit_events')
      .values({
        seq,
        at,
        type: fields.type,
        actor_id: fields.actorId,
        target_id: fields.targetId,
        ip: fields.ip,
        user_agent: fields.userAgent,
        data: data.json,
        leaf_hash: hash,
      })
      .execute();
    if (nodes.length > 0) await trx.insertInto('audit_nodes').values(nodes).execute();
    await trx
      .updateTable('audit_head')
      .set({ tree_size: seq, frontier: head.range.serialize(), root_hash: head.range.root() })
      .where('id', '=', 1)
      .execute();

    this.#appended.emit('append', seq);
    return { ...fields, leafHash: toHex(hash) };
  }

  /** Newest first; the cursor is the seq below which the next page starts. */
  async list(filter: AuditListFilter = {}): Promise<{ items: AuditEvent[]; nextCursor: string | null }> {
    const limit = filter.limit ?? 50;
    let before: number | null = null;
    if (filter.cursor != null) {
      if (!/^[1-9][0-9]{0,15}$/.test(filter.cursor)) throw badRequest('invalid cursor');
      before = Number(filter.cursor);
    }
    const rows = await this.kysely
      .selectFrom('audit_events')
      .select(EVENT_COLUMNS)
      .$if(before !== null, (qb) => qb.where('seq', '<', before as number))
      .$if(typeof filter.type === 'string', (qb) => qb.where('type', '=', filter.type as string))
      .$if(Array.isArray(filter.type), (qb) => qb.where('type', 'in', filter.type as readonly string[]))
      .$if(filter.actorId !== undefined, (qb) => qb.where('actor_id', '=', filter.actorId as string))
      .$if(filter.targetId !== undefined, (qb) => qb.where('target_id', '=', filter.targetId as string))
      .$if(filter.since !== undefined, (qb) => qb.where('at', '>=', filter.since as Date))
      .$if(filter.until !== undefined, (qb) => qb.where('at', '<', filter.until as Date))
      .orderBy('seq', 'desc')
      .limit(limit + 1)
      .execute();
    const items = rows.slice(0, limit).map(rowToEvent);
    const last = items.at(-1);
    return { items, nextCursor: rows.length > limit && last !== undefined ? String(last.seq) : null };
  }

  /** Committed events with seq > afterSeq, oldest first. */
  async eventsAfter(afterSeq: number, limit = 100): Promise<AuditEvent[]> {
    const rows = await this.kysely
      .selectFrom('audit_events')
      .select(EVENT_COLUMNS)
      .where('seq', '>', afterSeq)
      .orderBy('seq', 'asc')
      .limit(limit)
      .execute();
    return rows.map(rowToEvent);
  }

  /** The committed tree head. */
  async head(): Promise<{ treeSize: number; rootHash: string }> {
    const head = await readHead(this.kysely);
    return { treeSize: head.size, rootHash: toHex(head.root) };
  }

  async rootAt(treeSize: number): Promise<Buffer> {
    return treeSize === 0 ? Buffer.from(EMPTY_ROOT) : rootAt(treeSize, nodeReader(this.kysely));
  }

  async inclusionProof(seq: number, treeSize?: number): Promise<InclusionProofResult> {
    const head = await readHead(this.kysely);
    const size = treeSize ?? head.size;
    if (seq < 1 || seq > head.size) throw notFound(`Audit event ${seq}`);
    if (size > head.size) throw badRequest(`tree size ${size} is beyond the head (${head.size})`);
    if (seq > size) throw badRequest(`event ${seq} is not in a tree of size ${size}`);
    const read = nodeReader(this.kysely);
    const [leaf] = await read([{ level: 0, index: seq - 1 }]);
    const [proof, root] = await Promise.all([
      inclusionProof(seq - 1, size, read),
      size === head.size ? head.root : rootAt(size, read),
    ]);
    return {
      leafIndex: seq - 1,
      treeSize: size,
      leafHash: toHex(leaf as Uint8Array),
      rootHash: toHex(root),
      proof: proof.map(toHex),
    };
  }

  async consistencyProof(fromSize: number, toSize?: number): Promise<ConsistencyProofResult> {
    const head = await readHead(this.kysely);
    const to = toSize ?? head.size;
    if (to > head.size) throw badRequest(`tree size ${to} is beyond the head (${head.size})`);
    if (fromSize > to) throw badRequest(`fromSize ${fromSize} is larger than toSize ${to}`);
    try {
      const [proof, fromRoot, toRoot] = await Promise.all([
        consistencyProof(fromSize, to, nodeReader(this.kysely)),
        this.rootAt(fromSize),
        to === head.size ? head.root : this.rootAt(to),
      ]);
      return { fromSize, toSize: to, fromRoot: toHex(fromRoot), toRoot: toHex(toRoot), proof: proof.map(toHex) };
    } catch (error) {
      if (error instanceof MerkleError) throw badRequest(error.message);
      throw error;
    }
  }

  /**
   * Live feed: yields committed events after `afterSeq` in order, forever, until `signal` aborts.
   * Appends on this instance wake it at once; other instances' appends are seen by polling.
   */
  async *follow(afterSeq: number, signal: AbortSignal, pollMs = 1000): AsyncGenerator<AuditEvent> {
    let last = afterSeq;
    while (!signal.aborted) {
      const batch = await this.eventsAfter(last);
      for (const event of batch) {
        last = event.seq;
        yield event;
      }
      if (batch.length > 0) continue;
      await this.#waitForAppend(signal, pollMs);
    }
  }

  async #waitForAppend(signal: AbortSignal, timeoutMs: number): Promise<void> {
    const timeout = AbortSignal.timeout(timeoutMs);
    const both = AbortSignal.any([signal, timeout]);
    try {
      await once(this.#appended, 'append', { signal: both });
      // The append is seen before its transaction commits; give the commit a moment.
      await new Promise((resolve) => setTimeout(resolve, 25));
    } catch {
      // Timed out or aborted: the caller re-checks the database / the signal.
    }
  }
}
