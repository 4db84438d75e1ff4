/**
 * `gatehouse import users`: moves the users of the backend Gatehouse replaces in, with their
 * password hashes (docs/migrating.md). Works on DATABASE_URL directly, like create-admin.
 */
import { InvalidArgumentError, Option } from 'commander';
import type { ImportProgress } from '@gatehouse/api';
import type { ImportCommandReport } from '../import-local.js';
import { CliError, note, print, printJson, type CliIO } from '../io.js';
import { LOCAL_HELP, type Register } from './context.js';

/** Exit code when rows were rejected (the report lists them): nothing written unless --skip-rejected. */
export const EXIT_ROWS_REJECTED = 3;

/** Thrown after the report is printed, so `run` exits with EXIT_ROWS_REJECTED. */
export class RowsRejected extends Error {
  override readonly name = 'RowsRejected';
}

const IMPORT_HELP = `
Sources:
  gatehouse import users users.csv                     CSV with a header row
  gatehouse import users users.jsonl                   one JSON object per line
  gatehouse import users --from file:old/app.db        the old app's SQLite file
  gatehouse import users --from postgres://u@host/app --query "select * from users"

Columns are matched automatically: email/email_address, name/full_name, username,
hashed_password/password_hash/password, role or is_admin, is_active, created_at, id (kept as the
user's externalId). --map field=column overrides (fields: email, name, username, passwordHash,
role, isActive, createdAt, externalId); field= drops a match.

Every row is checked before anything is written. If any row is rejected nothing is written
(unless --skip-rejected). Rows without a usable hash are imported without a password; the report
prints a one-time reset link (30 minutes) for each, or --reset-links mail mails it to them.
An email_verified/is_verified/verified (or email_verified_at) column marks addresses verified.

Exit codes: 0 imported (or a clean dry run), 1 failure (unreadable source, database error),
2 wrong usage, 3 rows rejected (listed in the report).
${LOCAL_HELP}`;

function batchSize(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 2000) throw new InvalidArgumentError('expected 1 to 2000');
  return n;
}

/** A bar redrawn in place on a terminal; a plain line every 10% otherwise (logs, CI). */
function progressReporter(io: CliIO): (progress: ImportProgress) => void {
  const tty = io.stderr.isTTY === true;
  let lastStep = -1;
  return ({ phase, done, total }) => {
    if (phase === 'checking') {
      if (tty) io.stderr.write(`\rchecking… ${done} rows`);
      else if (done % 10_000 === 0) note(io, `checked ${done} rows`);
      return;
    }
    if (total === null || total === 0) return;
    const ratio = done / total;
    if (tty) {
      const width = 30;
      const filled = Math.round(ratio * width);
      io.stderr.write(
        `\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} users${done === total ? '\n' : ''}`,
      );
      return;
    }
    const step = Math.floor(ratio * 10);
    if (step !== lastStep) {
      lastStep = step;
      note(io, `written ${done}/${total} users`);
    }
  };
}

function printReport(io: CliIO, report: ImportCommandReport): void {
  const would = !report.written;
  const line = (label: string, value: number | string, extra = '') =>
    print(io, `  ${label.padEnd(14)}${String(value).padStart(8)}${extra}`);
  print(io, `Import from ${report.source}${report.dryRun ? ' (dry run)' : ''}`);
  line('rows read', report.rows);
  line(would ? 'to create' : 'created', report.created);
  line(would ? 'to update' : 'updated', report.updated);
  line(would ? 'to skip' : 'skipped', report.skipped, `  (already there; --on-conflict ${report.onConflict})`);
  line('rejected', report.rejected);
  const schemes = Object.entries(report.schemes).map(([scheme, n]) => `${scheme} ${n}`);
  if (schemes.length > 0) print(io, `  hash schemes: ${schemes.join(', ')}`);
  if (report.rejectedRows.length > 0) {
    print(io, '\nRejected rows:');
    for (const r of report.rejectedRows)
      print(io, `  row ${r.row}  ${r.reason}  ${r.email ? `${r.email}: ` : ''}${r.message}`);
  }
  if (report.withoutPassword.length > 0) {
    print(
      io,
      `\nWithout a usable password hash (${would ? 'would be ' : ''}imported without a password; send each a reset link):`,
    );
    for (const u of report.withoutPassword) print(io, `  row ${u.row}  ${u.email}${u.userId ? `  ${u.userId}` : ''}`);
  }
  if (report.resetLinks.length > 0) {
    const until = report.resetLinks.find((l) => l.expiresAt)?.expiresAt;
    print(
      io,
      `\nReset links (each works once${until ? `, until ${until.toISOString()}` : ''}; hand them over privately):`,
    );
    for (const l of report.resetLinks) {
      const what = l.skipped ? 'none: the user is deactivated' : l.mailed ? 'mailed' : (l.url ?? '');
      print(io, `  ${l.email}  ${what}`);
    }
  }
  if (report.written || report.dryRun) return;
  if (report.rejectedRows.some((r) => r.reason === 'unreadable_row')) {
    print(io, '\nNothing was written: the source could not be read to the end.');
  } else {
    print(io, '\nNothing was written: fix the rejected rows, or run again with --skip-rejected to import the others.');
  }
}

export const register: Register = (program, { io, json }) => {
  const group = program.command('import').description('move users in from the backend Gatehouse replaces');
  group
    .command('users')
    .description('import users with their password hashes from CSV, JSON Lines, SQLite or PostgreSQL')
    .argument('[file]', 'a .csv or .jsonl file')
    .option('--from <source>', "file:<sqlite path> or postgres://… (the old application's database)")
    .option('--query <sql>', 'the select to read users with --from (default: select * from users)')
    .addOption(new Option('--format <format>', 'the file format (default: by extension)').choices(['csv', 'jsonl']))
    .option('--map <pairs>', 'field=column,… over the automatic matches')
    .option('--dry-run', 'check every row and print the report; write nothing')
    .addOption(
      new Option('--on-conflict <action>', 'an existing user with the same email')
        .choices(['skip', 'update'])
        .default('skip'),
    )
    .option('--skip-rejected', 'import the valid rows even if some are rejected')
    .option('--batch-size <n>', 'users per transaction (1-2000)', batchSize, 500)
    .addOption(
      new Option(
        '--reset-links <how>',
        'for users imported without a password: print a reset link, mail it, or neither',
      )
        .choices(['print', 'mail', 'none'])
        .default('print'),
    )
    .addHelpText('after', IMPORT_HELP)
    .action(
      async (
        file: string | undefined,
        opts: {
          from?: string;
          query?: string;
          format?: 'csv' | 'jsonl';
          map?: string;
          dryRun?: boolean;
          onConflict: 'skip' | 'update';
          skipRejected?: boolean;
          batchSize: number;
          resetLinks: 'print' | 'mail' | 'none';
        },
      ) => {
        // Loaded on use, like every local command: --help never loads the database drivers.
        const { importUsersFromSource } = await import('../import-local.js');
        const report = await importUsersFromSource(io, {
          file,
          from: opts.from,
          query: opts.query,
          format: opts.format,
          map: opts.map,
          dryRun: opts.dryRun === true,
          onConflict: opts.onConflict,
          skipRejected: opts.skipRejected === true,
          batchSize: opts.batchSize,
          resetLinks: opts.resetLinks,
          // On stderr, so --json output on stdout stays clean.
          onProgress: progressReporter(io),
        });
        if (json()) printJson(io, report);
        else printReport(io, report);
        if (report.rejectedRows.some((r) => r.reason === 'unreadable_row')) {
          throw new CliError('the source could not be read to the end: nothing was written', { cause: 'reported' });
        }
        if (report.rejected > 0) throw new RowsRejected(`${report.rejected} row(s) rejected`);
      },
    );
};
