/**
 * The `gatehouse` command end to end, as a subprocess: local commands on a SQLite file, then a
 * real server on that same database for the remote commands, with --json output parsed.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createGatehouseClient, isGatehouseError, type AuditEvent, type Session, type User } from '@gatehouse/client';
import { bin, gatehouse, json, type Result } from './run.js';
// Test-only, reached by path: the server is not a dependency of the CLI.
import { startTestServer, type RunningServer } from '../../server/src/testing.js';

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-cli-'));
const localEnv = { DATABASE_URL: `file:${join(dir, 'gatehouse.db')}`, AUDIT_KEY_FILE: join(dir, 'audit.key') };

const ADMIN = { email: 'root@example.com', name: 'Root Admin', password: 'recovery passphrase one' };

/**
 * Runs `gatehouse …` on a pseudo-terminal (`script`), as a person at a shell would, and answers
 * each prompt once it shows: a string is pasted in one go, an array is typed key by key.
 */
function onTerminal(args: string[], answers: Record<string, string | string[]>): Promise<Result> {
  return new Promise<Result>((resolve, reject) => {
    const command = [process.execPath, bin, ...args].map((a) => `'${a}'`).join(' ');
    const child = spawn('script', ['-qec', command, '/dev/null'], {
      env: { PATH: process.env.PATH ?? '', TERM: 'dumb', ...localEnv },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    // A prompt redraws its line as keys arrive, so each is answered when its text first appears.
    const pending = Object.entries(answers);
    const type = async (keys: string[]) => {
      for (const key of keys) {
        child.stdin.write(key);
        await new Promise((r) => setTimeout(r, 5));
      }
    };
    let typing = Promise.resolve();
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      while (pending[0] && stdout.includes(pending[0][0])) {
        const [, keys] = pending.shift() ?? [];
        typing = typing.then(() => (typeof keys === 'string' ? void child.stdin.write(keys) : type(keys ?? [])));
      }
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // A command that refuses early may exit while keys are still being typed: its exit code and
    // output are the result, not the broken pipe.
    child.stdin.on('error', () => undefined);
    child.on('error', reject);
    child.on('close', (code) => {
      child.stdin.end();
      resolve({ code, stdout, stderr });
    });
  });
}

let server: RunningServer | undefined;
let remoteEnv: Record<string, string>;
let adminId: string;

beforeAll(() => {
  // Test what ships: bin/gatehouse.js runs dist/main.js, built here from the current sources.
  execFileSync('pnpm', ['run', 'build'], { cwd: fileURLToPath(new URL('..', import.meta.url)), stdio: 'pipe' });
}, 120_000);

afterAll(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('usage', () => {
  test('--help describes the commands; usage errors exit 2', async () => {
    const help = await gatehouse(['--help']);
    expect(help.code).toBe(0);
    for (const command of ['migrate', 'create-admin', 'reset-password', 'users', 'sessions', 'audit'])
      expect(help.stdout).toContain(command);
    const auditHelp = await gatehouse(['audit', 'verify', '--help']);
    expect(auditHelp.stdout).toContain('--offline <dir>');

    expect((await gatehouse(['nonsense'])).code).toBe(2);
    expect((await gatehouse(['create-admin', '--name', 'X'], { env: localEnv })).code).toBe(2);
    const noUrl = await gatehouse(['users', 'list']);
    expect(noUrl.code).toBe(2);
    expect(noUrl.stderr).toContain('GATEHOUSE_URL');
    expect(
      (
        await gatehouse(['users', 'list', '--limit', 'many'], {
          env: { GATEHOUSE_URL: 'http://x', GATEHOUSE_TOKEN: 't' },
        })
      ).code,
    ).toBe(2);
  });
  test('--help and remote commands do not load the database drivers; local commands do', async () => {
    // NODE_DEBUG=module logs every CommonJS module the process loads (the drivers are CommonJS).
    const loaded = async (args: string[], env: Record<string, string> = {}) =>
      (await gatehouse(args, { env: { NODE_DEBUG: 'module', ...env } })).stderr;
    // better-sqlite3-napi is the build loaded on Node-API 10 (Node >= 22.14; packages/db/src/sqlite.ts).
    const drivers = /REQUEST (better-sqlite3|better-sqlite3-napi|pg) /;
    expect(await loaded(['--help'])).not.toMatch(drivers);
    expect(await loaded(['users', 'list'], { GATEHOUSE_URL: 'http://127.0.0.1:9', GATEHOUSE_TOKEN: 't' })).not.toMatch(
      drivers,
    );
    expect(await loaded(['migrate'], { DATABASE_URL: `file:${join(dir, 'drivers.db')}` })).toMatch(drivers);
  });
});

describe('local commands', () => {
  test('migrate, create-admin from stdin, refusals', async () => {
    const migrated = json<{ applied: string[] }>(await gatehouse(['migrate', '--json'], { env: localEnv }));
    expect(migrated.applied.length).toBeGreaterThan(0);
    expect(json<{ applied: string[] }>(await gatehouse(['--json', 'migrate'], { env: localEnv })).applied).toEqual([]);

    const created = json<{ user: User; setup: boolean }>(
      await gatehouse(['create-admin', '--email', ADMIN.email, '--name', ADMIN.name, '--password-stdin', '--json'], {
        env: localEnv,
        input: `${ADMIN.password}\n`,
      }),
    );
    expect(created.setup).toBe(true);
    expect(created.user).toMatchObject({ email: ADMIN.email, role: 'admin', isActive: true });
    expect(JSON.stringify(created)).not.toContain(ADMIN.password);
    adminId = created.user.id;

    const again = await gatehouse(['create-admin', '--email', ADMIN.email, '--name', 'Again', '--password-stdin'], {
      env: localEnv,
      input: 'another fine passphrase',
    });
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('already exists');

    const weak = await gatehouse(
      ['create-admin', '--email', 'weak@example.com', '--name', 'Weak', '--password-stdin'],
      {
        env: localEnv,
        input: 'password',
      },
    );
    expect(weak.code).toBe(1);
    expect(weak.stderr).toContain('password refused');

    const fromEnv = await gatehouse(['create-admin', '--email', 'second@example.com', '--name', 'Second', '--json'], {
      env: { ...localEnv, GATEHOUSE_PASSWORD: 'second admin passphrase' },
    });
    expect(json<{ setup: boolean }>(fromEnv).setup).toBe(false);

    const noPassword = await gatehouse(['create-admin', '--email', 'x@example.com', '--name', 'X'], { env: localEnv });
    expect(noPassword.code).toBe(2);
  });

  test('on a terminal the password is asked twice, hidden', async () => {
    const run = (answers: string[]) =>
      onTerminal(['--json', 'create-admin', '--email', 'tty@example.com', '--name', 'Tty'], {
        'Password: ': `${answers[0] ?? ''}\r`,
        'Password (again): ': `${answers[1] ?? ''}\r`,
      });

    const mismatch = await run(['first passphrase here', 'second passphrase here']);
    expect(mismatch.code).toBe(2);
    expect(mismatch.stdout).toContain('do not match');

    const typed = 'typed at a terminal 42';
    const ok = await run([typed, typed]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).not.toContain(typed); // not echoed
    const created = JSON.parse(ok.stdout.slice(ok.stdout.indexOf('{'))) as { user: User };
    expect(created.user.email).toBe('tty@example.com');
  });

  test('the admin signs in on a server over that database; reset-password revokes their sessions', async () => {
    server = await startTestServer(localEnv);
    const anonymous = createGatehouseClient({ url: server.url });
    const signedIn = await anonymous.auth.signIn.mutate({ identifier: ADMIN.email, password: ADMIN.password });
    if (signedIn.status !== 'signed-in') throw new Error('expected a session');
    remoteEnv = { GATEHOUSE_URL: server.url, GATEHOUSE_TOKEN: signedIn.token };

    // A second session, to be revoked by the recovery below; the server has it cached once used.
    const other = await anonymous.auth.signIn.mutate({ identifier: ADMIN.email, password: ADMIN.password });
    if (other.status !== 'signed-in') throw new Error('expected a session');
    const cachedSession = createGatehouseClient({ url: server.url, token: other.token });
    expect((await cachedSession.auth.me.query()).user.id).toBe(adminId);
    const newPassword = 'brand new recovery passphrase';
    const reset = json<{ ok: true; revokedSessions: number; user: User }>(
      await gatehouse(['reset-password', ADMIN.email, '--password-stdin', '--json'], {
        env: localEnv,
        input: newPassword,
      }),
    );
    expect(reset.revokedSessions).toBe(2);
    expect(reset.user.id).toBe(adminId);
    // The server hears of the CLI's commit through the invalidation table within a second or so,
    // not when its cache entry ages out (5 minutes).
    const committed = Date.now();
    let refused: unknown = null;
    while (!refused && Date.now() - committed < 1500) {
      refused = await cachedSession.auth.me.query().then(
        () => null,
        (e: unknown) => e,
      );
      if (!refused) await new Promise((r) => setTimeout(r, 20));
    }
    expect(isGatehouseError(refused, 'UNAUTHORIZED')).toBe(true);

    const old = await anonymous.auth.signIn
      .mutate({ identifier: ADMIN.email, password: ADMIN.password })
      .catch((e: unknown) => e);
    expect(isGatehouseError(old, 'UNAUTHORIZED')).toBe(true);
    const fresh = await anonymous.auth.signIn.mutate({ identifier: ADMIN.email, password: newPassword });
    if (fresh.status !== 'signed-in') throw new Error('expected a session');
    remoteEnv = { GATEHOUSE_URL: server.url, GATEHOUSE_TOKEN: fresh.token };

    const gh = createGatehouseClient({ url: server.url, token: fresh.token });
    const events = await gh.audit.list.query({ type: 'user.password_set' });
    expect(events.items[0]).toMatchObject({
      targetId: adminId,
      actorId: null,
      userAgent: 'gatehouse-cli',
      data: { revokedSessions: 2, via: 'cli' },
    });
    expect((await gh.audit.list.query({ type: 'auth.setup' })).items[0]?.targetId).toBe(adminId);

    const unknown = await gatehouse(['reset-password', 'nobody@example.com', '--password-stdin'], {
      env: localEnv,
      input: newPassword,
    });
    expect(unknown.code).toBe(1);
  });
  test('on a terminal, arrow keys are no part of the password (reset-password, then sign in with it)', async () => {
    if (!server) throw new Error('no server');
    const [left, right, up, down] = ['\u001b[D', '\u001b[C', '\u001b[A', '\u001b[B'];
    // Arrow keys between the words: they move the cursor (and back), up/down find no history;
    // none of them is a character of the password. (Where the cursor lands mid-line is covered
    // key by key in password.test.ts; here keys may reach the terminal several at a time.)
    const keys = [...'typed at a shell', left, left, right, right, up, down, ...' 42', '\r'];
    const result = await onTerminal(['--json', 'reset-password', 'tty@example.com'], {
      'New password: ': keys,
      'New password (again): ': keys,
    });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('New password: [input is masked]');
    expect(result.stdout).not.toContain('shell'); // not echoed
    const signedIn = await createGatehouseClient({ url: server.url }).auth.signIn.mutate({
      identifier: 'tty@example.com',
      password: 'typed at a shell 42',
    });
    expect(signedIn.status).toBe('signed-in');
  });
});

describe('remote commands', () => {
  test('users create | list | deactivate', async () => {
    const created = json<User>(
      await gatehouse(
        [
          'users',
          'create',
          '--email',
          'Dana@Example.com',
          '--name',
          'Dana',
          '--username',
          'dana',
          '--password-stdin',
          '--json',
        ],
        {
          env: remoteEnv,
          input: 'dana has a long passphrase',
        },
      ),
    );
    expect(created).toMatchObject({ email: 'dana@example.com', username: 'dana', role: 'member' });

    const page = json<{ items: User[]; total: number }>(
      await gatehouse(['--json', 'users', 'list', '--all', '--limit', '1'], { env: remoteEnv }),
    );
    expect(page.total).toBe(4);
    expect(page.items.map((u) => u.email).sort()).toEqual([
      'dana@example.com',
      'root@example.com',
      'second@example.com',
      'tty@example.com',
    ]);

    const table = await gatehouse(['users', 'list', '--role', 'member'], { env: remoteEnv });
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^id\s+email/);
    expect(table.stdout).toContain('dana@example.com');
    expect(table.stdout).not.toContain('root@example.com');

    const deactivated = json<User>(await gatehouse(['users', 'deactivate', 'dana', '--json'], { env: remoteEnv }));
    expect(deactivated.isActive).toBe(false);
    const conflict = await gatehouse(
      ['users', 'create', '--email', 'dana@example.com', '--name', 'D2', '--password-stdin'],
      {
        env: remoteEnv,
        input: 'dana has a long passphrase',
      },
    );
    expect(conflict.code).toBe(1);
    expect(conflict.stderr).toContain('CONFLICT');
  });

  test('sessions list | revoke', async () => {
    if (!server) throw new Error('no server');
    const second = await createGatehouseClient({ url: server.url }).auth.signIn.mutate({
      identifier: 'second@example.com',
      password: 'second admin passphrase',
    });
    if (second.status !== 'signed-in') throw new Error('expected a session');

    const mine = json<Session[]>(await gatehouse(['sessions', 'list', '--json'], { env: remoteEnv }));
    expect(mine.some((s) => s.current)).toBe(true);
    const theirs = json<Session[]>(
      await gatehouse(['sessions', 'list', '--user', 'second@example.com', '--json'], { env: remoteEnv }),
    );
    expect(theirs).toHaveLength(1);

    const revoked = json<{ revoked: number }>(
      await gatehouse(['sessions', 'revoke', '--user', 'second@example.com', '--json'], { env: remoteEnv }),
    );
    expect(revoked.revoked).toBe(1);
    const check = await createGatehouseClient({ url: server.url, token: second.token })
      .auth.me.query()
      .catch((e: unknown) => e);
    expect(isGatehouseError(check, 'UNAUTHORIZED')).toBe(true);
    expect((await gatehouse(['sessions', 'revoke'], { env: remoteEnv })).code).toBe(2);
  });

  test('a bad token fails with the server’s message (exit 1)', async () => {
    const result = await gatehouse(['users', 'list'], { env: { ...remoteEnv, GATEHOUSE_TOKEN: 'bogus.token' } });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('UNAUTHORIZED');
  });

  test('audit verify, export, offline verify (and a tampered export fails)', async () => {
    if (!server) throw new Error('no server');
    // Checkpoints are signed every minute or 100 events: make sure one covers the log now.
    await server.services.audit.checkpointer.tick(true);
    const verified = json<{ ok: boolean; checked: number }>(
      await gatehouse(['audit', 'verify', '--json'], { env: remoteEnv }),
    );
    expect(verified.ok).toBe(true);
    expect(verified.checked).toBeGreaterThan(5);

    const out = join(dir, 'export');
    const exported = await gatehouse(['audit', 'export', out, '--json'], { env: remoteEnv });
    const summary = json<{ events: number; publicKey: string; treeSize: number }>(exported);
    expect(summary.events).toBeGreaterThanOrEqual(summary.treeSize);
    expect(exported.stderr).toMatch(/fetched \d+\/\d+ events/);

    const offline = json<{ ok: boolean; checked: number }>(
      await gatehouse(['audit', 'verify', '--offline', out, '--public-key', summary.publicKey, '--json']),
    );
    expect(offline).toMatchObject({ ok: true, checked: summary.events });

    const text = await gatehouse(['audit', 'verify', '--offline', out, '--public-key', summary.publicKey]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^ok: \d+ events/);

    const events = join(out, 'events.jsonl');
    writeFileSync(events, readFileSync(events, 'utf8').replace('"root@example.com"', '"evil@example.com"'));
    const tampered = await gatehouse(['audit', 'verify', '--offline', out, '--public-key', summary.publicKey]);
    expect(tampered.code).toBe(1);
    expect(tampered.stdout).toContain('FAILED');

    expect((await gatehouse(['audit', 'verify', '--offline', out])).code).toBe(2);
  });

  test('audit tail follows the log', async () => {
    const result = await gatehouse(['audit', 'tail', '--after', '0', '--count', '3', '--json'], { env: remoteEnv });
    expect(result.code).toBe(0);
    const events = result.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as AuditEvent);
    expect(events.map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(events[0]?.type).toBe('auth.setup');
  });

  test('audit verify fails (exit 1) and names the seq when the log was edited behind its back', async () => {
    if (!server) throw new Error('no server');
    await server.db.kysely.updateTable('audit_events').set({ type: 'user.deleted' }).where('seq', '=', 2).execute();
    const result = await gatehouse(['audit', 'verify'], { env: remoteEnv });
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/^FAILED at seq 2/);
    const report = await gatehouse(['audit', 'verify', '--json'], { env: remoteEnv });
    expect(report.code).toBe(1);
    expect(JSON.parse(report.stdout)).toMatchObject({ ok: false, firstInvalidSeq: 2 });
  });
});

describe('gatehouse audit rotate-key', () => {
  const keyDir = mkdtempSync(join(tmpdir(), 'gatehouse-rotate-'));
  const env = { DATABASE_URL: `file:${join(keyDir, 'gatehouse.db')}`, AUDIT_KEY_FILE: join(keyDir, 'audit.key') };
  afterAll(() => rmSync(keyDir, { recursive: true, force: true }));

  test('retires the key into the history with its range and writes a new one', async () => {
    expect((await gatehouse(['migrate'], { env })).code).toBe(0);
    const first = json<{ retiredKey: string; from: number; to: number; publicKey: string; history: string }>(
      await gatehouse(['audit', 'rotate-key', '--json'], { env }),
    );
    expect(first).toMatchObject({ from: 0, to: 0, history: `${env.AUDIT_KEY_FILE}.history` });
    expect(first.publicKey).not.toBe(first.retiredKey);
    const second = await gatehouse(['audit', 'rotate-key'], { env });
    expect(second.code).toBe(0);
    expect(second.stdout).toContain(`retired ${first.publicKey}`);
    const history = readFileSync(`${env.AUDIT_KEY_FILE}.history`, 'utf8').trim().split('\n');
    expect(history).toEqual([`0 0 ${first.retiredKey}`, `0 0 ${first.publicKey}`]);
  });
});
