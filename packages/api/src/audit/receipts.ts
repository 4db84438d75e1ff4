/**
 * Personal receipts (architecture §19): a signed-in user's own security history and, for each of
 * its events, a self-contained C2SP tlog-proof that verifies offline (receipt-verify.ts).
 *
 * "Your" events are those about your account: the target is you (whoever acted: you, an
 * administrator, an anonymous attempt against your account), or you acted and there is no
 * target. What you did to *other* accounts (as an administrator) is theirs, not yours: it stays
 * in the admin audit log. Events are shown exactly as stored: the receipt proves those bytes, so
 * nothing in them can be redacted; what they hold of others is at most an administrator's user
 * id (`actorId`) and, for attempts against your account, the IP address and user agent the
 * attempt came from (docs/audit.md).
 */
import type { Database, Kysely } from '@gatehouse/db';
import type { Actor } from '../actor.js';
import { DomainError, notFound, unauthenticated } from '../errors.js';
import { CheckpointConsistencyError } from './checkpointer.js';
import { keyFor } from './key-history.js';
import { leafInputFromStored } from './leaf.js';
import { fromHex, hashLeaf, toHex } from './merkle.js';
import { formatTlogProof } from './receipt-verify.js';
import type { AuditService } from './service.js';
import { EVENT_COLUMNS, rowToEvent } from './store.js';
import type { AuditEvent } from './types.js';
import { noteCosigners } from './witness/report.js';

export interface ReceiptDeps {
  readonly audit: AuditService;
}

/** Who acted, from the caller's point of view: no user ids are resolved to names. */
export type EventBy = 'you' | 'someone_else' | 'nobody';

export interface MyAuditEvent extends AuditEvent {
  by: EventBy;
}

export interface MyReceipt {
  event: MyAuditEvent;
  /** The exact UTF-8 text (RFC 8785 JSON) the leaf hash is computed from. */
  leaf: string;
  leafHash: string;
  checkpoint: { origin: string; treeSize: number; rootHash: string; signedAt: Date; note: string };
  /** Inclusion proof of the event in the checkpoint's tree, hex, leaf's sibling first. */
  proof: string[];
  /** The C2SP tlog-proof@v1 text (the event as its extra data). */
  tlogProof: string;
  /** Suggested file name of the download. */
  fileName: string;
  /** The log's verifier key, as this server states it (compare its fingerprint with a published one). */
  logKey: string;
  /** The configured witnesses' verifier keys and how many of them must cosign. */
  witnessKeys: string[];
  witnessQuorum: number;
}

function requireUser(actor: Actor): string {
  if (actor.userId === null) throw unauthenticated();
  return actor.userId;
}

function mine(db: Kysely<Database>, userId: string) {
  return db
    .selectFrom('audit_events')
    .select(EVENT_COLUMNS)
    .where((eb) =>
      eb.or([eb('target_id', '=', userId), eb.and([eb('actor_id', '=', userId), eb('target_id', 'is', null)])]),
    );
}

function withBy(event: AuditEvent, userId: string): MyAuditEvent {
  return { ...event, by: event.actorId === null ? 'nobody' : event.actorId === userId ? 'you' : 'someone_else' };
}

/** How long a receipt request waits, in all, for the witnesses to cosign its checkpoint. */
const WITNESS_WAIT_MS = 2000;

/** Whether a (cosigned) note meets the witness policy; true when no witness is required. */
function witnessed(audit: AuditService, note: string): boolean {
  if (audit.witnesses === null || audit.witnessPolicy.quorum === 0) return true;
  const keys = audit.witnesses.witnesses.map((w) => w.key);
  return noteCosigners(note, keys, audit.witnessPolicy).cosignedBy.length >= audit.witnessPolicy.quorum;
}

/** Waits for `round`, or `ms` at most (the round goes on in the background). */
async function atMost(round: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<void>((ok) => {
    timer = setTimeout(ok, ms);
    timer.unref();
  });
  await Promise.race([round, limit]);
  clearTimeout(timer);
}

/** `audit.myHistory`: the caller's own events, newest first (cursor: the seq the next page starts below). */
export async function myHistory(
  deps: ReceiptDeps,
  actor: Actor,
  input: { limit: number; cursor?: string | null | undefined },
): Promise<{ items: MyAuditEvent[]; nextCursor: string | null }> {
  const userId = requireUser(actor);
  let before: number | null = null;
  if (input.cursor != null) {
    if (!/^[1-9][0-9]{0,15}$/.test(input.cursor))
      throw new DomainError('BAD_REQUEST', 'invalid_input', 'invalid cursor');
    before = Number(input.cursor);
  }
  const rows = await mine(deps.audit.log.kysely, userId)
    .$if(before !== null, (qb) => qb.where('seq', '<', before as number))
    .orderBy('seq', 'desc')
    .limit(input.limit + 1)
    .execute();
  const items = rows.slice(0, input.limit).map((r) => withBy(rowToEvent(r), userId));
  const last = items.at(-1);
  return { items, nextCursor: rows.length > input.limit && last !== undefined ? String(last.seq) : null };
}

/**
 * `audit.myReceipt`: the receipt of one of the caller's events (NOT_FOUND for any other seq,
 * whether it exists or not). An event newer than the latest checkpoint makes the log sign its
 * head now: signing needs a new event each time, so a caller cannot make the log sign more often
 * than events happen. A checkpoint without its witnesses' quorum is offered to them, briefly, in
 * the witness client's shared rounds, so callers cannot make the log ask its witnesses more often.
 */
export async function myReceipt(deps: ReceiptDeps, actor: Actor, input: { seq: number }): Promise<MyReceipt> {
  const userId = requireUser(actor);
  const audit = deps.audit;
  const row = await mine(audit.log.kysely, userId).where('seq', '=', input.seq).executeTakeFirst();
  if (row === undefined) throw notFound(`Audit event ${input.seq}`);
  const event = withBy(rowToEvent(row), userId);
  const leaf = leafInputFromStored(
    event.seq,
    row.at.toISOString(),
    row.type,
    row.actor_id,
    row.target_id,
    row.ip,
    row.user_agent,
    row.data,
  );
  if (toHex(hashLeaf(Buffer.from(leaf, 'utf8'))) !== event.leafHash)
    throw new DomainError('CONFLICT', 'receipt_unavailable', `Audit event ${event.seq} does not match its leaf hash`);

  const signed = await audit.log.kysely
    .selectFrom('audit_checkpoints')
    .select('tree_size')
    .orderBy('tree_size', 'desc')
    .limit(1)
    .executeTakeFirst();
  if (signed === undefined || Number(signed.tree_size) < event.seq) {
    try {
      await audit.checkpointer.tick(true);
    } catch (error) {
      if (!(error instanceof CheckpointConsistencyError)) throw error;
      throw new DomainError(
        'PRECONDITION_FAILED',
        'not_yet_checkpointed',
        `Audit event ${event.seq} is not covered by a signed checkpoint, and the log refuses to sign: ${error.message}`,
      );
    }
  }
  let checkpoint = await audit.checkpointer.latest();
  // Whoever signed it (this request, the background timer, another instance), a checkpoint the
  // witnesses have not cosigned yet is offered to them now, so the receipt carries their
  // cosignatures. Requests share the witness client's rounds (one runs, one waits), so a witness
  // that is down costs each WITNESS_WAIT_MS at most and callers cannot make the log ask it more.
  if (audit.witnesses !== null && !witnessed(audit, checkpoint.note)) {
    await atMost(
      audit.witnesses.sync(WITNESS_WAIT_MS).catch(() => {}),
      WITNESS_WAIT_MS,
    );
    checkpoint = await audit.checkpointer.latest();
  }
  if (checkpoint.treeSize < event.seq)
    throw new DomainError(
      'PRECONDITION_FAILED',
      'not_yet_checkpointed',
      `Audit event ${event.seq} is not covered by a signed checkpoint yet: try again in a few seconds`,
      { retryAfterSeconds: 5 },
    );
  const inclusion = await audit.log.inclusionProof(event.seq, checkpoint.treeSize);
  if (inclusion.rootHash !== checkpoint.rootHash || inclusion.leafHash !== event.leafHash)
    throw new DomainError(
      'CONFLICT',
      'receipt_unavailable',
      `The stored tree does not match the checkpoint at size ${checkpoint.treeSize}: run audit.verify`,
    );
  const tlogProof = formatTlogProof({
    extra: new TextEncoder().encode(leaf),
    index: event.seq - 1,
    proof: inclusion.proof.map(fromHex),
    checkpoint: checkpoint.note,
  });
  return {
    event,
    leaf,
    leafHash: event.leafHash,
    checkpoint: {
      origin: checkpoint.origin,
      treeSize: checkpoint.treeSize,
      rootHash: checkpoint.rootHash,
      signedAt: checkpoint.signedAt,
      note: checkpoint.note,
    },
    proof: inclusion.proof,
    tlogProof,
    fileName: `gatehouse-event-${event.seq}.tlog-proof`,
    // The key that signed this checkpoint: the current one, or a retired one right after a rotation.
    logKey: keyFor(checkpoint.note, audit.keys).text,
    witnessKeys: (audit.witnesses?.witnesses ?? [])
      .filter((w) => audit.witnessPolicy.names.includes(w.key.name))
      .map((w) => w.key.text),
    witnessQuorum: audit.witnessPolicy.quorum,
  };
}
