/**
 * `gatehouse import users` on DATABASE_URL: migrates (so users.external_id exists), opens the
 * source, maps its columns and runs the API's import use case as the operator at this terminal.
 */
import {
  cliActor,
  importUsers,
  ImportMappingError,
  resolveColumnMap,
  type ImportProgress,
  type ImportReport,
} from '@gatehouse/api';
import { migrateToLatest } from '@gatehouse/db';
import { openSource, type SourceOptions } from './import-sources.js';
import { UsageError, type CliIO } from './io.js';
import { withDb, withServices } from './local.js';

export interface ImportCommandInput extends SourceOptions {
  map?: string | undefined;
  dryRun: boolean;
  onConflict: 'skip' | 'update';
  skipRejected: boolean;
  batchSize: number;
  onProgress?: (progress: ImportProgress) => void;
}

export async function importUsersFromSource(io: CliIO, input: ImportCommandInput): Promise<ImportReport> {
  const source = await openSource(input);
  try {
    let map;
    try {
      map = resolveColumnMap(source.columns, input.map);
    } catch (error) {
      if (error instanceof ImportMappingError) throw new UsageError(error.message);
      throw error;
    }
    // Like create-admin: the database is brought up to date first (users.external_id, migration 009).
    await withDb(io, (db) => migrateToLatest(db));
    return await withServices(io, (services) =>
      importUsers(
        services,
        { ...cliActor(), userAgent: 'gatehouse-cli' },
        {
          source: source.label,
          records: source.records,
          map,
          onConflict: input.onConflict,
          dryRun: input.dryRun,
          skipRejected: input.skipRejected,
          batchSize: input.batchSize,
          ...(input.onProgress ? { onProgress: input.onProgress } : {}),
        },
      ),
    );
  } finally {
    await source.close();
  }
}
