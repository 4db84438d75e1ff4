/**
 * Mail from a running server over real HTTP, with a real SMTP server on loopback: the background
 * worker (started with the services, stopped with them) sends what a request queued, without
 * the request waiting for it; an SMTP outage delays mail but loses none. And the mail variables
 * are validated at start like every other.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGatehouseClient } from '@gatehouse/client';
import { createTestUser, startTestSmtp, tokenFromLink, type TestSmtp } from '@gatehouse/api/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from './config.js';
import { startTestServer, type RunningServer } from './testing.js';

const NEW_PASSWORD = 'harbour lantern meadow';

describe('mail from a running server', () => {
  let server: RunningServer | null = null;
  let smtp: TestSmtp | null = null;
  afterEach(async () => {
    await server?.stop();
    await smtp?.stop();
    server = null;
    smtp = null;
  });

  it('mails a reset link in the background; the link resets the password over HTTP', async () => {
    smtp = await startTestSmtp();
    server = await startTestServer({
      SMTP_URL: `smtp://127.0.0.1:${smtp.port}`,
      MAIL_FROM: 'Auth <auth@example.test>',
    });
    await createTestUser(server.services, { email: 'http@example.com', name: 'Http' });
    const client = createGatehouseClient({ url: server.url });

    const started = performance.now();
    expect(await client.auth.requestPasswordReset.mutate({ email: 'http@example.com' })).toEqual({ ok: true });
    expect(performance.now() - started).toBeLessThan(1000);

    // Nobody calls the worker: the server's own sends it.
    const mail = await smtp.next((m) => m.to === 'http@example.com', 10_000);
    expect(mail.from).toBe('"Auth" <auth@example.test>');
    const link = mail.links.find((l) => l.includes('#/reset-password/'));
    if (!link) throw new Error('no link');
    expect(link.startsWith(`${server.url}/#/reset-password/`)).toBe(true);
    expect(await client.auth.resetPassword.mutate({ token: tokenFromLink(link), newPassword: NEW_PASSWORD })).toEqual({
      ok: true,
      revokedSessions: 1,
    });
    const signedIn = await client.auth.signIn.mutate({ identifier: 'http@example.com', password: NEW_PASSWORD });
    expect(signedIn.status).toBe('signed-in');
  });

  it('answers at once while SMTP is down, and the mail arrives once SMTP is back', async () => {
    smtp = await startTestSmtp();
    const port = smtp.port;
    server = await startTestServer({ SMTP_URL: `smtp://127.0.0.1:${port}` });
    await createTestUser(server.services, { email: 'outage@example.com' });
    await smtp.stop();
    const client = createGatehouseClient({ url: server.url });
    const started = performance.now();
    expect(await client.auth.requestPasswordReset.mutate({ email: 'outage@example.com' })).toEqual({ ok: true });
    expect(performance.now() - started).toBeLessThan(1000);
    // The first attempt failed and left the mail pending with its error.
    await expect
      .poll(async () => (await server?.services.mail.summary())?.recent[0]?.attempts ?? 0, { timeout: 10_000 })
      .toBeGreaterThan(0);
    const summary = await server.services.mail.summary();
    expect(summary).toMatchObject({ pending: 1, sent: 0 });
    expect(summary.recent[0]?.lastError).toMatch(/ECONNREFUSED/);

    await smtp.start();
    expect(smtp.port).toBe(port);
    // The retry is due after the backoff; deliver it now as the worker's timer would then.
    await server.services.db.kysely.updateTable('mail_outbox').set({ next_attempt_at: new Date() }).execute();
    const mail = await smtp.next((m) => m.to === 'outage@example.com', 15_000);
    expect(mail.subject).toBe('Reset your Gatehouse password');
  });

  it('refuses mail flows with mail_not_configured when SMTP_URL is not set', async () => {
    server = await startTestServer();
    const client = createGatehouseClient({ url: server.url });
    const error = await client.auth.requestPasswordReset.mutate({ email: 'a@example.com' }).catch((e: unknown) => e);
    expect(error).toMatchObject({ data: { code: 'PRECONDITION_FAILED', reason: 'mail_not_configured' } });
  });
});

describe('mail configuration', () => {
  it('is off by default, and reads SMTP_URL, SMTP_PASSWORD_FILE, MAIL_FROM, MAIL_TRANSPORT', () => {
    expect(loadConfig({}).api.mail).toBeNull();
    expect(loadConfig({}).api.requireEmailVerification).toBe(false);
    expect(loadConfig({}).api.securityNotices).toBe(true);
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-mail-config-'));
    try {
      const file = join(dir, 'smtp-password');
      writeFileSync(file, 's3cret pass\n');
      expect(
        loadConfig({
          SMTP_URL: 'smtps://mailer@smtp.example.com',
          SMTP_PASSWORD_FILE: file,
          MAIL_FROM: 'auth@example.com',
        }).api.mail,
      ).toEqual({
        transport: 'smtp',
        url: 'smtps://mailer@smtp.example.com',
        password: 's3cret pass',
        from: 'auth@example.com',
      });
      expect(loadConfig({ MAIL_TRANSPORT: 'log', PUBLIC_ORIGIN: 'https://auth.example.com' }).api.mail).toEqual({
        transport: 'log',
        from: 'Gatehouse <gatehouse@auth.example.com>',
      });
      expect(loadConfig({ REQUIRE_EMAIL_VERIFICATION: 'true', SECURITY_NOTICES: 'false' }).api).toMatchObject({
        requireEmailVerification: true,
        securityNotices: false,
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('names the bad variable and never prints an SMTP_URL (it may hold a password)', () => {
    const bad = (env: Record<string, string>) => {
      try {
        loadConfig(env);
      } catch (error) {
        return (error as Error).message;
      }
      return 'accepted';
    };
    const message = bad({ SMTP_URL: 'http://user:hunter2@mail.example.com' });
    expect(message).toMatch(/^Invalid SMTP_URL/);
    expect(message).not.toContain('hunter2');
    expect(bad({ MAIL_FROM: 'not an address' })).toMatch(/^Invalid MAIL_FROM/);
    expect(bad({ MAIL_TRANSPORT: 'carrier-pigeon' })).toMatch(/^Invalid MAIL_TRANSPORT/);
    expect(bad({ MAIL_TRANSPORT: 'smtp' })).toMatch(/^Invalid MAIL_TRANSPORT: smtp needs SMTP_URL/);
    expect(bad({ SMTP_URL: 'smtp://m@x.example', SMTP_PASSWORD_FILE: '/nonexistent/secret' })).toMatch(
      /^Invalid SMTP_PASSWORD_FILE/,
    );
    expect(bad({ REQUIRE_EMAIL_VERIFICATION: 'maybe' })).toMatch(/^Invalid REQUIRE_EMAIL_VERIFICATION/);
  });
});
