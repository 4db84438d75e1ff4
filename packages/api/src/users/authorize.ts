/**
 * The one admin check. Every admin-only path asks it: `adminProcedure` before the procedure
 * runs, role-sensitive writes again inside their write transaction (with the actor's row
 * locked, so a demotion committed while a password was hashing is seen), the session service
 * for someone else's session, and the live audit feed on every re-validation.
 */
import type { Database, Db, Transaction } from '@gatehouse/db';
import type { Actor } from '../actor.js';
import { DomainError, unauthenticated } from '../errors.js';
import { findById, lockById } from './repository.js';

const adminRequired = () => new DomainError('FORBIDDEN', 'admin_required', 'Administrators only');

/** The signed-in user making the call: UNAUTHORIZED (`unauthenticated`) when there is none. */
export function requireUser(actor: Actor): string {
  if (actor.userId === null) throw unauthenticated();
  return actor.userId;
}

/**
 * Refuses unless the actor is an active administrator, read from the database now (never from a
 * cache): UNAUTHORIZED (`unauthenticated`) without a user or for a deactivated or deleted one,
 * FORBIDDEN (`admin_required`) for anyone else. Inside `trx` the actor's row stays locked until
 * the commit, so a demotion cannot slip in between this check and the write.
 *
 * The CLI operator and Gatehouse itself (`via` 'cli' or 'system', never an API request: those are
 * always `via: 'api'`) pass: they work on the database directly and could write the rows anyway.
 */
export async function requireAdmin(
  deps: { db: Pick<Db, 'dialect' | 'kysely'> },
  actor: Actor,
  trx?: Transaction<Database>,
): Promise<void> {
  if (actor.via !== 'api') return;
  const userId = requireUser(actor);
  const row = trx ? await lockById(deps.db, trx, userId) : await findById(deps.db.kysely, userId);
  if (!row || !row.is_active) throw unauthenticated();
  if (row.role !== 'admin') throw adminRequired();
}

/** `requireAdmin` as a yes/no answer (for checks that hide rather than refuse). */
export async function isAdmin(
  deps: { db: Pick<Db, 'dialect' | 'kysely'> },
  actor: Actor,
  trx?: Transaction<Database>,
): Promise<boolean> {
  try {
    await requireAdmin(deps, actor, trx);
    return true;
  } catch (error) {
    if (error instanceof DomainError) return false;
    throw error;
  }
}
