/**
 * `gatehouse backup` / `gatehouse restore` for a SQLite database (DATABASE_URL=file:…).
 *
 * - backup: SQLite's online backup API copies the live file page by page while a server goes on
 *   writing (a write from another connection restarts the copy, so the result is one committed
 *   state). The copy is written to a private temp file beside the target, made self-contained
 *   (rollback journal instead of WAL), checked (`integrity_check`, then the full audit log
 *   verification that `gatehouse audit verify` runs on a server), and only then put in place.
 * - restore: the backup is checked the same way first; then the database must be unused — a
 *   server keeps its connection open, and SQLite refuses to take a WAL database out of WAL mode
 *   while any other connection has it open, so that switch (with a short busy timeout) is the
 *   probe. The backup is copied to a temp file in the database's directory, fsynced and renamed
 *   over the database; stale -wal/-shm/-journal files go first, so none is replayed onto it.
 *
 * PostgreSQL has its own tools (pg_dump / pg_restore, docs/deployment.md).
 */
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, linkSync, openSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { Kysely, SqliteDialect } from 'kysely';
import {
  defaultApiConfig,
  defaultOrigin,
  loadOrCreateSigningKey,
  readKeyHistory,
  verifyAuditLog,
  type AuditVerifyResult,
} from '@gatehouse/api';
import { BetterSqlite3, parseDatabaseUrl, type Database, type Db } from '@gatehouse/db';
import { CliError, UsageError, type CliIO } from './io.js';
import { databaseUrl } from './local.js';

/** What a backup or a restore checked, for the summary line and `--json`. */
export interface CopyCheck {
  /** Bytes of the checked file. */
  bytes: number;
  audit: AuditVerifyResult;
}

export interface BackupResult extends CopyCheck {
  ok: true;
  database: string;
  file: string;
}

export interface RestoreResult extends CopyCheck {
  ok: true;
  database: string;
  file: string;
  /** Sidecar files of the replaced database that were removed. */
  removed: string[];
  /**
   * The checkpoint kept outside the database (`<AUDIT_KEY_FILE>.checkpoint`) describes the
   * replaced log, so the server would refuse the restored one as tampered: it is moved aside
   * (kept, as evidence of the log before the restore) to this path. Null when there was none.
   */
  previousCheckpoint: string | null;
}

/** The SQLite file DATABASE_URL names; PostgreSQL is refused with what to use instead (exit 2). */
function sqlitePath(io: CliIO, command: 'backup' | 'restore'): string {
  const location = parseDatabaseUrl(databaseUrl(io));
  if (location.dialect === 'postgres') {
    const tool = command === 'backup' ? 'pg_dump' : 'pg_restore';
    throw new UsageError(
      `${command} works on a SQLite database; for PostgreSQL use ${tool} (see docs/deployment.md), then check it with \`gatehouse audit verify\``,
    );
  }
  if (location.path === ':memory:') throw new UsageError(`${command} needs a database file, not :memory:`);
  return resolve(location.path);
}

/** The verifier for checkpoints: the server's key (AUDIT_KEY_FILE), never one made up here. */
function auditVerifier(io: CliIO) {
  const keyFile = io.env.AUDIT_KEY_FILE || defaultApiConfig.auditKeyFile;
  if (!existsSync(keyFile)) {
    throw new CliError(`no audit key at ${keyFile}: set AUDIT_KEY_FILE to the server's key to check the audit log`);
  }
  const current = loadOrCreateSigningKey(keyFile, defaultOrigin(io.env.PUBLIC_ORIGIN || defaultApiConfig.publicOrigin));
  // Checkpoints signed before a `gatehouse audit rotate-key` verify against the retired keys.
  return { current, history: readKeyHistory(`${keyFile}.history`) };
}

/** A private temp file beside `target` (same directory, so a rename replaces it atomically). */
function tempBeside(target: string): string {
  const temp = join(dirname(target), `.${basename(target)}.${randomBytes(6).toString('hex')}.tmp`);
  closeSync(openSync(temp, 'wx', 0o600));
  return temp;
}

function fsyncPath(path: string, flags = 'r'): void {
  const fd = openSync(path, flags);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Copies the SQLite database at `from` into `to` (an existing empty file) with the online
 * backup API, and makes the copy a single file: rollback journal, no -wal beside it.
 */
async function copyDatabase(from: string, to: string): Promise<void> {
  const source = new BetterSqlite3(from, { fileMustExist: true });
  try {
    source.pragma('busy_timeout = 5000');
    await source.backup(to);
  } finally {
    source.close();
  }
  const copy = new BetterSqlite3(to, { fileMustExist: true });
  try {
    copy.pragma('journal_mode = DELETE');
  } finally {
    copy.close();
  }
  fsyncPath(to, 'r+');
}

/** A read-only `Db` on a SQLite file; verification reads it through its own read-only snapshot. */
function readOnlyDb(path: string): Db {
  const kysely = new Kysely<Database>({
    dialect: new SqliteDialect({
      database: async () => new BetterSqlite3(path, { readonly: true, fileMustExist: true }),
    }),
  });
  return { kysely, dialect: 'sqlite', url: `file:${path}`, close: () => kysely.destroy() };
}

/**
 * Opens `path` read-only and checks it: SQLite's integrity check, then the whole audit log
 * (leaf hashes, stored subtrees, the tree head and every signed checkpoint). Throws when either fails.
 */
async function checkCopy(io: CliIO, path: string, what: string): Promise<CopyCheck> {
  const verifier = auditVerifier(io);
  let integrity: string;
  try {
    const raw = new BetterSqlite3(path, { readonly: true, fileMustExist: true });
    try {
      integrity = String(raw.pragma('integrity_check', { simple: true }));
    } finally {
      raw.close();
    }
  } catch {
    throw new CliError(`${what} is not a readable SQLite database`);
  }
  if (integrity !== 'ok') throw new CliError(`${what} is damaged (SQLite integrity check: ${integrity})`);
  const db = readOnlyDb(path);
  let audit: AuditVerifyResult;
  try {
    audit = await verifyAuditLog(db, verifier);
  } catch {
    throw new CliError(`${what} holds no Gatehouse audit log (not a Gatehouse database, or not migrated)`);
  } finally {
    await db.close();
  }
  if (!audit.ok) {
    const at = audit.firstInvalidSeq !== null ? ` at seq ${audit.firstInvalidSeq}` : '';
    throw new CliError(`${what}: audit log verification FAILED${at}: ${audit.reason ?? 'unknown'}`);
  }
  return { bytes: statSync(path).size, audit };
}

/** `gatehouse backup <file>`: an online, verified copy of the live SQLite database (mode 0600). */
export async function backupDatabase(io: CliIO, file: string, options: { force: boolean }): Promise<BackupResult> {
  const database = sqlitePath(io, 'backup');
  const target = resolve(file);
  if (target === database) throw new UsageError('the backup file cannot be the database itself');
  if (!existsSync(database)) throw new CliError(`no database at ${database} (check DATABASE_URL)`);
  if (!existsSync(dirname(target))) throw new CliError(`no directory ${dirname(target)}`);
  if (!options.force && existsSync(target)) throw new CliError(`${file} exists: pass --force to overwrite it`);

  const temp = tempBeside(target);
  try {
    await copyDatabase(database, temp);
    const check = await checkCopy(io, temp, 'the copy');
    if (options.force) {
      renameSync(temp, target);
    } else {
      // A hard link fails if the target appeared meanwhile: never overwrite without --force.
      try {
        linkSync(temp, target);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
          throw new CliError(`${file} exists: pass --force to overwrite it`);
        }
        throw error;
      }
    }
    fsyncPath(dirname(target));
    return { ok: true, database, file: target, ...check };
  } finally {
    rmSync(temp, { force: true });
  }
}

/**
 * Whether another connection (a running server, another CLI) has the database open: taking a
 * WAL database out of WAL mode needs every other connection closed. As a side effect an unused
 * database is checkpointed and left in rollback-journal mode (it is about to be replaced).
 */
function inUse(database: string): boolean {
  const probe = new BetterSqlite3(database, { fileMustExist: true });
  try {
    probe.pragma('busy_timeout = 1000');
    const mode = String(probe.pragma('journal_mode = DELETE', { simple: true }));
    return mode !== 'delete';
  } catch (error) {
    if ((error as { code?: unknown }).code === 'SQLITE_BUSY') return true;
    throw error;
  } finally {
    probe.close();
  }
}

/** `gatehouse restore <file>`: replaces the (unused) SQLite database with a verified backup. */
export async function restoreDatabase(io: CliIO, file: string): Promise<RestoreResult> {
  const database = sqlitePath(io, 'restore');
  const backup = resolve(file);
  if (backup === database) throw new UsageError('the backup file cannot be the database itself');
  if (!existsSync(backup)) throw new CliError(`no backup at ${file}`);
  const check = await checkCopy(io, backup, `the backup ${file}`);
  if (!existsSync(dirname(database))) throw new CliError(`no directory ${dirname(database)} (check DATABASE_URL)`);
  if (existsSync(database) && inUse(database)) {
    throw new CliError('the database is in use (is a server running on it?): stop it, then restore');
  }

  const temp = tempBeside(database);
  try {
    await copyDatabase(backup, temp);
    // A -wal or -journal left beside the old file must not be replayed onto the restored one.
    const removed: string[] = [];
    for (const suffix of ['-wal', '-shm', '-journal']) {
      if (existsSync(database + suffix)) {
        rmSync(database + suffix, { force: true });
        removed.push(database + suffix);
      }
    }
    renameSync(temp, database);
    fsyncPath(dirname(database));
    const outside = `${io.env.AUDIT_KEY_FILE || defaultApiConfig.auditKeyFile}.checkpoint`;
    let previousCheckpoint: string | null = null;
    if (existsSync(outside)) {
      previousCheckpoint = `${outside}.before-restore-${new Date().toISOString().replace(/[:.]/g, '-')}`;
      renameSync(outside, previousCheckpoint);
    }
    return { ok: true, database, file: backup, removed, previousCheckpoint, ...check };
  } finally {
    rmSync(temp, { force: true });
  }
}
