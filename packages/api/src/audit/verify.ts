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
 * - any of these with every derived hash (leaf, subtree, head) recomputed
 *                                → the first checkpoint after the change no longer matches; its
 *                                  `leaves` digests (leaf-digests.ts) then name the first event
 *                                  whose leaf differs from what was signed
 * - a checkpoint by a retired key   → accepted only within its range in the key history
 * - a rewrite or truncation while the server was down, checkpoints included
 *                                → the checkpoint kept outside the database (`outsideNote`) is
 *                                  checked like the stored ones
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
import { parseCheckpointBody, verifyCheckpointNoteAsync } from './checkpoint.js';
import { keyFor, type CheckpointKeys } from './key-history.js';
import { leafInputFromStored } from './leaf.js';
import { DIGEST_SIZE, parseLeavesExtension, type LeafDigests } from './leaf-digests.js';
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

interface KnownCheckpoint extends CheckpointRow {
  /** The root its note claims, null when the note is malformed. */
  claimed: string | null;
  leaves: LeafDigests | null;
  /** The copy kept outside the database rather than a stored row. */
  outside: boolean;
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
  /** The events no longer hash to what was signed or stored: worth locating with the digests. */
  content?: boolean;
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

function known(row: CheckpointRow, outside: boolean): KnownCheckpoint {
  try {
    const cp = parseCheckpointBody(row.note.slice(0, row.note.lastIndexOf('\n\n') + 1));
    if (cp.treeSize !== row.size) return { ...row, claimed: null, leaves: null, outside };
    return { ...row, claimed: toHex(cp.rootHash), leaves: parseLeavesExtension(cp.extensions, cp.treeSize), outside };
  } catch {
    return { ...row, claimed: null, leaves: null, outside };
  }
}

/** The copy kept outside the database as a checkpoint row (its own claims), null if unreadable. */
function outsideRow(note: string): CheckpointRow | null {
  try {
    const cp = parseCheckpointBody(note.slice(0, note.lastIndexOf('\n\n') + 1));
    return { size: cp.treeSize, rootHex: toHex(cp.rootHash), note };
  } catch {
    return null;
  }
}

const OUTSIDE = 'the checkpoint kept outside the database';
const describe = (cp: KnownCheckpoint): string =>
  cp.outside ? `${OUTSIDE} (size ${cp.size})` : `checkpoint at size ${cp.size}`;

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

/**
 * `outsideNote`: the latest signed checkpoint as kept outside the database (next to the key),
 * held against the stored events like the stored checkpoints.
 */
export async function verifyAuditLog(
  db: Db,
  keys: CheckpointKeys,
  outsideNote: string | null = null,
): Promise<AuditVerifyResult> {
  return readSnapshot(db, (snapshot) => verifyFrom(snapshotSource(snapshot, db.dialect), keys, outsideNote));
}

async function verifyFrom(
  source: VerifySource,
  keys: CheckpointKeys,
  outsideNote: string | null,
): Promise<AuditVerifyResult> {
  // Checkpoints first, then the head: every checkpoint was signed over committed events, so one
  // beyond the head read afterwards can only mean the log was cut back.
  const checkpoints = (await source.checkpoints()).map((cp) => known(cp, false));
  const outside = outsideNote === null ? null : outsideRow(outsideNote);
  if (outsideNote !== null && outside === null) {
    const head = await source.head();
    return {
      ok: false,
      checked: 0,
      treeSize: head.size,
      rootHash: head.rootHex,
      firstInvalidSeq: null,
      reason: `${OUTSIDE} is malformed`,
    };
  }
  if (outside !== null) {
    // After the stored checkpoints of the same size: a stored mismatch is reported as before.
    const at = checkpoints.findIndex((cp) => cp.size > outside.size);
    checkpoints.splice(at < 0 ? checkpoints.length : at, 0, known(outside, true));
  }
  const head = await source.head();

  // Signatures are checked off the main thread while the events are rehashed below, one at a
  // time: on a small machine a burst of thousands would take every core from the scan itself.
  const signatureChecks = (async (): Promise<Failure | null> => {
    for (const cp of checkpoints) {
      try {
        const signed = await verifyCheckpointNoteAsync(cp.note, keyFor(cp.note, keys));
        if (signed.treeSize !== cp.size || toHex(signed.rootHash) !== cp.rootHex) {
          return {
            seq: null,
            at: cp.size,
            reason: `${describe(cp)}: the stored size/root differ from the signed note`,
          };
        }
      } catch (error) {
        return { seq: null, at: cp.size, reason: `${describe(cp)}: ${(error as Error).message}` };
      }
    }
    return null;
  })();

  const range = new HexRange();
  let checked = 0;
  let failure: Failure | null = null;
  let nextCheckpoint = 0;
  let lastGoodCheckpoint = 0;
  /** The first checkpoint whose root no longer matched: its digests locate the change. */
  const first: { broken: KnownCheckpoint | null } = { broken: null };

  /** Compares the rebuilt root with what each checkpoint at the current size claims. */
  const checkCheckpoints = (): Failure | null => {
    for (
      let cp = checkpoints[nextCheckpoint];
      cp !== undefined && cp.size === range.size;
      cp = checkpoints[++nextCheckpoint]
    ) {
      if (cp.claimed === null) return { seq: null, at: cp.size, reason: `${describe(cp)} is malformed` };
      if (cp.claimed !== range.root()) {
        // Events 1..lastGood matched an earlier checkpoint, so the change lies after it.
        first.broken = cp;
        return {
          seq: null,
          at: cp.size,
          content: true,
          reason: `the events up to ${cp.size} do not match ${cp.outside ? OUTSIDE : 'the checkpoint signed at that size'} (events 1..${lastGoodCheckpoint} match the previous one)`,
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
        content: true,
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
        content: true,
        reason: `${beyond.outside ? OUTSIDE : 'a checkpoint'} covers ${beyond.size} events but the log has ${head.size} (truncated)`,
      };
      first.broken = beyond;
    }
  }
  if (failure?.content === true) {
    // Every derived hash may have been recomputed: name the first event that differs from what a
    // signed checkpoint listed, starting with the first one whose root no longer matched.
    const located = await locate(
      source,
      checkpoints.filter((cp) => cp.size > lastGoodCheckpoint && cp.size >= (first.broken?.size ?? 0)),
    );
    if (located !== null && (failure.seq === null || located < failure.seq)) failure = { ...failure, seq: located };
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

/**
 * The first seq whose recomputed leaf differs from the digest a checkpoint signed for it (a
 * missing row counts), trying the checkpoints in order; null when none lists a difference.
 */
async function locate(source: VerifySource, checkpoints: readonly KnownCheckpoint[]): Promise<number | null> {
  for (const cp of checkpoints) {
    if (cp.leaves === null) continue;
    const { from, digests } = cp.leaves;
    const lines = await source.leaves(from, cp.size);
    for (let i = 0; i < digests.length; i++) {
      const seq = from + i + 1;
      const line = lines[i];
      if (line === undefined || Number(line.slice(0, line.indexOf(':'))) !== seq) return seq;
      const leaf = await recomputedLeaf(source, seq, line);
      if (leaf.slice(0, DIGEST_SIZE * 2) !== digests[i]) return seq;
    }
  }
  return null;
}

/** The leaf hash of a row from its columns (the SQL rendering, else the JS one). */
async function recomputedLeaf(source: VerifySource, seq: number, line: LeafLine): Promise<string> {
  const colon = line.indexOf(':');
  const storedLeaf = line.slice(colon + 1, colon + 65);
  const leaf = hash('sha256', `\u0000${line.slice(colon + 65)}`, 'hex');
  if (leaf === storedLeaf) return leaf;
  const second = await source.jsLeafInput(seq);
  return second === null ? leaf : hash('sha256', `\u0000${second}`, 'hex');
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
