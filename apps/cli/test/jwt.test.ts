/** `gatehouse jwt rotate-key` (issue 16) and an API key as GATEHOUSE_TOKEN. */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { callerFor, createTestUser } from '@gatehouse/api/testing';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestServer, type RunningServer } from '../../server/src/testing.js';
import { gatehouse, json } from './run.js';

describe('gatehouse jwt rotate-key', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-jwt-'));
  const env = { AUDIT_KEY_FILE: join(dir, 'audit.key') };
  const file = join(dir, 'jwt-signing.json');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const kids = () => (JSON.parse(readFileSync(file, 'utf8')) as { keys: { kid: string }[] }).keys.map((k) => k.kid);

  test('creates the key file 0600 beside AUDIT_KEY_FILE, then keeps exactly the previous key', async () => {
    const first = json<{ kid: string; previous: string; file: string }>(
      await gatehouse(['jwt', 'rotate-key', '--json'], { env }),
    );
    expect(first.file).toBe(file);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(kids()).toEqual([first.kid, first.previous]);
    const second = await gatehouse(['jwt', 'rotate-key'], { env });
    expect(second.code).toBe(0);
    expect(second.stdout).toContain(`previous key ${first.kid}`);
    expect(kids()).toHaveLength(2);
    expect(kids()[1]).toBe(first.kid);
  });
});

describe('GATEHOUSE_TOKEN as an API key', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    await server?.stop();
  });

  test('a key with users:read lists users; one without the scope is refused, and says why', async () => {
    const admin = await createTestUser(server.services, { role: 'admin', email: 'keys-admin@example.test' });
    const caller = callerFor(server.services, admin.token);
    const reader = await caller.apiKey.create({ name: 'cli', scopes: ['users:read'] });
    const listed = await gatehouse(['users', 'list', '--json'], {
      env: { GATEHOUSE_URL: server.url, GATEHOUSE_TOKEN: reader.key },
    });
    expect(listed.code).toBe(0);
    expect(listed.stdout).toContain('keys-admin@example.test');
    expect(listed.stdout + listed.stderr).not.toContain(reader.key);

    const other = await caller.apiKey.create({ name: 'cli', scopes: ['sessions:read'] });
    const refused = await gatehouse(['users', 'list'], {
      env: { GATEHOUSE_URL: server.url, GATEHOUSE_TOKEN: other.key },
    });
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('users:read');
  });
});
