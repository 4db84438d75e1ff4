/**
 * `gatehouse import users` on DATABASE_URL: migrates (so users.external_id exists), opens the
 * source, maps its columns and runs the API's import use case as the operator at this terminal.
 */
import {
  cliActor,
  importUsers,
  ImportMappingError,
  issueImportResetLinks,
  resolveColumnMap,
  type ImportProgress,
  type ImportReport,
  type ImportResetLink,
} from '@gatehouse/api';
import { migrateToLatest } from '@gatehouse/db';
import { openSource, type SourceOptions } from './import-sources.js';
import { CliError, UsageError, type CliIO } from './io.js';
import { withDb, withServices } from './local.js';

export interface ImportCommandInput extends SourceOptions {
  map?: string | undefined;
  dryRun: boolean;
  onConflict: 'skip' | 'update';
  skipRejected: boolean;
  batchSize: number;
  onProgress?: (progress: ImportProgress) => void;
  /**
   * #14: a one-time reset link for each user imported without a password — printed in the
   * report (`print`), mailed to the user (`mail`, needs mail configured) or neither (`none`).
   */
  resetLinks?: 'print' | 'mail' | 'none';
}

/** The use case's report, with the reset links issued for the users without a password. */
export type ImportCommandReport = ImportReport & { resetLinks: ImportResetLink[] };

export async function importUsersFromSource(io: CliIO, input: ImportCommandInput): Promise<ImportCommandReport> {
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
    const actor = { ...cliActor(), userAgent: 'gatehouse-cli' };
    const resetLinks = input.resetLinks ?? 'print';
    return await withServices(
      io,
      async (services) => {
        // Refused before anything is written, not after.
        if (resetLinks === 'mail' && !services.mail.configured) {
          throw new CliError('--reset-links mail: mail is not configured (SMTP_URL); use --reset-links print');
        }
        const report = await importUsers(services, actor, {
          source: source.label,
          records: source.records,
          map,
          onConflict: input.onConflict,
          dryRun: input.dryRun,
          skipRejected: input.skipRejected,
          batchSize: input.batchSize,
          ...(input.onProgress ? { onProgress: input.onProgress } : {}),
        });
        const links = resetLinks === 'none' ? [] : await issueImportResetLinks(services, actor, report, resetLinks);
        // Sent now when SMTP answers; otherwise the outbox keeps them for the server's worker.
        if (links.some((l) => l.mailed)) await services.mail.deliverDue();
        return { ...report, resetLinks: links };
      },
      { mail: resetLinks === 'mail' },
    );
  } finally {
    await source.close();
  }
}
