/**
 * The one way a service writes: `transact(deps, (work) => …)`. Inside, `work.trx` is the
 * transaction (the change and its audit event commit together); `work.invalidate(…)` names the
 * cached facts the change makes stale, and `work.afterCommit(…)` queues anything else that must
 * happen only once the change is durable (mail, notifications). Both run after COMMIT, never
 * after a rollback, so no service places `invalidate()` calls by hand. Where the bus can, the
 * other instances are told inside the transaction itself (PostgreSQL NOTIFY, a row in SQLite's
 * invalidation table), so they hear of exactly the changes that commit.
 */
import { withTransaction, type Database, type Db, type Transaction } from '@gatehouse/db';

/** Cached facts made stale by a write: sessions by id, users by id (every instance drops them). */
export interface Invalidation {
  readonly sessionIds?: readonly string[];
  readonly userIds?: readonly string[];
}

/** Drops cached entries here and on every other instance (sessions/ implements it over the bus). */
export interface Invalidator {
  /**
   * Inside the transaction, once the work is done: tells the other instances as part of the
   * commit where the bus allows it. False when it cannot (Redis): `invalidate` tells them then.
   */
  publishInTransaction(trx: Transaction<Database>, target: Invalidation): Promise<boolean>;
  /** After commit: drops the entries here and, unless `published` already did, on the others. */
  invalidate(target: Invalidation, options?: { published?: boolean }): Promise<void>;
}

export interface Work {
  readonly trx: Transaction<Database>;
  invalidate(target: Invalidation): void;
  afterCommit(task: () => void | Promise<void>): void;
}

export interface UnitOfWorkDeps {
  readonly db: Db;
  readonly invalidator: Invalidator;
  /** Where after-commit failures go (the change itself is already committed). */
  readonly onError?: ((error: unknown) => void) | undefined;
}

export async function transact<T>(deps: UnitOfWorkDeps, fn: (work: Work) => Promise<T>): Promise<T> {
  const sessionIds = new Set<string>();
  const userIds = new Set<string>();
  const tasks: (() => void | Promise<void>)[] = [];
  const stale = (): Invalidation | null =>
    sessionIds.size > 0 || userIds.size > 0 ? { sessionIds: [...sessionIds], userIds: [...userIds] } : null;
  let published = false;
  const result = await withTransaction(deps.db, async (trx) => {
    const value = await fn({
      trx,
      invalidate(target) {
        for (const id of target.sessionIds ?? []) sessionIds.add(id);
        for (const id of target.userIds ?? []) userIds.add(id);
      },
      afterCommit(task) {
        tasks.push(task);
      },
    });
    const target = stale();
    if (target) published = await deps.invalidator.publishInTransaction(trx, target);
    return value;
  });
  // Committed. Invalidation first: a caller that reads right after `transact` returns must not
  // see the stale cached facts on this instance.
  const target = stale();
  if (target) await deps.invalidator.invalidate(target, { published });
  for (const task of tasks) {
    try {
      await task();
    } catch (error) {
      deps.onError?.(error);
    }
  }
  return result;
}
