/**
 * The CLI finds and creates accounts through the API's users module: the same identifier rule
 * as sign-in, and the same first-user lock as `auth.createFirstUser`. The `gatehouse` command
 * runs as a subprocess from its sources (GATEHOUSE_CLI_FROM_SOURCE), on real databases.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { apiActor, createUser, listUsers, type Services, type User } from '@gatehouse/api';
import { createTestServices } from '@gatehouse/api/testing';
import { migrateToLatest, sql } from '@gatehouse/db';
import { createTestDatabase, testDialects } from '@gatehouse/db/testing';
import { gatehouse as run, json, type Result } from './run.js';

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-cli-identifiers-'));

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** From the sources (no build needed), with `env` and `input`. */
const gatehouse = (args: string[], env: Record<string, string>, input = '') =>
  run(args, { env: { GATEHOUSE_CLI_FROM_SOURCE: '1', ...env }, input });

describe('reset-password', () => {
  const env = { DATABASE_URL: `file:${join(dir, 'reset.db')}`, AUDIT_KEY_FILE: join(dir, 'reset.key') };

  test('finds the account by username or email under the sign-in rule: upper or lower case, spaces, full-width forms', async () => {
    const { user } = json<{ user: User }>(
      await gatehouse(
        [
          'create-admin',
          '--email',
          'Root@Example.com',
          '--username',
          'Root.Admin',
          '--name',
          'Root',
          '--password-stdin',
          '--json',
        ],
        env,
        'the first recovery passphrase',
      ),
    );
    expect(user).toMatchObject({ email: 'root@example.com', username: 'Root.Admin' });

    // Before the users module, `root.admin` was "no user": usernames matched case-sensitively.
    for (const identifier of ['root.admin', ' ROOT.ADMIN ', 'ｒｏｏｔ.admin', 'ROOT@example.COM']) {
      const reset = json<{ ok: true; user: User; revokedSessions: number }>(
        await gatehouse(
          ['reset-password', identifier, '--password-stdin', '--json'],
          env,
          'another recovery passphrase',
        ),
      );
      expect(reset.user.id, identifier).toBe(user.id);
    }

    for (const identifier of ['root']) {
      const miss = await gatehouse(
        ['reset-password', identifier, '--password-stdin'],
        env,
        'another recovery passphrase',
      );
      expect(miss.code, identifier).toBe(1);
      expect(miss.stderr).toContain(`no user ${identifier}`);
    }
  }, 180_000);
});

describe.skipIf(!testDialects.includes('postgres'))('create-admin on PostgreSQL', () => {
  test('races auth.createFirstUser under the same first-user lock: exactly one sets Gatehouse up', async () => {
    const database = await createTestDatabase('postgres');
    const db = database.open();
    let services: Services | undefined;
    try {
      await migrateToLatest(db);
      services = await createTestServices(db);
      const api = services;

      // The web setup (auth.createFirstUser's use case) is inside its transaction — the lock
      // taken, its admin inserted, not yet committed — and waits there until released.
      let release = () => {};
      const released = new Promise<void>((resolve) => (release = resolve));
      let entered = () => {};
      const inside = new Promise<void>((resolve) => (entered = resolve));
      const web = createUser(
        api,
        apiActor({ ip: '203.0.113.9', userAgent: 'Browser/1.0' }),
        { email: 'web@example.com', name: 'Web', password: 'the web setup passphrase' },
        {
          kind: 'first',
          openSession: async (trx, row) => {
            entered();
            await released;
            return api.sessions.create(trx, { userId: row.id, rememberMe: false, ip: null, userAgent: null });
          },
        },
      );
      await inside;

      // The CLI sees no committed user yet, so it sets up too: it must wait on the same lock.
      const cli = gatehouse(
        ['create-admin', '--email', 'cli@example.com', '--name', 'Cli', '--password-stdin', '--json'],
        { DATABASE_URL: database.url, AUDIT_KEY_FILE: join(dir, 'race.key') },
        'the cli setup passphrase',
      );
      const waiting = async () => {
        const { rows } = await sql<{ waiting: number | string }>`
          select count(*) as waiting from pg_locks
          where locktype = 'advisory' and not granted
            and database = (select oid from pg_database where datname = current_database())`.execute(db.kysely);
        return Number(rows[0]?.waiting ?? 0);
      };
      const deadline = Date.now() + 45_000;
      let settledEarly: Result | null = null;
      void cli.then((r) => (settledEarly = r));
      while ((await waiting()) === 0) {
        // Without the lock the CLI would not wait: it would finish now, a second "first" admin.
        if (settledEarly)
          throw new Error(`create-admin did not wait for the first-user lock: ${JSON.stringify(settledEarly)}`);
        if (Date.now() > deadline) throw new Error('create-admin never reached the first-user lock');
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      release();

      const signedIn = await web;
      expect(signedIn.user).toMatchObject({ email: 'web@example.com', role: 'admin' });
      const lost = await cli;
      expect(lost.code).toBe(1);
      expect(lost.stderr).toContain('set up by someone else');

      const users = await listUsers(api);
      expect(users.items.map((u) => [u.email, u.role])).toEqual([['web@example.com', 'admin']]);
      const setups = await api.audit.log.list({ type: 'auth.setup', limit: 50 });
      expect(setups.items.map((e) => e.targetId)).toEqual([signedIn.user.id]);
    } finally {
      await services?.close();
      await db.close();
      await database.drop();
    }
  }, 120_000);
});
