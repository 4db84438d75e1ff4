/**
 * `gatehouse users invite`, `users reset-link` and `mail status` against a real server with a real
 * SMTP server on loopback, run in-process through the CLI's own `run` (argv, streams, env).
 */
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createGatehouseClient } from '@gatehouse/client';
import { run } from '../src/program.js';
// Test-only, reached by path: the server and the API's test helpers are not dependencies of the CLI.
import { startTestServer, type RunningServer } from '../../server/src/testing.js';
import { createTestUser } from '../../../packages/api/src/testing.js';
import { startTestSmtp, tokenFromLink, type TestSmtp } from '../../../packages/api/src/mail/test-smtp.js';

async function cli(args: string[], env: Record<string, string>) {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d: Buffer) => (out += d.toString()));
  stderr.on('data', (d: Buffer) => (err += d.toString()));
  const stdin = new PassThrough();
  stdin.end();
  const code = await run(args, { stdin, stdout, stderr, env });
  return { code, stdout: out, stderr: err };
}

describe('mail commands', () => {
  let smtp: TestSmtp;
  let server: RunningServer;
  let env: Record<string, string>;
  let offline: RunningServer;
  let offlineEnv: Record<string, string>;

  beforeAll(async () => {
    smtp = await startTestSmtp();
    server = await startTestServer({ SMTP_URL: `smtp://127.0.0.1:${smtp.port}` });
    const admin = await createTestUser(server.services, { role: 'admin' });
    env = { GATEHOUSE_URL: server.url, GATEHOUSE_TOKEN: admin.token ?? '' };
    offline = await startTestServer();
    const offlineAdmin = await createTestUser(offline.services, { role: 'admin' });
    offlineEnv = { GATEHOUSE_URL: offline.url, GATEHOUSE_TOKEN: offlineAdmin.token ?? '' };
  });
  afterAll(async () => {
    await server.stop();
    await offline.stop();
    await smtp.stop();
  });

  test('users invite mails the invitation; mail status shows it sent', async () => {
    const invited = await cli(['users', 'invite', '--email', 'cli@example.com', '--name', 'Cli Person'], env);
    expect(invited.code).toBe(0);
    expect(invited.stdout).toContain('invited member cli@example.com');
    const mail = await smtp.next((m) => m.to === 'cli@example.com', 10_000);
    expect(mail.subject).toBe('You are invited to Gatehouse');

    await expect
      .poll(async () => JSON.parse((await cli(['--json', 'mail', 'status'], env)).stdout) as { sent: number })
      .toMatchObject({ sent: 1 });
    const human = await cli(['mail', 'status'], env);
    expect(human.stdout).toContain('transport smtp: 0 waiting, 1 sent, 0 given up');
    expect(human.stdout).toContain('invitation');
  });

  test('without mail: invite refuses, --link prints a working link, reset-link prints a working link', async () => {
    const refused = await cli(['users', 'invite', '--email', 'x@example.com', '--name', 'X'], offlineEnv);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/mail/i);

    const linked = await cli(
      ['users', 'invite', '--link', '--email', 'handed@example.com', '--name', 'Handed'],
      offlineEnv,
    );
    expect(linked.code).toBe(0);
    const url = linked.stdout.trim();
    expect(url.startsWith(`${offline.url}/#/accept-invitation/`)).toBe(true);
    const anonymous = createGatehouseClient({ url: offline.url });
    const accepted = await anonymous.auth.acceptInvitation.mutate({
      token: tokenFromLink(url),
      password: 'granite willow ferry',
    });
    expect(accepted.status).toBe('signed-in');

    const reset = await cli(['users', 'reset-link', 'handed@example.com'], offlineEnv);
    expect(reset.code).toBe(0);
    expect(reset.stderr).toContain('reset link for handed@example.com');
    await anonymous.auth.resetPassword.mutate({
      token: tokenFromLink(reset.stdout.trim()),
      newPassword: 'amber violin canyon',
    });
    const signedIn = await anonymous.auth.signIn.mutate({
      identifier: 'handed@example.com',
      password: 'amber violin canyon',
    });
    expect(signedIn.status).toBe('signed-in');

    const status = await cli(['mail', 'status'], offlineEnv);
    expect(status.stdout).toContain('mail is not configured');
  });
});
