/**
 * issue 15: `gatehouse users reset-mfa` on the database a real server uses. The user enrols an
 * authenticator app (codes from the independent otpauth package), then the operator removes it:
 * the next sign-in needs the password only, and the sessions held before are gone.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as OTPAuth from 'otpauth';
import { afterAll, describe, expect, test } from 'vitest';
import { createGatehouseClient, isGatehouseError, type User } from '@gatehouse/client';
import { gatehouse as run, json } from './run.js';
// Test-only, reached by path: the server is not a dependency of the CLI.
import { startTestServer, type RunningServer } from '../../server/src/testing.js';

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-cli-mfa-'));
const env = { DATABASE_URL: `file:${join(dir, 'mfa.db')}`, AUDIT_KEY_FILE: join(dir, 'audit.key') };
const gatehouse = (args: string[], input = '') => run(args, { env: { GATEHOUSE_CLI_FROM_SOURCE: '1', ...env }, input });
const ADMIN = { email: 'root@example.com', password: 'the first recovery passphrase' };

let server: RunningServer | null = null;
afterAll(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('users reset-mfa', () => {
  test('removes the factors and revokes the sessions, so the password alone signs in again', async () => {
    const { user } = json<{ user: User }>(
      await gatehouse(
        ['create-admin', '--email', ADMIN.email, '--name', 'Root', '--password-stdin', '--json'],
        ADMIN.password,
      ),
    );
    server = await startTestServer(env);
    const web = createGatehouseClient({ url: server.url });
    const first = await web.auth.signIn.mutate({ identifier: ADMIN.email, password: ADMIN.password });
    if (first.status !== 'signed-in') throw new Error('expected a session');
    const signedIn = createGatehouseClient({ url: server.url, token: first.token });
    const enrolment = await signedIn.mfa.totpBegin.mutate();
    const app = OTPAuth.URI.parse(enrolment.uri);
    await signedIn.mfa.totpConfirm.mutate({ code: app.generate() });
    expect((await web.auth.signIn.mutate({ identifier: ADMIN.email, password: ADMIN.password })).status).toBe(
      'mfa-required',
    );

    const miss = await gatehouse(['users', 'reset-mfa', 'nobody@example.com']);
    expect(miss.code).toBe(1);
    expect(miss.stderr).toContain('no user nobody@example.com');

    const reset = json<{ user: User; removed: { totp: boolean; recoveryCodes: number }; revokedSessions: number }>(
      await gatehouse(['--json', 'users', 'reset-mfa', 'ROOT@example.com']),
    );
    expect(reset.user).toMatchObject({ id: user.id, mfaEnabled: false });
    expect(reset.removed).toMatchObject({ totp: true, recoveryCodes: 10 });
    expect(reset.revokedSessions).toBe(1);

    const revoked = await signedIn.auth.me.query().catch((e: unknown) => e);
    expect(isGatehouseError(revoked, 'UNAUTHORIZED', 'unauthenticated')).toBe(true);
    expect((await web.auth.signIn.mutate({ identifier: ADMIN.email, password: ADMIN.password })).status).toBe(
      'signed-in',
    );
    const events = await createGatehouseClient({
      url: server.url,
      token: (
        (await web.auth.signIn.mutate({ identifier: ADMIN.email, password: ADMIN.password })) as { token: string }
      ).token,
    }).audit.list.query({ type: 'mfa.reset' });
    expect(events.items.map((e) => e.data)).toEqual([
      { totp: true, passkeys: 0, recoveryCodes: 10, revokedSessions: 1, via: 'cli' },
    ]);
  });
});
