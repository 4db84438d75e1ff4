/**
 * `gatehouse import users` end to end, as a subprocess, into SQLite and PostgreSQL: files made
 * here with hashes from the real Python libraries, and old applications' own databases (a Knex
 * SQLite file with integer ids, a FastAPI/SQLAlchemy PostgreSQL database with UUID ids).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createPasswordHasher, type ImportReport } from '@gatehouse/api';
import { BetterSqlite3, type Db } from '@gatehouse/db';
import { createTestDatabase, testDialects, type TestDatabase } from '@gatehouse/db/testing';
import { gatehouse, type Result } from './run.js';
import type { ImportCommandReport } from '../src/import-local.js';
// Test-only, reached by path (as in mail.test.ts): the API's test helpers and SMTP server.
import { callerFor, createTestServices } from '../../../packages/api/src/testing.js';
import { startTestSmtp, tokenFromLink } from '../../../packages/api/src/mail/test-smtp.js';

/** Hashes from passlib, bcrypt, Django and werkzeug, made now by /usr/bin/python3. */
function pythonHashes(
  password: string,
): Record<'bcrypt' | 'passlibArgon2' | 'passlibBcryptSha256' | 'django' | 'werkzeug', string> {
  const script = `
import json, sys, bcrypt, passlib.hash as ph, werkzeug.security as ws
from django.conf import settings
settings.configure(PASSWORD_HASHERS=["django.contrib.auth.hashers.PBKDF2PasswordHasher"])
from django.contrib.auth.hashers import make_password
p = sys.argv[1]
print(json.dumps({
  "bcrypt": bcrypt.hashpw(p.encode(), bcrypt.gensalt(4)).decode(),
  "passlibArgon2": ph.argon2.using(memory_cost=1024, rounds=1).hash(p),
  "passlibBcryptSha256": ph.bcrypt_sha256.using(rounds=4).hash(p),
  "django": make_password(p),
  "werkzeug": ws.generate_password_hash(p, method="pbkdf2:sha256:1000"),
}))`;
  return JSON.parse(execFileSync('/usr/bin/python3', ['-c', script, password], { encoding: 'utf8' })) as ReturnType<
    typeof pythonHashes
  >;
}

const report = (result: Result) => JSON.parse(result.stdout) as ImportReport & Pick<ImportCommandReport, 'resetLinks'>;
const hasher = createPasswordHasher();

describe.each(testDialects)('gatehouse import users into %s', (dialect) => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-import-'));
  let target: TestDatabase;
  let db: Db;
  let env: Record<string, string>;
  const file = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };
  const run = (args: string[]) => gatehouse(['--json', 'import', 'users', ...args], { env });
  const row = (email: string) =>
    db.kysely.selectFrom('users').selectAll().where('email', '=', email).executeTakeFirst();
  const count = async () => (await db.kysely.selectFrom('users').select('id').execute()).length;

  beforeAll(async () => {
    target = await createTestDatabase(dialect);
    env = { DATABASE_URL: target.url, AUDIT_KEY_FILE: join(dir, 'audit.key') };
  });
  afterAll(async () => {
    await db?.close();
    await target.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a CSV: the dry run reports every row, a rejected row blocks the write, --skip-rejected imports the rest', async () => {
    const h = pythonHashes('moving in 2026');
    const csv = file(
      'users.csv',
      [
        'id,email_address,full_name,hashed_password,is_admin,is_active,created_at',
        `1,ann@example.com,Ann,"${h.bcrypt}",1,1,2019-01-02 03:04:05`,
        `2,bob@example.com,"Bob, Jr.","${h.passlibArgon2}",0,1,`,
        `3,cy@example.com,Cy,"${h.django}",false,true,2021-06-01T00:00:00Z`,
        `4,ANN@example.com,Ann again,"${h.werkzeug}",0,1,`,
        `5,dee@example.com,Dee,{SSHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=,0,1,`,
        `6,eve@example.com,Eve,,0,0,`,
        `7,not-an-email,Nobody,,0,1,`,
      ].join('\n'),
    );
    const dry = await run([csv, '--dry-run']);
    expect(dry.code).toBe(3);
    expect(report(dry)).toMatchObject({ dryRun: true, written: false, rows: 7, created: 4, rejected: 3 });
    expect(report(dry).rejectedRows.map((r) => [r.row, r.reason])).toEqual([
      [4, 'duplicate_email'],
      [5, 'hash_unknown_format'],
      [7, 'invalid_email'],
    ]);

    const refused = await run([csv]);
    expect(refused.code).toBe(3);
    expect(report(refused).written).toBe(false);
    db = target.open();
    expect(await count()).toBe(0);

    const partial = await run([csv, '--skip-rejected']);
    expect(partial.code).toBe(3);
    const written = report(partial);
    expect(written).toMatchObject({ written: true, created: 4, rejected: 3 });
    expect(written.withoutPassword).toEqual([
      { row: 6, email: 'eve@example.com', userId: (await row('eve@example.com'))?.id, isActive: false },
    ]);
    // Eve is deactivated: no reset link for her.
    expect(written.resetLinks).toEqual([
      expect.objectContaining({ email: 'eve@example.com', url: null, skipped: 'deactivated' }),
    ]);
    expect(partial.stderr).toContain('written 4/4 users');

    const ann = await row('ann@example.com');
    expect(ann).toMatchObject({
      name: 'Ann',
      role: 'admin',
      is_active: true,
      external_id: '1',
      password_hash: h.bcrypt,
    });
    expect(ann?.created_at.toISOString()).toBe('2019-01-02T03:04:05.000Z');
    for (const email of ['ann@example.com', 'bob@example.com', 'cy@example.com']) {
      const stored = (await row(email))?.password_hash ?? '';
      expect(await hasher.verify(stored, 'moving in 2026')).toBe(true);
      expect(await hasher.verify(stored, 'moving in 2025')).toBe(false);
    }
    expect(await row('eve@example.com')).toMatchObject({ is_active: false });
  });

  test('JSON Lines re-run with --on-conflict update brings existing users up to date; skip leaves them', async () => {
    const h = pythonHashes('updated secret');
    const jsonl = file(
      'users.jsonl',
      `${JSON.stringify({ id: 1, email: 'ann@example.com', name: 'Ann Updated', password_hash: h.passlibBcryptSha256, role: 'member' })}\n\n` +
        `${JSON.stringify({ id: 8, email: 'fay@example.com', name: 'Fay', password_hash: h.werkzeug, role: 'admin' })}\n`,
    );
    const skipped = await run([jsonl]);
    expect(skipped.code).toBe(0);
    expect(report(skipped)).toMatchObject({ created: 1, skipped: 1, updated: 0 });
    const updated = await run([jsonl, '--on-conflict', 'update']);
    expect(updated.code).toBe(0);
    expect(report(updated)).toMatchObject({ created: 0, updated: 2 });
    expect(await row('ann@example.com')).toMatchObject({ name: 'Ann Updated', role: 'member' });
    expect(await hasher.verify((await row('ann@example.com'))?.password_hash ?? '', 'updated secret')).toBe(true);
  });

  test('a broken file writes nothing and exits 1; wrong usage exits 2', async () => {
    const before = await count();
    const broken = await run([file('broken.csv', 'email,name\nnew1@example.com,One\n"new2@example.com,Two\n')]);
    expect(broken.code).toBe(1);
    expect(report(broken).rejectedRows).toEqual([expect.objectContaining({ row: 2, reason: 'unreadable_row' })]);
    const badJson = await run([file('bad.jsonl', '{"email":"new3@example.com"}\n{"email": \n')]);
    expect(badJson.code).toBe(1);
    expect(report(badJson).rejectedRows).toEqual([{ row: 2, reason: 'unreadable_row', message: 'not valid JSON' }]);
    expect(await count()).toBe(before);

    const csv = file('ok.csv', 'email\nz@example.com\n');
    expect((await run([csv, '--map', 'nickname=email'])).stderr).toContain('unknown field "nickname"');
    expect((await run([csv, '--map', 'nickname=email'])).code).toBe(2);
    expect((await run([csv, '--query', 'select 1'])).code).toBe(2);
    expect((await run([file('users.xml', '<users/>')])).code).toBe(2);
    expect((await run([file('noemail.csv', 'login,pw\nx,y\n')])).stderr).toContain('no email column');
  });

  // ---- seams (#17 ↔ #14) ----
  test('users without a password get a printed one-time reset link that works; email_verified is imported', async () => {
    const csv = file(
      'nopass.csv',
      ['email,name,email_verified', 'linkme@example.com,Link Me,true', 'plain@example.com,Plain,false'].join('\n'),
    );
    const human = await gatehouse(['import', 'users', csv], { env });
    expect(human.code).toBe(0);
    expect(human.stdout).toContain('Reset links (each works once, until ');
    const url = /linkme@example\.com {2}(http\S+)/.exec(human.stdout)?.[1] ?? '';
    expect(url).toMatch(/^http:\/\/localhost:3000\/#\/reset-password\//);
    db ??= target.open();
    expect((await row('linkme@example.com'))?.email_verified_at).toBeInstanceOf(Date);
    expect((await row('plain@example.com'))?.email_verified_at).toBeNull();

    const services = await createTestServices(db);
    try {
      await callerFor(services, null).auth.resetPassword({
        token: tokenFromLink(url),
        newPassword: 'maple ferry cobalt',
      });
      const signedIn = await callerFor(services, null, { origin: 'http://localhost:3000' }).auth.signIn({
        identifier: 'linkme@example.com',
        password: 'maple ferry cobalt',
      });
      expect(signedIn.status).toBe('signed-in');
    } finally {
      await services.close();
    }
    // The audit log says a link was made, never which.
    const events = await db.kysely
      .selectFrom('audit_events')
      .select('data')
      .where('type', '=', 'user.reset_link_created')
      .execute();
    expect(events.length).toBeGreaterThanOrEqual(2);
    expect(JSON.stringify(events)).not.toContain(tokenFromLink(url));

    const none = await run([file('none.csv', 'email\nquiet@example.com\n'), '--reset-links', 'none']);
    expect(report(none).resetLinks).toEqual([]);
  });

  test('--reset-links mail mails each link (and refuses, writing nothing, without mail)', async () => {
    db ??= target.open();
    const before = await count();
    const refused = await run([file('mail1.csv', 'email\nunsent@example.com\n'), '--reset-links', 'mail']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('mail is not configured');
    expect(await count()).toBe(before);

    const smtp = await startTestSmtp();
    try {
      const mailed = await gatehouse(
        [
          '--json',
          'import',
          'users',
          file('mail2.csv', 'email,name\nmailed@example.com,Mai\n'),
          '--reset-links',
          'mail',
        ],
        { env: { ...env, SMTP_URL: `smtp://127.0.0.1:${smtp.port}` } },
      );
      expect(mailed.code).toBe(0);
      expect(report(mailed).resetLinks).toEqual([
        expect.objectContaining({ email: 'mailed@example.com', mailed: true, url: null }),
      ]);
      expect(mailed.stdout).not.toContain('reset-password');
      const mail = await smtp.next((m) => m.to === 'mailed@example.com', 10_000);
      expect(mail.subject).toBe('Reset your Gatehouse password');
      expect(mail.links.some((l) => l.includes('/#/reset-password/'))).toBe(true);
    } finally {
      await smtp.stop();
    }
  });

  test('straight from an Express + Knex SQLite file (integer ids, bcrypt, is_admin)', async () => {
    const h = pythonHashes('knex password');
    const path = join(dir, 'knex.sqlite3');
    const old = new BetterSqlite3(path);
    old.exec(`create table users (id integer primary key autoincrement, email varchar(255) not null unique,
      hashed_password varchar(255), is_admin boolean not null default 0, is_active boolean not null default 1,
      created_at datetime default current_timestamp)`);
    const insert = old.prepare(
      'insert into users (id, email, hashed_password, is_admin, is_active, created_at) values (?, ?, ?, ?, ?, ?)',
    );
    insert.run(101, 'knex-admin@example.com', h.bcrypt, 1, 1, '2018-02-03 04:05:06');
    insert.run(102, 'knex-member@example.com', h.bcrypt.replace(/^\$2b\$/, '$2a$'), 0, 1, '2018-02-04 04:05:06');
    old.close();

    const result = await run(['--from', `file:${path}`]);
    expect(result.code).toBe(0);
    expect(report(result)).toMatchObject({ source: 'sqlite:knex.sqlite3', created: 2, schemes: { bcrypt: 2 } });
    const admin = await row('knex-admin@example.com');
    expect(admin).toMatchObject({ role: 'admin', external_id: '101' });
    expect(await hasher.verify(admin?.password_hash ?? '', 'knex password')).toBe(true);
    expect((await row('knex-member@example.com'))?.external_id).toBe('102');
  });

  test.runIf(testDialects.includes('postgres'))(
    'straight from a FastAPI + SQLAlchemy PostgreSQL database (UUID ids, passlib hashes) with --query and --map',
    async () => {
      const h = pythonHashes('fastapi password');
      const old = await createTestDatabase('postgres');
      const client = new pg.Client({ connectionString: old.url });
      await client.connect();
      try {
        await client.query(`create table users (id uuid primary key, email varchar not null unique, full_name varchar,
          hashed_password varchar not null, is_active boolean not null default true, is_superuser boolean not null default false)`);
        await client.query(
          `insert into users values
            ('4f8a1c9e-2b7d-4e61-9a0f-3c5d7e9b1a24', 'fast-admin@example.com', 'Fast Admin', $1, true, true),
            ('a7b3e5d1-9c2f-4a86-b1e4-6d8f0a2c4e68', 'fast-user@example.com', null, $2, false, false)`,
          [h.passlibArgon2, h.passlibBcryptSha256],
        );
        const result = await run([
          '--from',
          old.url,
          '--query',
          'select id, email, full_name, hashed_password, is_active, is_superuser from users order by email',
          '--map',
          'role=is_superuser',
        ]);
        expect(result.code).toBe(0);
        const written = report(result);
        expect(written.source).toMatch(/^postgres:[^@]+\/gh_test_/);
        expect(written).toMatchObject({ created: 2, schemes: { argon2id: 1, 'passlib-bcrypt-sha256': 1 } });
        expect(await row('fast-admin@example.com')).toMatchObject({
          role: 'admin',
          name: 'Fast Admin',
          external_id: '4f8a1c9e-2b7d-4e61-9a0f-3c5d7e9b1a24',
        });
        const user = await row('fast-user@example.com');
        expect(user).toMatchObject({ role: 'member', is_active: false, name: 'fast-user' });
        expect(await hasher.verify(user?.password_hash ?? '', 'fastapi password')).toBe(true);
        // The old database is read in a read-only transaction: unchanged.
        expect((await client.query('select count(*)::int as n from users')).rows[0]).toEqual({ n: 2 });
      } finally {
        await client.end();
        await old.drop();
      }
    },
  );
});
