/**
 * The outbox worker against a real SMTP server on loopback, on both dialects: SMTP credentials
 * (in the URL, or the password from SMTP_PASSWORD_FILE), a mail given up after the last attempt
 * (its bodies wiped), two workers on one PostgreSQL database sending each mail once, and the
 * development log transport.
 */
import type { Db } from '@gatehouse/db';
import { createMigratedTestDb, testDialects } from '@gatehouse/db/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../clock.js';
import type { MailConfig } from '../config.js';
import type { Services } from '../services.js';
import { createTestServices, createTestUser, startTestSmtp, type TestSmtp } from '../testing.js';
import { transact } from '../unit-of-work.js';
import { passwordResetMail } from './templates.js';
import { createMailTransport } from './transport.js';

describe.each(testDialects)('mail worker on %s', (dialect) => {
  let db: Db;
  let cleanup: () => Promise<void>;
  let clock: ManualClock;
  const opened: Services[] = [];
  let smtp: TestSmtp | null = null;

  async function servicesWith(mail: MailConfig, worker = {}) {
    const services = await createTestServices(db, { clock, config: { mail }, mailWorker: worker });
    opened.push(services);
    return services;
  }

  async function enqueue(services: Services, to: string) {
    await transact(services, (work) =>
      services.mail.enqueue(work, passwordResetMail(to, 'Someone', 'http://localhost:3000/#/x/y', 30)),
    );
  }

  beforeEach(async () => {
    ({ db, cleanup } = await createMigratedTestDb(dialect));
    clock = new ManualClock('2026-08-01T00:00:00.000Z');
  });
  afterEach(async () => {
    for (const services of opened.splice(0)) await services.close();
    await smtp?.stop();
    smtp = null;
    await cleanup();
  });

  it('authenticates with the user and password of SMTP_URL, or the password of SMTP_PASSWORD_FILE', async () => {
    smtp = await startTestSmtp({ auth: { user: 'mailer', pass: 'p@ss word' } });
    const inUrl = await servicesWith({
      transport: 'smtp',
      url: `smtp://mailer:${encodeURIComponent('p@ss word')}@127.0.0.1:${smtp.port}`,
      password: null,
      from: 'a@example.test',
    });
    await enqueue(inUrl, 'one@example.test');
    expect(await inUrl.mail.deliverDue()).toEqual({ sent: 1, failed: 0 });
    await smtp.next((m) => m.to === 'one@example.test');

    const fromFile = await servicesWith({
      transport: 'smtp',
      url: `smtp://mailer@127.0.0.1:${smtp.port}`,
      password: 'p@ss word',
      from: 'a@example.test',
    });
    await enqueue(fromFile, 'two@example.test');
    expect(await fromFile.mail.deliverDue()).toEqual({ sent: 1, failed: 0 });

    const wrong = await servicesWith({
      transport: 'smtp',
      url: `smtp://mailer:wrong@127.0.0.1:${smtp.port}`,
      password: null,
      from: 'a@example.test',
    });
    await enqueue(wrong, 'three@example.test');
    expect(await wrong.mail.deliverDue()).toEqual({ sent: 0, failed: 1 });
    const row = await db.kysely
      .selectFrom('mail_outbox')
      .selectAll()
      .where('to_address', '=', 'three@example.test')
      .executeTakeFirstOrThrow();
    expect(row.last_error).toMatch(/EAUTH/);
    expect(row.last_error).not.toContain('wrong');
  });

  it('gives a mail up after the last attempt and wipes its bodies', async () => {
    smtp = await startTestSmtp();
    const port = smtp.port;
    await smtp.stop();
    const services = await servicesWith(
      { transport: 'smtp', url: `smtp://127.0.0.1:${port}`, password: null, from: 'a@example.test' },
      { maxAttempts: 3, baseDelayMs: 1000 },
    );
    await enqueue(services, 'lost@example.test');
    const delays: number[] = [];
    for (let attempt = 1; attempt <= 3; attempt++) {
      expect(await services.mail.deliverDue()).toEqual({ sent: 0, failed: 1 });
      const row = await db.kysely.selectFrom('mail_outbox').selectAll().executeTakeFirstOrThrow();
      delays.push(row.next_attempt_at.getTime() - clock.now().getTime());
      clock.advance(10_000);
    }
    // 1 s, then 2 s; the third failure is the last.
    expect(delays.slice(0, 2)).toEqual([1000, 2000]);
    const row = await db.kysely.selectFrom('mail_outbox').selectAll().executeTakeFirstOrThrow();
    expect(row).toMatchObject({ status: 'failed', attempts: 3, text_body: null, html_body: null });
    expect(await services.mail.deliverDue()).toEqual({ sent: 0, failed: 0 });
    expect(await services.mail.summary()).toMatchObject({ pending: 0, sent: 0, failed: 1 });
  });

  it('two workers on one database send every mail exactly once', async () => {
    smtp = await startTestSmtp();
    const config: MailConfig = {
      transport: 'smtp',
      url: `smtp://127.0.0.1:${smtp.port}`,
      password: null,
      from: 'a@example.test',
    };
    const a = await servicesWith(config, { batchSize: 3 });
    const b = await servicesWith(config, { batchSize: 3 });
    for (let i = 0; i < 12; i++) await enqueue(a, `m${i}@example.test`);
    const [ra, rb] = await Promise.all([a.mail.deliverDue(), b.mail.deliverDue()]);
    expect(ra.sent + rb.sent).toBe(12);
    await smtp.next((m) => m.to === 'm11@example.test');
    await new Promise((r) => setTimeout(r, 200));
    const recipients = smtp.received.map((m) => m.to).sort();
    expect(recipients).toEqual([...new Set(recipients)]);
    expect(recipients).toHaveLength(12);
  });

  it('MAIL_TRANSPORT=log writes the mail to the log instead of sending it (development only)', async () => {
    const lines: { obj: object; msg: string }[] = [];
    const logger = { info: (obj: object, msg: string) => lines.push({ obj, msg }), warn() {}, error() {} };
    const transport = createMailTransport({ transport: 'log', from: 'dev@example.test' }, logger);
    await transport.send({ to: 'dev@example.test', subject: 'Hello', text: 'the body', html: '<p>the body</p>' });
    expect(lines).toEqual([
      {
        obj: { mail: { from: 'dev@example.test', to: 'dev@example.test', subject: 'Hello', text: 'the body' } },
        msg: 'mail (MAIL_TRANSPORT=log)',
      },
    ]);
    // And the services take it as configured mail.
    const services = await servicesWith({ transport: 'log', from: 'dev@example.test' });
    expect([services.mail.configured, services.mail.transport]).toEqual([true, 'log']);
    await createTestUser(services, { email: 'dev@example.test', withSession: false });
    await enqueue(services, 'dev@example.test');
    expect(await services.mail.deliverDue()).toEqual({ sent: 1, failed: 0 });
  });
});
