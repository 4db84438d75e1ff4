/**
 * The one way a service writes: `transact(deps, (work) => …)`. Inside, `work.trx` is the
 * transaction (the change and its audit event commit together); `work.invalidate(…)` names the
 * cached facts the change makes stale, and `work.afterCommit(…)` queues anything else that must
 * happen only once the change is durable (mail, notifications). Both run after COMMIT, never
 * after a rollback, so no service places `invalidate()` calls by hand.
 */
import { withTransaction, type Database, type Db, type Transaction } from '@gatehouse/db';

/** Cached facts made stale by a write: sessions by id, users by id (every instance drops them). */
export interface Invalidation {
  readonly sessionIds?: readonly string[];
  readonly userIds?: readonly string[];
}

/** Drops cached entries here and on every other instance (sessions/ implements it over the bus). */
export interface Invalidator {
  invalidate(target: Invalidation): Promise<void>;
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
  const result = await withTransaction(deps.db, (trx) =>
    fn({
      trx,
      invalidate(target) {
        for (const id of target.sessionIds ?? []) sessionIds.add(id);
        for (const id of target.userIds ?? []) userIds.add(id);
      },
      afterCommit(task) {
        tasks.push(task);
      },
    }),
  );
  // Committed. Invalidation first: a caller that reads right after `transact` returns must not
  // see the stale cached facts on this instance.
  if (sessionIds.size > 0 || userIds.size > 0) {
    await deps.invalidator.invalidate({ sessionIds: [...sessionIds], userIds: [...userIds] });
  }
  for (const task of tasks) {
    try {
      await task();
    } catch (error) {
      deps.onError?.(error);
    }
  }
  return result;
}
