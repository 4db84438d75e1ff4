/**
 * `gatehouse import users` (issue #17, docs/migrating.md): the use case, as plain functions over
 * the services container. Two passes:
 *
 * 1. Read and check every row (validate.ts), refuse duplicates within the input, and plan each
 *    row against the database: create, update (`onConflict: 'update'`, matched by email), skip
 *    (`'skip'`), or reject (username or old id held by someone else). Nothing is written yet, so
 *    a dry run is this pass alone, and a broken file (unreadable row) writes nothing at all.
 * 2. Unless some row was rejected (then nothing is written, unless `skipRejected`), write the
 *    plan in batches: each batch, with one `user.imported` audit event per user (source and hash
 *    scheme, never the hash), is one transaction. The plan is re-checked inside it, so a user who
 *    signed up meanwhile is skipped or updated like any other conflict.
 *
 * Hashes are stored as imported, never recomputed: sign-in verifies them (auth/legacy-hashes)
 * and upgrades them to Argon2id.
 */
import type { Database, Transaction } from '@gatehouse/db';
import type { Actor } from '../actor.js';
import { DomainError } from '../errors.js';
import type { PasswordHashScheme } from '../auth/legacy-hashes/index.js';
import type { Services } from '../services.js';
import { transact } from '../unit-of-work.js';
import { newUserRow } from '../users/mapping.js';
import * as repo from '../users/repository.js';
import type { ColumnMap, SourceRecord } from './fields.js';
import { NO_PASSWORD_HASH, validateRecord, type ImportCandidate, type RejectedRow } from './validate.js';

export type ImportDeps = Pick<Services, 'db' | 'clock' | 'sessions' | 'audit' | 'invalidator' | 'onError'>;

/** A source could not read a row (a broken CSV line, invalid JSON): the import stops, writing nothing. */
export class ImportSourceError extends Error {
  constructor(
    readonly row: number,
    message: string,
  ) {
    super(message);
  }
}

export interface ImportProgress {
  phase: 'checking' | 'writing';
  done: number;
  /** Rows to write (known once checking is over); null while checking. */
  total: number | null;
}

export interface ImportUsersInput {
  /** What the audit log and the report name as the source: `csv:users.csv`, `sqlite:old.db`, `postgres:db` (never a password). */
  source: string;
  records: AsyncIterable<SourceRecord> | Iterable<SourceRecord>;
  map: ColumnMap;
  onConflict: 'skip' | 'update';
  dryRun?: boolean;
  /** Write the valid rows even when others were rejected (default: write nothing then). */
  skipRejected?: boolean;
  /** Rows per transaction (default 500). */
  batchSize?: number;
  onProgress?: (progress: ImportProgress) => void;
}

export interface ImportReport {
  source: string;
  dryRun: boolean;
  onConflict: 'skip' | 'update';
  /** Rows read from the source. */
  rows: number;
  /** Created, updated and skipped users (in a dry run or an unwritten import: planned). */
  created: number;
  updated: number;
  skipped: number;
  rejected: number;
  /** False when nothing was written: a dry run, an unreadable source, or rejected rows without skipRejected. */
  written: boolean;
  rejectedRows: RejectedRow[];
  skippedRows: { row: number; email: string }[];
  /**
   * New users without a usable password hash: imported without a password, they need a reset
   * link (userId is null until written).
   */
  withoutPassword: { row: number; email: string; userId: string | null; isActive: boolean }[];
  /** Users per hash scheme among those created or updated with a hash; `none` without one. */
  schemes: Partial<Record<PasswordHashScheme | 'none', number>>;
}

type Planned = { action: 'create' | 'update' | 'skip'; candidate: ImportCandidate; targetId: string | null };

const CHECK_CHUNK = 500;

async function* each<T>(records: AsyncIterable<T> | Iterable<T>): AsyncGenerator<T> {
  for await (const record of records) yield record;
}

/** Rejects the later of two rows that name the same email, username or old id. */
function firstOccurrences(candidates: ImportCandidate[], rejectedRows: RejectedRow[]): ImportCandidate[] {
  const seen = {
    email: new Map<string, number>(),
    username: new Map<string, number>(),
    externalId: new Map<string, number>(),
  };
  const kept: ImportCandidate[] = [];
  for (const c of candidates) {
    const email = seen.email.get(c.emailKey);
    const username = c.usernameKey === null ? undefined : seen.username.get(c.usernameKey);
    const externalId = c.externalId === null ? undefined : seen.externalId.get(c.externalId);
    if (email !== undefined) {
      rejectedRows.push({
        row: c.row,
        reason: 'duplicate_email',
        message: `same email as row ${email}`,
        email: c.email,
      });
    } else if (username !== undefined) {
      rejectedRows.push({
        row: c.row,
        reason: 'duplicate_username',
        message: `same username as row ${username}`,
        email: c.email,
      });
    } else if (externalId !== undefined) {
      rejectedRows.push({
        row: c.row,
        reason: 'duplicate_external_id',
        message: `same old id as row ${externalId}`,
        email: c.email,
      });
    } else {
      seen.email.set(c.emailKey, c.row);
      if (c.usernameKey !== null) seen.username.set(c.usernameKey, c.row);
      if (c.externalId !== null) seen.externalId.set(c.externalId, c.row);
      kept.push(c);
    }
  }
  return kept;
}

/** Plans `candidates` against the users in `executor`; rows taken by someone else go to `rejectedRows`. */
async function plan(
  executor: repo.Executor,
  candidates: readonly ImportCandidate[],
  onConflict: 'skip' | 'update',
  rejectedRows: RejectedRow[],
): Promise<Planned[]> {
  const existing = await repo.findImportConflicts(executor, {
    emailKeys: candidates.map((c) => c.emailKey),
    usernameKeys: candidates.flatMap((c) => (c.usernameKey === null ? [] : [c.usernameKey])),
    externalIds: candidates.flatMap((c) => (c.externalId === null ? [] : [c.externalId])),
  });
  const byEmail = new Map(existing.map((u) => [u.email_key, u.id]));
  const byUsername = new Map(
    existing.flatMap((u) => (u.username_key === null ? [] : [[u.username_key, u.id] as const])),
  );
  const byExternalId = new Map(
    existing.flatMap((u) => (u.external_id === null ? [] : [[u.external_id, u.id] as const])),
  );
  const planned: Planned[] = [];
  for (const candidate of candidates) {
    const targetId = byEmail.get(candidate.emailKey) ?? null;
    if (targetId !== null && onConflict === 'skip') {
      planned.push({ action: 'skip', candidate, targetId });
      continue;
    }
    const usernameHolder = candidate.usernameKey === null ? undefined : byUsername.get(candidate.usernameKey);
    const externalIdHolder = candidate.externalId === null ? undefined : byExternalId.get(candidate.externalId);
    if (usernameHolder !== undefined && usernameHolder !== targetId) {
      rejectedRows.push({
        row: candidate.row,
        reason: 'username_taken',
        message: 'another user has this username',
        email: candidate.email,
      });
    } else if (externalIdHolder !== undefined && externalIdHolder !== targetId) {
      rejectedRows.push({
        row: candidate.row,
        reason: 'external_id_taken',
        message: 'another user has this old id',
        email: candidate.email,
      });
    } else {
      planned.push({ action: targetId === null ? 'create' : 'update', candidate, targetId });
    }
  }
  return planned;
}

/**
 * `--on-conflict update` may demote or deactivate admins: like every other change, it must leave
 * an active admin (CONFLICT `last_admin`, the batch rolled back). The admins are locked first, in
 * the users module's one lock order, so a concurrent demotion cannot slip between.
 */
async function keepAnActiveAdmin(
  deps: ImportDeps,
  trx: Transaction<Database>,
  planned: readonly Planned[],
): Promise<void> {
  const demoting = planned.filter(
    (p) => p.action === 'update' && p.targetId !== null && (p.candidate.role !== 'admin' || !p.candidate.isActive),
  );
  if (demoting.length === 0) return;
  const locked = await repo.lockForChange(deps.db, trx, { ids: demoting.map((p) => p.targetId), activeAdmins: true });
  const demoted = new Set(demoting.map((p) => p.targetId));
  const admins = locked.filter((u) => u.role === 'admin' && u.is_active);
  if (admins.length > 0 && admins.every((u) => demoted.has(u.id))) {
    throw new DomainError('CONFLICT', 'last_admin', 'The import would leave no active admin');
  }
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

export async function importUsers(deps: ImportDeps, actor: Actor, input: ImportUsersInput): Promise<ImportReport> {
  const batchSize = Math.max(1, Math.min(input.batchSize ?? 500, 2000));
  const rejectedRows: RejectedRow[] = [];
  const candidates: ImportCandidate[] = [];
  let rows = 0;
  let unreadable = false;

  // ---- pass 1: read and check every row -------------------------------------------------------
  try {
    for await (const record of each(input.records)) {
      rows++;
      const result = validateRecord(rows, record, input.map);
      if (result.ok) candidates.push(result.candidate);
      else rejectedRows.push(result.rejected);
      if (rows % 1000 === 0) input.onProgress?.({ phase: 'checking', done: rows, total: null });
    }
  } catch (error) {
    if (!(error instanceof ImportSourceError)) throw error;
    unreadable = true;
    rejectedRows.push({ row: error.row, reason: 'unreadable_row', message: error.message });
    rows = Math.max(rows, error.row);
  }
  const unique = firstOccurrences(candidates, rejectedRows);
  const planned: Planned[] = [];
  for (const chunk of chunks(unique, CHECK_CHUNK)) {
    planned.push(...(await plan(deps.db.kysely, chunk, input.onConflict, rejectedRows)));
  }
  rejectedRows.sort((a, b) => a.row - b.row);

  const dryRun = input.dryRun === true;
  const write = !dryRun && !unreadable && (rejectedRows.length === 0 || input.skipRejected === true);
  const report: ImportReport = {
    source: input.source,
    dryRun,
    onConflict: input.onConflict,
    rows,
    created: 0,
    updated: 0,
    skipped: 0,
    rejected: rejectedRows.length,
    written: false,
    rejectedRows,
    skippedRows: [],
    withoutPassword: [],
    schemes: {},
  };
  const count = (p: Planned, userId: string | null) => {
    if (p.action === 'skip') {
      report.skipped++;
      report.skippedRows.push({ row: p.candidate.row, email: p.candidate.email });
      return;
    }
    if (p.action === 'create') report.created++;
    else report.updated++;
    const scheme = p.candidate.scheme ?? 'none';
    report.schemes[scheme] = (report.schemes[scheme] ?? 0) + 1;
    if (p.action === 'create' && p.candidate.passwordHash === null) {
      report.withoutPassword.push({
        row: p.candidate.row,
        email: p.candidate.email,
        userId,
        isActive: p.candidate.isActive,
      });
    }
  };
  if (!write) {
    for (const p of planned) count(p, null);
    return report;
  }

  // ---- pass 2: write in batches, one transaction each ---------------------------------------
  const toWrite = planned.filter((p) => p.action !== 'skip');
  for (const p of planned) if (p.action === 'skip') count(p, null);
  let done = 0;
  input.onProgress?.({ phase: 'writing', done, total: toWrite.length });
  for (const batch of chunks(toWrite, batchSize)) {
    const outcome = await transact(deps, async (work) => {
      // Re-planned in the transaction: whoever signed up since pass 1 is a conflict like any other.
      const lateRejections: RejectedRow[] = [];
      const current = await plan(
        work.trx,
        batch.map((p) => p.candidate),
        input.onConflict,
        lateRejections,
      );
      const now = deps.clock.now();
      const created: { p: Planned; id: string }[] = [];
      const newRows = current
        .filter((p) => p.action === 'create')
        .map((p) => {
          const c = p.candidate;
          const row = newUserRow({
            email: c.email,
            username: c.username,
            name: c.name,
            role: c.role,
            passwordHash: c.passwordHash ?? NO_PASSWORD_HASH,
            now,
            externalId: c.externalId,
            emailVerifiedAt: c.emailVerifiedAt === 'now' ? now : c.emailVerifiedAt,
          });
          row.is_active = c.isActive;
          if (c.createdAt) row.created_at = c.createdAt;
          created.push({ p, id: row.id });
          return row;
        });
      await repo.insertUsers(work.trx, newRows);
      await keepAnActiveAdmin(deps, work.trx, current);
      const updated: { p: Planned; id: string }[] = [];
      for (const p of current) {
        if (p.action !== 'update' || p.targetId === null) continue;
        const c = p.candidate;
        await repo.updateImportedUser(work.trx, p.targetId, {
          name: c.name,
          ...(c.username !== null ? { username: c.username } : {}),
          role: c.role,
          is_active: c.isActive,
          ...(c.externalId !== null ? { external_id: c.externalId } : {}),
          ...(c.passwordHash !== null ? { password_hash: c.passwordHash } : {}),
          // A verified address in the source verifies it here (an earlier verification is kept);
          // an unverified one never un-verifies what Gatehouse has seen proven.
          ...(c.emailVerifiedAt !== null
            ? { email_verified_at: c.emailVerifiedAt === 'now' ? now : c.emailVerifiedAt }
            : {}),
          updated_at: now,
        });
        // A new password or a deactivation ends the sessions the user had.
        if (c.passwordHash !== null || !c.isActive) await deps.sessions.revokeAllForUser(work.trx, p.targetId);
        updated.push({ p, id: p.targetId });
      }
      for (const { p, id } of [...created, ...updated]) {
        await deps.audit.append(work.trx, {
          type: 'user.imported',
          actorId: actor.userId,
          targetId: id,
          ip: actor.ip,
          userAgent: actor.userAgent,
          data: {
            source: input.source,
            scheme: p.candidate.scheme ?? 'none',
            action: p.action === 'create' ? 'created' : 'updated',
            ...(p.candidate.externalId !== null ? { externalId: p.candidate.externalId } : {}),
            ...(actor.via === 'cli' ? { via: 'cli' } : {}),
          },
        });
      }
      if (updated.length > 0) work.invalidate({ userIds: updated.map((u) => u.id) });
      return { created, updated, skipped: current.filter((p) => p.action === 'skip'), lateRejections };
    });
    for (const { p, id } of [...outcome.created, ...outcome.updated]) count(p, id);
    for (const p of outcome.skipped) count(p, null);
    report.rejectedRows.push(...outcome.lateRejections);
    report.rejected = report.rejectedRows.length;
    done += batch.length;
    input.onProgress?.({ phase: 'writing', done, total: toWrite.length });
  }
  report.written = true;
  return report;
}
