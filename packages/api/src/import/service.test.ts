import type { Db } from '@gatehouse/db';
import { createMigratedTestDb, testDialects } from '@gatehouse/db/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cliActor } from '../actor.js';
import { pythonHashes } from '../auth/legacy-hashes/python.testing.js';
import { ManualClock } from '../clock.js';
import type { Services } from '../services.js';
import { callerFor, createTestServices, createTestUser, trpcError } from '../testing.js';
import {
  importUsers,
  ImportSourceError,
  issueImportResetLinks,
  resolveColumnMap,
  type ImportUsersInput,
  type SourceRecord,
} from './index.js';
// seams (#17 ↔ #14)
import { startTestSmtp, tokenFromLink } from '../testing.js';

const COLUMNS = ['id', 'email_address', 'full_name', 'hashed_password', 'is_admin', 'is_active', 'created_at'];

describe.each(testDialects)('importing users on %s', (dialect) => {
  let db: Db;
  let cleanup: () => Promise<void>;
  let services: Services;
  let ip = 0;

  beforeEach(async () => {
    ({ db, cleanup } = await createMigratedTestDb(dialect));
    services = await createTestServices(db, { clock: new ManualClock('2026-04-01T09:00:00.000Z') });
  });
  afterEach(async () => {
    await services.close();
    await cleanup();
  });

  const run = (records: SourceRecord[], options: Partial<ImportUsersInput> = {}) =>
    importUsers(services, cliActor(), {
      source: 'csv:old-users.csv',
      records,
      map: resolveColumnMap(COLUMNS),
      onConflict: 'skip',
      ...options,
    });
  const signIn = (identifier: string, password: string) =>
    callerFor(services, null, { ip: `192.0.2.${++ip}`, origin: 'http://localhost:3000' }).auth.signIn({
      identifier,
      password,
    });
  const users = () => db.kysely.selectFrom('users').selectAll().orderBy('email').execute();
  const imported = async () =>
    (
      await db.kysely
        .selectFrom('audit_events')
        .select(['target_id', 'data'])
        .where('type', '=', 'user.imported')
        .orderBy('seq')
        .execute()
    ).map((e) => ({ targetId: e.target_id, data: JSON.parse(e.data) as Record<string, unknown> }));

  it('imports hashes from each library as they are; each user signs in with the right password only, then holds Argon2id', async () => {
    const [bcrypt, passlibArgon, django, werkzeug] = await pythonHashes([
      ['bcrypt', 'knex secret 1'],
      ['passlib-argon2id', 'fastapi secret 2'],
      ['django-pbkdf2-sha256', 'django secret 3'],
      ['werkzeug-pbkdf2-sha256', 'flask secret 4'],
    ]);
    const report = await run([
      {
        id: 1,
        email_address: 'Knex@Example.com',
        full_name: 'Knex User',
        hashed_password: bcrypt,
        is_admin: 1,
        is_active: 1,
        created_at: '2019-05-01 10:00:00',
      },
      {
        id: 2,
        email_address: 'fastapi@example.com',
        full_name: 'Fast Api',
        hashed_password: passlibArgon,
        is_admin: 'false',
        is_active: 't',
        created_at: '2020-01-02T03:04:05Z',
      },
      {
        id: 3,
        email_address: 'django@example.com',
        full_name: '',
        hashed_password: django,
        is_admin: false,
        is_active: false,
        created_at: 1600000000,
      },
      {
        id: 4,
        email_address: 'flask@example.com',
        full_name: 'Flask',
        hashed_password: werkzeug,
        is_admin: null,
        is_active: true,
        created_at: null,
      },
    ]);
    expect(report).toMatchObject({ rows: 4, created: 4, updated: 0, skipped: 0, rejected: 0, written: true });
    expect(report.schemes).toEqual({ bcrypt: 1, argon2id: 1, 'django-pbkdf2-sha256': 1, 'werkzeug-pbkdf2': 1 });

    const rows = await users();
    expect(rows.map((r) => [r.email, r.name, r.role, r.is_active, r.external_id, r.created_at.toISOString()])).toEqual([
      ['django@example.com', 'django', 'member', false, '3', '2020-09-13T12:26:40.000Z'],
      ['fastapi@example.com', 'Fast Api', 'member', true, '2', '2020-01-02T03:04:05.000Z'],
      ['flask@example.com', 'Flask', 'member', true, '4', '2026-04-01T09:00:00.000Z'],
      ['knex@example.com', 'Knex User', 'admin', true, '1', '2019-05-01T10:00:00.000Z'],
    ]);
    expect(rows.find((r) => r.email === 'knex@example.com')?.password_hash).toBe(bcrypt);

    // Audited once per user with the source and scheme — never the hash.
    const events = await imported();
    expect(events).toHaveLength(4);
    expect(events[0]?.data).toEqual({
      source: 'csv:old-users.csv',
      scheme: 'bcrypt',
      action: 'created',
      externalId: '1',
      via: 'cli',
    });
    expect(JSON.stringify(events)).not.toContain('$2b$');

    for (const [email, password] of [
      ['knex@example.com', 'knex secret 1'],
      ['fastapi@example.com', 'fastapi secret 2'],
      ['flask@example.com', 'flask secret 4'],
    ] as const) {
      expect((await trpcError(signIn(email, `${password}x`))).reason).toBe('invalid_credentials');
      expect((await signIn(email, password)).status).toBe('signed-in');
      const row = await db.kysely
        .selectFrom('users')
        .select('password_hash')
        .where('email', '=', email)
        .executeTakeFirstOrThrow();
      expect(row.password_hash).toMatch(/^\$argon2id\$/);
    }
    // Inactive in the old backend: the right password still does not sign in.
    expect((await trpcError(signIn('django@example.com', 'django secret 3'))).reason).toBe('invalid_credentials');
  });

  it('a dry run reports what it would do and writes nothing', async () => {
    await createTestUser(services, { email: 'exists@example.com' });
    const [hash] = await pythonHashes([['bcrypt', 'pw']]);
    const report = await run(
      [
        { id: 1, email_address: 'new@example.com', hashed_password: hash },
        { id: 2, email_address: 'exists@example.com', hashed_password: hash },
        { id: 3, email_address: 'not an email', hashed_password: hash },
      ],
      { dryRun: true },
    );
    expect(report).toMatchObject({ dryRun: true, written: false, created: 1, skipped: 1, rejected: 1 });
    expect(report.skippedRows).toEqual([{ row: 2, email: 'exists@example.com' }]);
    expect(report.rejectedRows).toEqual([
      { row: 3, reason: 'invalid_email', message: '"not an email" is not a valid email address' },
    ]);
    expect((await users()).map((u) => u.email)).toEqual(['exists@example.com']);
    expect(await imported()).toEqual([]);
  });

  it('re-runs safely: skip leaves existing users alone, update brings them up to date and ends their sessions', async () => {
    const [first, second] = await pythonHashes([
      ['passlib-bcrypt-sha256-v2', 'first password'],
      ['passlib-scrypt', 'second password'],
    ]);
    const records = [
      { id: 'a1', email_address: 'ann@example.com', full_name: 'Ann', hashed_password: first, is_admin: false },
    ];
    expect(await run(records)).toMatchObject({ created: 1, written: true });
    expect(await run(records)).toMatchObject({ created: 0, skipped: 1, written: true });
    expect((await signIn('ann@example.com', 'first password')).status).toBe('signed-in');

    const changed = [
      { id: 'a1', email_address: 'ANN@example.com', full_name: 'Ann B.', hashed_password: second, is_admin: true },
    ];
    const report = await run(changed, { onConflict: 'update' });
    expect(report).toMatchObject({
      created: 0,
      updated: 1,
      skipped: 0,
      written: true,
      schemes: { 'passlib-scrypt': 1 },
    });
    const [ann] = await users();
    expect(ann).toMatchObject({ name: 'Ann B.', role: 'admin', password_hash: second, external_id: 'a1' });
    expect(
      await db.kysely
        .selectFrom('sessions')
        .select('id')
        .where('user_id', '=', ann?.id ?? '')
        .execute(),
    ).toEqual([]);
    expect((await imported()).map((e) => e.data.action)).toEqual(['created', 'updated']);
    expect((await signIn('ann@example.com', 'second password')).status).toBe('signed-in');
  });

  it('refuses bad rows one by one — invalid emails, duplicates, unknown and absurd hashes — and then writes nothing', async () => {
    const [good] = await pythonHashes([['passlib-pbkdf2-sha256', 'pw']]);
    const records: SourceRecord[] = [
      { id: 1, email_address: 'ok@example.com', hashed_password: good },
      { id: 2, email_address: 'nope', hashed_password: good },
      { id: 3, email_address: 'OK@example.com', hashed_password: good },
      { id: 4, email_address: 'md5@example.com', hashed_password: '5f4dcc3b5aa765d61d8327deb882cf99' },
      { id: 5, email_address: 'costly@example.com', hashed_password: `$2b$20$${'a'.repeat(53)}` },
      { id: 6, email_address: 'short@example.com', hashed_password: '$2b$12$short' },
      { id: 1, email_address: 'sameid@example.com', hashed_password: good },
      { id: 8, email_address: 'role@example.com', hashed_password: good, is_admin: 'maybe' },
      { id: 9, email_address: 'date@example.com', hashed_password: good, created_at: 'last tuesday' },
      { id: 10, email_address: 'fine@example.com', hashed_password: good },
    ];
    const report = await run(records);
    expect(report).toMatchObject({ rows: 10, written: false, created: 2, rejected: 8 });
    expect(report.rejectedRows.map((r) => [r.row, r.reason])).toEqual([
      [2, 'invalid_email'],
      [3, 'duplicate_email'],
      [4, 'hash_unknown_format'],
      [5, 'hash_too_costly'],
      [6, 'hash_malformed'],
      [7, 'duplicate_external_id'],
      [8, 'invalid_role'],
      [9, 'invalid_date'],
    ]);
    expect(report.rejectedRows[1]?.message).toBe('same email as row 1');
    expect(await users()).toEqual([]);

    // Asked to, it imports the rows that passed and still lists the others.
    const partial = await run(records, { skipRejected: true });
    expect(partial).toMatchObject({ written: true, created: 2, rejected: 8 });
    expect((await users()).map((u) => u.email)).toEqual(['fine@example.com', 'ok@example.com']);
  });

  it('an unreadable row (a broken file) stops the import with its row number, writing nothing even with skipRejected', async () => {
    async function* broken(): AsyncGenerator<SourceRecord> {
      yield { id: 1, email_address: 'one@example.com' };
      yield { id: 2, email_address: 'two@example.com' };
      throw new ImportSourceError(3, 'unclosed quote');
    }
    const report = await importUsers(services, cliActor(), {
      source: 'csv:broken.csv',
      records: broken(),
      map: resolveColumnMap(COLUMNS),
      onConflict: 'skip',
      skipRejected: true,
    });
    expect(report).toMatchObject({ written: false, rows: 3 });
    expect(report.rejectedRows).toEqual([{ row: 3, reason: 'unreadable_row', message: 'unclosed quote' }]);
    expect(await users()).toEqual([]);
  });

  it('imports users without a usable hash without a password, and lists them for a reset link', async () => {
    const report = await run([
      { id: 7, email_address: 'nohash@example.com', hashed_password: '' },
      { id: 8, email_address: 'unusable@example.com', hashed_password: '!Xq9unusableDjangoMarker' },
    ]);
    expect(report).toMatchObject({ created: 2, written: true, schemes: { none: 2 } });
    const rows = await users();
    expect(report.withoutPassword).toEqual([
      { row: 1, email: 'nohash@example.com', userId: rows[0]?.id, isActive: true },
      { row: 2, email: 'unusable@example.com', userId: rows[1]?.id, isActive: true },
    ]);
    expect((await trpcError(signIn('nohash@example.com', '!imported-without-password'))).reason).toBe(
      'invalid_credentials',
    );
  });

  // ---- seams (#17 ↔ #14): verified addresses and reset links ----
  it('imports emailVerified from a boolean or a timestamp column; blank is unverified; update never un-verifies', async () => {
    const columns = ['email', 'email_verified_at', 'is_verified'];
    expect(resolveColumnMap(['email', 'email_verified'])).toEqual({ email: 'email', emailVerified: 'email_verified' });
    expect(resolveColumnMap(['email', 'Is Verified'])).toEqual({ email: 'email', emailVerified: 'Is Verified' });
    expect(resolveColumnMap(['email', 'verified'])).toEqual({ email: 'email', emailVerified: 'verified' });
    const map = resolveColumnMap(columns, 'emailVerified=email_verified_at');
    const report = await run(
      [
        { email: 'laravel@example.com', email_verified_at: '2021-02-03 04:05:06' },
        { email: 'never@example.com', email_verified_at: null },
      ],
      { map },
    );
    expect(report).toMatchObject({ created: 2, written: true });
    const flagged = await run(
      [
        { email: 'flag@example.com', is_verified: 't' },
        { email: 'unflagged@example.com', is_verified: 0 },
      ],
      { map: resolveColumnMap(['email', 'is_verified']) },
    );
    expect(flagged.created).toBe(2);
    const byEmail = new Map((await users()).map((u) => [u.email, u.email_verified_at]));
    expect(byEmail.get('laravel@example.com')?.toISOString()).toBe('2021-02-03T04:05:06.000Z');
    expect(byEmail.get('never@example.com')).toBeNull();
    expect(byEmail.get('flag@example.com')?.toISOString()).toBe('2026-04-01T09:00:00.000Z');
    expect(byEmail.get('unflagged@example.com')).toBeNull();
    // REQUIRE_EMAIL_VERIFICATION reads it: the API shows it.
    const rows = await users();
    const admin = await createTestUser(services, { role: 'admin' });
    const laravel = rows.find((u) => u.email === 'laravel@example.com');
    expect((await callerFor(services, admin.token).user.byId({ id: laravel?.id ?? '' })).emailVerifiedAt).toEqual(
      new Date('2021-02-03T04:05:06.000Z'),
    );

    // --on-conflict update: true verifies an unverified user; false leaves a verified one alone.
    await run(
      [
        { email: 'unflagged@example.com', is_verified: 'yes' },
        { email: 'flag@example.com', is_verified: 'no' },
      ],
      { map: resolveColumnMap(['email', 'is_verified']), onConflict: 'update' },
    );
    const after = new Map((await users()).map((u) => [u.email, u.email_verified_at]));
    expect(after.get('unflagged@example.com')?.toISOString()).toBe('2026-04-01T09:00:00.000Z');
    expect(after.get('flag@example.com')?.toISOString()).toBe('2026-04-01T09:00:00.000Z');

    const bad = await run([{ email: 'odd@example.com', is_verified: 'perhaps' }], {
      map: resolveColumnMap(['email', 'is_verified']),
    });
    expect(bad.rejectedRows).toEqual([
      {
        row: 1,
        reason: 'invalid_boolean',
        message: 'emailVerified "perhaps" is neither true/false nor a date',
        email: 'odd@example.com',
      },
    ]);
  });

  it('issues a working one-time reset link for each active user imported without a password (none when deactivated)', async () => {
    const report = await run([
      { id: 7, email_address: 'linked@example.com', hashed_password: '' },
      { id: 8, email_address: 'asleep@example.com', hashed_password: '', is_active: 0 },
    ]);
    const dry = await run([{ id: 9, email_address: 'dry@example.com' }], { dryRun: true });
    expect(await issueImportResetLinks(services, cliActor(), dry, 'print')).toEqual([]);
    const links = await issueImportResetLinks(services, cliActor(), report, 'print');
    const [linked, asleep] = links;
    expect(linked).toMatchObject({ row: 1, email: 'linked@example.com', mailed: false });
    expect(linked?.url).toMatch(/^http:\/\/localhost:3000\/#\/reset-password\//);
    expect(linked?.expiresAt?.toISOString()).toBe('2026-04-01T09:30:00.000Z');
    expect(asleep).toMatchObject({ email: 'asleep@example.com', url: null, skipped: 'deactivated' });

    const anonymous = callerFor(services, null, { origin: 'http://localhost:3000' });
    await anonymous.auth.resetPassword({
      token: tokenFromLink(linked?.url ?? ''),
      newPassword: 'harbour lantern pebble',
    });
    expect((await signIn('linked@example.com', 'harbour lantern pebble')).status).toBe('signed-in');
    const events = await db.kysely
      .selectFrom('audit_events')
      .select(['target_id', 'data'])
      .where('type', '=', 'user.reset_link_created')
      .execute();
    expect(events.map((e) => e.target_id)).toEqual([linked?.userId]);
    expect(JSON.stringify(events)).not.toContain(tokenFromLink(linked?.url ?? '').split('.')[1] ?? '-');
  });

  it('mails the reset links instead when asked and mail is configured', async () => {
    const smtp = await startTestSmtp();
    try {
      await services.close();
      services = await createTestServices(db, {
        clock: new ManualClock('2026-04-01T09:00:00.000Z'),
        config: { mail: smtp.mailConfig(), publicOrigin: 'http://localhost:3000' },
      });
      const report = await run([{ id: 7, email_address: 'mailed@example.com', full_name: 'Mai', hashed_password: '' }]);
      const [link] = await issueImportResetLinks(services, cliActor(), report, 'mail');
      expect(link).toMatchObject({ email: 'mailed@example.com', url: null, mailed: true });
      await services.mail.deliverDue();
      const mail = await smtp.next((m) => m.to === 'mailed@example.com', 2000);
      expect(mail.subject).toBe('Reset your Gatehouse password');
      const url = mail.links.find((l) => l.includes('/#/reset-password/')) ?? '';
      await callerFor(services, null).auth.resetPassword({
        token: tokenFromLink(url),
        newPassword: 'copper meadow lantern',
      });
      expect((await signIn('mailed@example.com', 'copper meadow lantern')).status).toBe('signed-in');
    } finally {
      await smtp.stop();
    }
  });

  it('writes in batches, one transaction each, reporting progress', async () => {
    const records = Array.from({ length: 7 }, (_, i) => ({ id: i, email_address: `u${i}@example.com` }));
    const progress: string[] = [];
    const report = await run(records, {
      batchSize: 3,
      onProgress: (p) => progress.push(`${p.phase} ${p.done}/${p.total}`),
    });
    expect(report).toMatchObject({ created: 7, written: true });
    expect(progress).toEqual(['writing 0/7', 'writing 3/7', 'writing 6/7', 'writing 7/7']);
    expect(await imported()).toHaveLength(7);
  });

  it('never demotes or deactivates the last active admin (CONFLICT last_admin, the batch rolled back)', async () => {
    await run([{ id: 'root', email_address: 'root@example.com', is_admin: true }]);
    const error = await run([{ id: 'root', email_address: 'root@example.com', full_name: 'Root', is_admin: false }], {
      onConflict: 'update',
    }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'CONFLICT', reason: 'last_admin' });
    expect((await users())[0]).toMatchObject({ role: 'admin', name: 'root' });
    // With another active admin it goes through.
    await createTestUser(services, { role: 'admin' });
    expect(
      await run([{ id: 'root', email_address: 'root@example.com', is_admin: false }], { onConflict: 'update' }),
    ).toMatchObject({ updated: 1 });
  });

  it('refuses an old id or a username another user already holds', async () => {
    await run([{ id: 42, email_address: 'first@example.com' }]);
    const map = resolveColumnMap([...COLUMNS, 'username']);
    await createTestUser(services, { email: 'taken@example.com', username: 'taken' });
    const report = await importUsers(services, cliActor(), {
      source: 'jsonl:more.jsonl',
      records: [
        { id: 42, email_address: 'second@example.com' },
        { id: 43, email_address: 'third@example.com', username: 'Taken' },
      ],
      map,
      onConflict: 'update',
    });
    expect(report.rejectedRows.map((r) => r.reason)).toEqual(['external_id_taken', 'username_taken']);
  });

  it('finds an imported user by the old id (user.byExternalId) and by searching for it', async () => {
    const admin = await createTestUser(services, { role: 'admin' });
    await run([{ id: 'legacy-7', email_address: 'legacy@example.com', full_name: 'Legacy Seven' }]);
    const caller = callerFor(services, admin.token);
    const found = await caller.user.byExternalId({ externalId: 'legacy-7' });
    expect(found).toMatchObject({ email: 'legacy@example.com', externalId: 'legacy-7' });
    expect((await caller.user.list({ search: 'legacy-7' })).items.map((u) => u.email)).toEqual(['legacy@example.com']);
    expect((await trpcError(caller.user.byExternalId({ externalId: 'legacy-8' }))).reason).toBe('user_not_found');
    const member = await createTestUser(services);
    expect(
      (await trpcError(callerFor(services, member.token).user.byExternalId({ externalId: 'legacy-7' }))).code,
    ).toBe('FORBIDDEN');
  });
});

describe('column mapping', () => {
  it('matches the usual column names of old backends', () => {
    expect(resolveColumnMap(['id', 'email', 'hashed_password', 'is_admin', 'is_active', 'created_at'])).toEqual({
      email: 'email',
      passwordHash: 'hashed_password',
      role: 'is_admin',
      isActive: 'is_active',
      createdAt: 'created_at',
      externalId: 'id',
    });
    expect(resolveColumnMap(['EmailAddress', 'Full Name', 'password_hash'])).toEqual({
      email: 'EmailAddress',
      name: 'Full Name',
      passwordHash: 'password_hash',
    });
  });

  it('takes --map over the automatic matches, and drops a match with field=', () => {
    expect(resolveColumnMap(['id', 'mail', 'pw', 'uuid'], 'passwordHash=pw,externalId=uuid')).toMatchObject({
      email: 'mail',
      passwordHash: 'pw',
      externalId: 'uuid',
    });
    expect(resolveColumnMap(['id', 'email'], 'externalId=')).toEqual({ email: 'email' });
  });

  it('refuses an unknown field, a missing column, or no email at all', () => {
    expect(() => resolveColumnMap(['email'], 'nickname=email')).toThrow(/unknown field "nickname"/);
    expect(() => resolveColumnMap(['email'], 'name=full_name')).toThrow(/no column "full_name"/);
    expect(() => resolveColumnMap(['login', 'pw'])).toThrow(/no email column/);
  });
});
