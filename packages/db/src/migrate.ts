import { Migrator, sql, type MigrationResult } from 'kysely';
import type { Db } from './database.js';
import { migrationsFor } from './migrations/index.js';

export interface MigrateResult {
  /** Names applied by this call (empty when already up to date). */
  applied: string[];
}

/**
 * Applies every pending migration. Kysely runs them in one transaction under a lock (both
 * dialects have transactional DDL; on SQLite the dialect says so, see sqlite.ts), so a failure
 * leaves the database as it was and two instances starting at once do not race.
 */
export async function migrateToLatest(db: Db): Promise<MigrateResult> {
  // On PostgreSQL, pin Kysely's bookkeeping tables to the current schema: otherwise its
  // existence check can see another schema's tables on the search path and skip creating them.
  const migrationTableSchema =
    db.dialect === 'postgres'
      ? (await sql<{ schema: string }>`select current_schema() as schema`.execute(db.kysely)).rows[0]?.schema
      : undefined;
  const migrator = new Migrator({
    db: db.kysely,
    ...(migrationTableSchema ? { migrationTableSchema } : {}),
    provider: { getMigrations: async () => migrationsFor(db.dialect) },
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r: MigrationResult) => r.status === 'Error');
    throw new Error(
      `Migration ${failed?.migrationName ?? ''} failed: ${error instanceof Error ? error.message : JSON.stringify(error)}`,
      {
        cause: error,
      },
    );
  }
  return { applied: (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName) };
}
