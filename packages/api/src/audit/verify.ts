/**
 * Full verification of the stored audit log (architecture §8): every leaf hash is recomputed from its
 * row, the tree is rebuilt with the compact range, every stored subtree hash and every signed
 * checkpoint is checked at its size, and the head row is checked against the rebuilt tree.
 *
 * What this catches when done with raw SQL:
 * - edit of any field            → the row's leaf hash no longer matches (names that seq);
 *   with the leaf hash recomputed too, the stored subtree / the next checkpoint no longer match
 * - insert (renumbering rows)    → a leaf hash mismatch at the first shifted seq
 * - insert past the head         → rows beyond the tree head
 * - delete                       → a gap in seq (names the missing seq)
 * - reorder                      → seq is part of the leaf: mismatch at the first moved seq
 * - truncate the tail            → fewer rows than the head, or a checkpoint beyond the last row
 *
 * Speed (target: 1M events in ≤ 5 s on SQLite): rows arrive in keyset batches as plain arrays,
 * hashes stay lowercase hex strings end to end (allocating a Buffer per hash costs more than the
 * SHA-256 itself), SQLite renders each leaf input in SQL, and the Ed25519 checks run on libuv's
 * thread pool meanwhile. The whole scan reads one snapshot (`readSnapshot`: on PostgreSQL a
 * repeatable-read read-only transaction, on a SQLite file a read transaction on a read-only
 * connection), so it sees one committed state and never holds the write lock.
 */
import { hash } from 'node:crypto';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { readSnapshot, sql, type AuditEventRow, type Database, type Db, type Kysely } from '@gatehouse/db';
import { parseCheckpointBody, verifyCheckpointNoteAsync, type Verifier } from './checkpoint.js';
import { leafInputFromStored } from './leaf.js';
import { EMPTY_ROOT, toHex } from './merkle.js';
import { NODE_STRIDE } from './store.js';
import type { AuditVerifyResult } from './types.js';

/** Rows per batch: small enough that rows die young (cheap GC), big enough to amortise a query. */
const BATCH = 4096;
const EMPTY_ROOT_HEX = toHex(EMPTY_ROOT);

/**
 * One event as `<seq>:<stored leaf hash, 64 lowercase hex><leaf input>`: a single string per
 * row keeps the scan to one allocation per event. The input is empty when it cannot be built.
 */
type LeafLine = string;

interface CheckpointRow {
  size: number;
  rootHex: string;
  note: string;
}

/** Everything verify reads, from one read snapshot. */
interface VerifySource {
  checkpoints(): Promise<CheckpointRow[]>;
  head(): Promise<{ size: number; frontierHex: string; rootHex: string }>;
  /** Leaf inputs of the events with from < seq ≤ to, ascending. */
  leaves(from: number, to: number): Promise<LeafLine[]>;
  /**
   * The leaf input of one event rendered in JS from its columns (leafInputFromStored), for a
   * second opinion when a source builds inputs another way (SQLite: in SQL, with json_quote).
   */
  jsLeafInput(seq: number): Promise<string | null>;
  /** audit_nodes rows of the given level/idx ranges, keyed "level/idx", hex hashes. */
  nodes(ranges: readonly NodeRange[]): Promise<Map<string, string>>;
  /** The head size and the largest seq, read in one statement. */
  headAndMaxSeq(): Promise<{ head: number; maxSeq: number }>;
}

interface NodeRange {
  level: number;
  lo: number;
  hi: number;
}

interface Failure {
  /** The first bad seq when it can be named. */
  seq: number | null;
  /** How far into the log the problem sits, to report the earliest of several. */
  at: number;
  reason: string;
}

/** RFC 6962 compact range over hex hashes (same algorithm as merkle.ts CompactRange). */
class HexRange {
  size = 0;
  readonly frontier: string[] = [];
  readonly #scratch = Buffer.alloc(65, 0x01);

  #node(left: string, right: string): string {
    this.#scratch.write(left, 1, 'hex');
    this.#scratch.write(right, 33, 'hex');
    return hash('sha256', this.#scratch, 'hex');
  }

  append(leaf: string, onStored: (level: number, idx: number, hex: string) => void): void {
    let h = leaf;
    let level = 0;
    let idx = this.size;
    while (idx % 2 === 1) {
      h = this.#node(this.frontier.pop() as string, h);
      level += 1;
      idx = (idx - 1) / 2;
      if (level % NODE_STRIDE === 0) onStored(level, idx, h);
    }
    this.frontier.push(h);
    this.size += 1;
  }

  root(): string {
    let acc = this.frontier.at(-1);
    if (acc === undefined) return EMPTY_ROOT_HEX;
    for (let i = this.frontier.length - 2; i >= 0; i--) acc = this.#node(this.frontier[i] as string, acc);
    return acc;
  }
}

function claimedRootHex(size: number, note: string): string | null {
  try {
    const cp = parseCheckpointBody(note.slice(0, note.lastIndexOf('\n\n') + 1));
    return cp.treeSize === size ? toHex(cp.rootHash) : null;
  } catch {
    return null;
  }
}

function storedNodeRanges(from: number, to: number): NodeRange[] {
  const ranges: NodeRange[] = [];
  for (let level = NODE_STRIDE; 2 ** level <= to; level += NODE_STRIDE) {
    // Node (level, idx) completes with seq (idx + 1)·2^level.
    const lo = Math.floor(from / 2 ** level);
    const hi = Math.floor(to / 2 ** level) - 1;
    if (hi >= lo) ranges.push({ level, lo, hi });
  }
  return ranges;
}

export async function verifyAuditLog(db: Db, verifier: Verifier): Promise<AuditVerifyResult> {
  return readSnapshot(db, (snapshot) => verifyFrom(snapshotSource(snapshot, db.dialect), verifier));
}

async function verifyFrom(source: VerifySource, verifier: Verifier): Promise<AuditVerifyResult> {
  // Checkpoints first, then the head: every checkpoint was signed over committed events, so one
  // beyond the head read afterwards can only mean the log was cut back.
  const checkpoints = (await source.checkpoints()).map((cp) => ({ ...cp, claimed: claimedRootHex(cp.size, cp.note) }));
  const head = await source.head();

  // Signatures are checked off the main thread while the events are rehashed below, one at a
  // time: on a small machine a burst of thousands would take every core from the scan itself.
  const signatureChecks = (async (): Promise<Failure | null> => {
    for (const cp of checkpoints) {
      try {
        const signed = await verifyCheckpointNoteAsync(cp.note, verifier);
        if (signed.treeSize !== cp.size || toHex(signed.rootHash) !== cp.rootHex) {
          return {
            seq: null,
            at: cp.size,
            reason: `checkpoint at size ${cp.size}: the stored size/root differ from the signed note`,
          };
        }
      } catch (error) {
        return { seq: null, at: cp.size, reason: `checkpoint at size ${cp.size}: ${(error as Error).message}` };
      }
    }
    return null;
  })();

  const range = new HexRange();
  let checked = 0;
  let failure: Failure | null = null;
  let nextCheckpoint = 0;
  let lastGoodCheckpoint = 0;

  /** Compares the rebuilt root with what each checkpoint at the current size claims. */
  const checkCheckpoints = (): Failure | null => {
    for (
      let cp = checkpoints[nextCheckpoint];
      cp !== undefined && cp.size === range.size;
      cp = checkpoints[++nextCheckpoint]
    ) {
      if (cp.claimed === null) return { seq: null, at: cp.size, reason: `checkpoint at size ${cp.size} is malformed` };
      if (cp.claimed !== range.root()) {
        // Events 1..lastGood matched an earlier checkpoint, so the change lies after it.
        return {
          seq: null,
          at: cp.size,
          reason: `the events up to ${cp.size} do not match the checkpoint signed at that size (events 1..${lastGoodCheckpoint} match the previous one)`,
        };
      }
      lastGoodCheckpoint = cp.size;
    }
    return null;
  };

  let storedNodes = new Map<string, string>();
  let nodeFailure: Failure | null = null;
  const onStored = (level: number, idx: number, hex: string): void => {
    if (nodeFailure !== null) return;
    const stored = storedNodes.get(`${level}/${idx}`);
    if (stored !== hex) {
      const first = idx * 2 ** level + 1;
      const last = first + 2 ** level - 1;
      nodeFailure = {
        seq: null,
        at: last,
        reason: `stored subtree hash for events ${first}..${last} ${stored === undefined ? 'is missing' : 'does not match the events'}`,
      };
    }
  };

  failure = checkCheckpoints(); // a checkpoint at size 0
  while (failure === null && checked < head.size) {
    const upTo = Math.min(head.size, checked + BATCH);
    storedNodes = await source.nodes(storedNodeRanges(checked, upTo));
    for (const line of await source.leaves(checked, upTo)) {
      const colon = line.indexOf(':');
      const seq = Number(line.slice(0, colon));
      const storedLeaf = line.slice(colon + 1, colon + 65);
      const input = line.slice(colon + 65);
      const expected = checked + 1;
      if (seq !== expected) {
        failure = { seq: expected, at: expected, reason: `event ${expected} is missing (deleted)` };
        break;
      }
      // '\u0000' is the RFC 6962 leaf prefix byte 0x00 in UTF-8.
      let leaf: string | null = hash('sha256', `\u0000${input}`, 'hex');
      if (leaf !== storedLeaf) {
        const second = await source.jsLeafInput(seq);
        leaf = second === null ? null : hash('sha256', `\u0000${second}`, 'hex');
      }
      if (leaf !== storedLeaf) {
        failure = { seq, at: seq, reason: `event ${seq} does not match its leaf hash (row edited, inserted or moved)` };
        break;
      }
      range.append(leaf, onStored);
      checked = seq;
      failure = nodeFailure ?? checkCheckpoints();
      if (failure !== null) break;
    }
    if (failure === null && checked < upTo) {
      failure = {
        seq: checked + 1,
        at: checked + 1,
        reason: `event ${checked + 1} is missing (deleted or truncated; the tree head is at ${head.size})`,
      };
    }
    // Let the server serve other requests between batches.
    await yieldToEventLoop();
  }

  const rootHex = range.root();
  if (failure === null && (rootHex !== head.rootHex || range.frontier.join('') !== head.frontierHex)) {
    failure = { seq: null, at: head.size, reason: 'the tree head row does not match the events' };
  }
  if (failure === null) {
    const beyond = checkpoints.find((cp) => cp.size > head.size);
    if (beyond !== undefined) {
      failure = {
        seq: head.size + 1,
        at: head.size + 1,
        reason: `a checkpoint covers ${beyond.size} events but the log has ${head.size} (truncated)`,
      };
    }
  }
  if (failure === null) {
    const now = await source.headAndMaxSeq();
    if (now.maxSeq > now.head) {
      failure = {
        seq: now.head + 1,
        at: now.head + 1,
        reason: `event ${now.head + 1} is not part of the tree (inserted past the head)`,
      };
    }
  }

  // A bad signature is reported when it sits no later in the log than the first other problem.
  const badSignature = await signatureChecks;
  if (badSignature !== null && (failure === null || badSignature.at <= failure.at)) failure = badSignature;

  return {
    ok: failure === null,
    checked,
    treeSize: head.size,
    rootHash: failure === null ? rootHex : head.rootHex,
    firstInvalidSeq: failure?.seq ?? null,
    reason: failure?.reason ?? null,
  };
}

// ---------------------------------------------------------------------------------------------
// Sources

/**
 * The leaf input built by SQLite: json_quote() escapes text exactly as JSON.stringify does for
 * the strings we store, so this equals leafInputFromStored() and saves most per-row work in JS.
 * Should it ever differ for some exotic string, the JS rendering is tried before reporting.
 * (A false "equal" is impossible: the result must hash to the stored leaf hash.)
 */
const SQL_LEAF_INPUT = `'{"actorId":' || json_quote(actor_id) || ',"at":' || json_quote(at) || ',"data":' || data ||
  ',"ip":' || json_quote(ip) || ',"seq":' || seq || ',"targetId":' || json_quote(target_id) ||
  ',"type":' || json_quote(type) || ',"userAgent":' || json_quote(user_agent) || '}'`;

type LeafColumns = Pick<AuditEventRow, 'seq' | 'at' | 'type' | 'actor_id' | 'target_id' | 'ip' | 'user_agent' | 'data'>;

function jsInput(row: LeafColumns | undefined): string | null {
  if (row === undefined) return null;
  try {
    return leafInputFromStored(
      Number(row.seq),
      row.at.toISOString(),
      row.type,
      row.actor_id,
      row.target_id,
      row.ip,
      row.user_agent,
      row.data,
    );
  } catch {
    // An unreadable time or data no longer yields the input it was hashed from.
    return null;
  }
}

const LEAF_COLUMNS = ['seq', 'at', 'type', 'actor_id', 'target_id', 'ip', 'user_agent', 'data'] as const;

/** Verify's reads on a snapshot (see readSnapshot): PostgreSQL or SQLite. */
function snapshotSource(db: Kysely<Database>, dialect: Db['dialect']): VerifySource {
  const hex = (column: string) =>
    dialect === 'postgres'
      ? sql<string>`encode(${sql.ref(column)}, 'hex')`
      : sql<string>`lower(hex(${sql.ref(column)}))`;
  return {
    async checkpoints() {
      const rows = await db
        .selectFrom('audit_checkpoints')
        .select(['tree_size', hex('root_hash').as('root'), 'note'])
        .orderBy('tree_size')
        .execute();
      return rows.map((r) => ({ size: Number(r.tree_size), rootHex: r.root, note: r.note }));
    },
    async head() {
      // As stored (not parsed): a corrupt frontier is a finding, not a crash.
      const row = await db
        .selectFrom('audit_head')
        .select(['tree_size', hex('frontier').as('frontier'), hex('root_hash').as('root')])
        .where('id', '=', 1)
        .executeTakeFirst();
      if (row === undefined) throw new Error('audit_head row is missing: run the migrations');
      return { size: Number(row.tree_size), frontierHex: row.frontier, rootHex: row.root };
    },
    async leaves(from, to) {
      if (dialect === 'sqlite') {
        // One string per row, `<seq>:<64 hex leaf hash><leaf input>`: a row costs one allocation.
        // (Every column involved is NOT NULL or goes through json_quote, so it is never NULL.)
        const result = await sql<{ line: string }>`
          select seq || ':' || lower(hex(leaf_hash)) || ${sql.raw(SQL_LEAF_INPUT)} as line
          from audit_events where seq > ${from} and seq <= ${to} order by seq
        `.execute(db);
        return result.rows.map((r) => r.line);
      }
      const rows = await db
        .selectFrom('audit_events')
        .select([...LEAF_COLUMNS, hex('leaf_hash').as('leaf')])
        .where('seq', '>', from)
        .where('seq', '<=', to)
        .orderBy('seq')
        .execute();
      return rows.map((r): LeafLine => `${Number(r.seq)}:${r.leaf}${jsInput(r) ?? ''}`);
    },
    async jsLeafInput(seq) {
      // PostgreSQL's leaves() already rendered the input in JS.
      if (dialect === 'postgres') return null;
      return jsInput(
        await db.selectFrom('audit_events').select(LEAF_COLUMNS).where('seq', '=', seq).executeTakeFirst(),
      );
    },
    async nodes(ranges) {
      const map = new Map<string, string>();
      if (ranges.length === 0) return map;
      const rows = await db
        .selectFrom('audit_nodes')
        .select(['level', 'idx', hex('hash').as('hash')])
        .where((eb) =>
          eb.or(ranges.map((r) => eb.and([eb('level', '=', r.level), eb('idx', '>=', r.lo), eb('idx', '<=', r.hi)]))),
        )
        .execute();
      for (const r of rows) map.set(`${r.level}/${Number(r.idx)}`, r.hash);
      return map;
    },
    async headAndMaxSeq() {
      // One statement: inside the snapshot, and it still catches a row inserted past the head.
      const result = await sql<{ head: number | string | null; max_seq: number | string | null }>`
        select (select tree_size from audit_head where id = 1) as head, (select max(seq) from audit_events) as max_seq
      `.execute(db);
      const row = result.rows[0];
      return { head: Number(row?.head ?? 0), maxSeq: Number(row?.max_seq ?? 0) };
    },
  };
}
