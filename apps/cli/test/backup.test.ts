/**
 * `gatehouse backup` and `gatehouse restore` as a subprocess (from the sources, so the run does
 * not depend on another file's build) on a SQLite file that a real server is using.
 */
import { copyFileSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { createGatehouseClient, isGatehouseError } from '@gatehouse/client';
import { BetterSqlite3 } from '@gatehouse/db';
// Test-only, reached by path: the server is not a dependency of the CLI.
import { startTestServer, type RunningServer } from '../../server/src/testing.js';
import { bin, gatehouse as run, json, type Result } from './run.js';

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-backup-'));
const database = join(dir, 'gatehouse.db');
const env = { DATABASE_URL: `file:${database}`, AUDIT_KEY_FILE: join(dir, 'audit.key') };
const ADMIN = { email: 'root@example.com', name: 'Root Admin', password: 'backup test passphrase one' };

/** From the sources (no build needed), on this file's database. */
const gatehouse = (args: string[], options: { env?: Record<string, string>; input?: string } = {}) =>
  run(args, {
    env: { GATEHOUSE_CLI_FROM_SOURCE: '1', ...env, ...options.env },
    ...(options.input !== undefined ? { input: options.input } : {}),
  });

interface Summary {
  ok: boolean;
  file: string;
  audit: { ok: boolean; checked: number; treeSize: number };
}

const summary = (result: Result): Summary => json<Summary>(result);

let server: RunningServer | undefined;

afterAll(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const auditEvents = (file: string): number => {
  const db = new BetterSqlite3(file, { readonly: true });
  try {
    return Number(db.prepare('select count(*) from audit_events').pluck().get());
  } finally {
    db.close();
  }
};

describe('backup and restore (SQLite)', () => {
  const backupFile = join(dir, 'backup.db');

  test('backup copies the live database while a writer writes; the copy verifies and is private', async () => {
    expect(
      (
        await gatehouse(['create-admin', '--password-stdin', '--email', ADMIN.email, '--name', ADMIN.name], {
          input: ADMIN.password,
        })
      ).code,
    ).toBe(0);
    server = await startTestServer(env);
    const anonymous = createGatehouseClient({ url: server.url });

    // The writer: sign-ins (each one a session row and an audit event) until the backup is done.
    let writing = true;
    let written = 0;
    const writer = (async () => {
      while (writing) {
        await anonymous.auth.signIn.mutate({ identifier: ADMIN.email, password: ADMIN.password });
        written += 1;
      }
    })();
    await new Promise((r) => setTimeout(r, 300));
    const result = await gatehouse(['--json', 'backup', backupFile]).finally(() => (writing = false));
    await writer;

    const made = summary(result);
    expect(made).toMatchObject({ ok: true, file: backupFile, audit: { ok: true } });
    expect(made.audit.checked).toBe(made.audit.treeSize);
    expect(made.audit.checked).toBeGreaterThan(0);
    expect(written).toBeGreaterThan(0);
    expect(statSync(backupFile).mode & 0o777).toBe(0o600);
    // One file: no -wal beside the copy holds part of it.
    expect(auditEvents(backupFile)).toBe(made.audit.checked);

    // Never overwritten without --force (exit 1), with it the copy is taken again.
    const again = await gatehouse(['backup', backupFile]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('--force');
    const forced = summary(await gatehouse(['--json', 'backup', backupFile, '--force']));
    expect(forced.audit.ok).toBe(true);
    expect(statSync(backupFile).mode & 0o777).toBe(0o600);
  });

  test('restore refuses while the server has the database open', async () => {
    const before = auditEvents(database);
    const refused = await gatehouse(['restore', backupFile]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('in use');
    // The server goes on working on its database.
    const signedIn = await createGatehouseClient({ url: server!.url }).auth.signIn.mutate({
      identifier: ADMIN.email,
      password: ADMIN.password,
    });
    expect(signedIn.status).toBe('signed-in');
    expect(auditEvents(database)).toBeGreaterThan(before);
  });

  test('restore refuses a tampered backup, naming the event, and leaves the database alone', async () => {
    await server?.stop();
    server = undefined;
    // stop() removed nothing of ours: the server was given DATABASE_URL in this test's directory.
    const tampered = join(dir, 'tampered.db');
    copyFileSync(backupFile, tampered);
    const db = new BetterSqlite3(tampered);
    db.prepare(`update audit_events set ip = '203.0.113.9' where seq = 2`).run();
    db.close();
    const before = auditEvents(database);

    const refused = await gatehouse(['restore', tampered]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/audit log verification FAILED at seq 2/);
    expect(auditEvents(database)).toBe(before);

    const notSqlite = join(dir, 'garbage.db');
    copyFileSync(bin, notSqlite);
    const garbage = await gatehouse(['restore', notSqlite]);
    expect(garbage.code).toBe(1);
    expect(garbage.stderr).toContain('not a readable SQLite database');
  });

  test('after restore a server on the restored data signs in with the password of the backup', async () => {
    // After the backup the password changes; the restore brings the old one back.
    const changed = 'a password set after the backup';
    expect((await gatehouse(['reset-password', ADMIN.email, '--password-stdin'], { input: changed })).code).toBe(0);

    const restored = summary(await gatehouse(['--json', 'restore', backupFile]));
    expect(restored.audit.ok).toBe(true);
    expect(statSync(database).mode & 0o777).toBe(0o600);
    expect(auditEvents(database)).toBe(restored.audit.checked);

    server = await startTestServer(env);
    const anonymous = createGatehouseClient({ url: server.url });
    const signedIn = await anonymous.auth.signIn.mutate({ identifier: ADMIN.email, password: ADMIN.password });
    if (signedIn.status !== 'signed-in') throw new Error('expected a session');
    const later = await anonymous.auth.signIn
      .mutate({ identifier: ADMIN.email, password: changed })
      .catch((e: unknown) => e);
    expect(isGatehouseError(later, 'UNAUTHORIZED')).toBe(true);

    // The server's own verification agrees, with the events written since the restore.
    const verified = summary(
      await gatehouse(['--json', 'audit', 'verify'], {
        env: { GATEHOUSE_URL: server.url, GATEHOUSE_TOKEN: signedIn.token },
      }),
    ) as unknown as { ok: boolean; checked: number };
    expect(verified.ok).toBe(true);
    expect(verified.checked).toBeGreaterThan(restored.audit.checked);
  });

  test('PostgreSQL: backup and restore point to pg_dump / pg_restore (exit 2)', async () => {
    const pg = { DATABASE_URL: 'postgres://127.0.0.1:5432/test' };
    const backup = await gatehouse(['backup', join(dir, 'pg.db')], { env: pg });
    expect(backup.code).toBe(2);
    expect(backup.stderr).toContain('pg_dump');
    const restore = await gatehouse(['restore', backupFile], { env: pg });
    expect(restore.code).toBe(2);
    expect(restore.stderr).toContain('pg_restore');
  });
});
