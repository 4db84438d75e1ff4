/**
 * The transactional outbox (migration 006 `mail_outbox`): a mail is a row written in the same
 * transaction as the change that causes it, so it exists exactly when the change committed. The
 * worker (worker.ts) claims due rows, sends them and records the outcome. Once a mail is sent or
 * given up its bodies are wiped: the links in them are secrets, and only their hashes are kept
 * elsewhere.
 */
import { randomUUID } from 'node:crypto';
import type { Database, Db, MailOutboxRow, Transaction } from '@gatehouse/db';
import { withTransaction } from '@gatehouse/db';
import type { TemplatedMail } from './templates.js';

export async function insertMail(trx: Transaction<Database>, mail: TemplatedMail, now: Date): Promise<string> {
  const id = randomUUID();
  await trx
    .insertInto('mail_outbox')
    .values({
      id,
      kind: mail.kind,
      to_address: mail.to,
      subject: mail.subject,
      text_body: mail.text,
      html_body: mail.html,
      status: 'pending',
      attempts: 0,
      created_at: now,
      next_attempt_at: now,
      locked_until: null,
      sent_at: null,
      last_error: null,
    })
    .execute();
  return id;
}

/**
 * Takes up to `limit` due mails for `leaseMs`: nobody else (another instance's worker) sends them
 * meanwhile. PostgreSQL skips rows another worker is claiming; SQLite has one writer at a time.
 */
export async function claimDue(db: Db, now: Date, leaseMs: number, limit: number): Promise<MailOutboxRow[]> {
  return withTransaction(db, async (trx) => {
    let query = trx
      .selectFrom('mail_outbox')
      .selectAll()
      .where('status', '=', 'pending')
      .where('next_attempt_at', '<=', now)
      .where((eb) => eb.or([eb('locked_until', 'is', null), eb('locked_until', '<=', now)]))
      .orderBy('next_attempt_at')
      .orderBy('id')
      .limit(limit);
    if (db.dialect === 'postgres') query = query.forUpdate().skipLocked();
    const rows = await query.execute();
    if (rows.length === 0) return [];
    const until = new Date(now.getTime() + leaseMs);
    await trx
      .updateTable('mail_outbox')
      .set({ locked_until: until })
      .where(
        'id',
        'in',
        rows.map((r) => r.id),
      )
      .execute();
    return rows;
  });
}

export async function markSent(db: Db, id: string, now: Date, attempts: number): Promise<void> {
  await db.kysely
    .updateTable('mail_outbox')
    .set({
      status: 'sent',
      sent_at: now,
      attempts,
      locked_until: null,
      last_error: null,
      text_body: null,
      html_body: null,
    })
    .where('id', '=', id)
    .execute();
}

/** A failed attempt: retried at `retryAt`, or given up (bodies wiped) when `retryAt` is null. */
export async function markFailed(
  db: Db,
  id: string,
  attempts: number,
  error: string,
  retryAt: Date | null,
): Promise<void> {
  await db.kysely
    .updateTable('mail_outbox')
    .set(
      retryAt
        ? { attempts, last_error: error, next_attempt_at: retryAt, locked_until: null }
        : { attempts, last_error: error, status: 'failed', locked_until: null, text_body: null, html_body: null },
    )
    .where('id', '=', id)
    .execute();
}

export interface OutboxEntry {
  id: string;
  kind: string;
  to: string;
  subject: string;
  status: 'pending' | 'sent' | 'failed';
  attempts: number;
  createdAt: Date;
  nextAttemptAt: Date | null;
  sentAt: Date | null;
  lastError: string | null;
}

export interface OutboxSummary {
  pending: number;
  sent: number;
  failed: number;
  oldestPendingAt: Date | null;
  recent: OutboxEntry[];
}

/** Delivery state for administrators: counts and the latest mails (never their bodies). */
export async function summarize(db: Db, recentLimit: number): Promise<OutboxSummary> {
  const counts = await db.kysely
    .selectFrom('mail_outbox')
    .select([
      'status',
      (eb) => eb.fn.countAll<number | string | bigint>().as('n'),
      (eb) => eb.fn.min('created_at').as('oldest'),
    ])
    .groupBy('status')
    .execute();
  const of = (status: string) => Number(counts.find((c) => c.status === status)?.n ?? 0);
  const oldest = counts.find((c) => c.status === 'pending')?.oldest ?? null;
  const rows = await db.kysely
    .selectFrom('mail_outbox')
    .select([
      'id',
      'kind',
      'to_address',
      'subject',
      'status',
      'attempts',
      'created_at',
      'next_attempt_at',
      'sent_at',
      'last_error',
    ])
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(recentLimit)
    .execute();
  return {
    pending: of('pending'),
    sent: of('sent'),
    failed: of('failed'),
    oldestPendingAt: oldest === null ? null : new Date(oldest),
    recent: rows.map((r) => ({
      id: r.id,
      kind: r.kind,
      to: r.to_address,
      subject: r.subject,
      status: r.status,
      attempts: r.attempts,
      createdAt: r.created_at,
      nextAttemptAt: r.status === 'pending' ? r.next_attempt_at : null,
      sentAt: r.sent_at,
      lastError: r.last_error,
    })),
  };
}
