/**
 * The security notices of the second factors, through the router on both dialects, with a real
 * SMTP server on loopback: a recovery code used, a factor added or removed, an administrator's
 * reset — and the new-browser sign-in notice for sign-ins finished by auth.verifyMfa. None of
 * them carries a code, a secret or a token.
 */
import type { Db } from '@gatehouse/db';
import { createMigratedTestDb, testDialects } from '@gatehouse/db/testing';
import * as OTPAuth from 'otpauth';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../clock.js';
import type { ApiConfig } from '../config.js';
import { createContext, recordingResponse, type RequestInfo } from '../context.js';
import { createCaller } from '../root.js';
import type { Services } from '../services.js';
import {
  callerFor,
  createTestServices,
  createTestUser,
  startTestSmtp,
  type ReceivedMail,
  type TestSmtp,
  type TestUser,
} from '../testing.js';

const PASSWORD = 'violet tractor umbrella';
const MINUTE = 60_000;

describe.each(testDialects)('MFA security notices on %s', (dialect) => {
  let db: Db;
  let cleanup: () => Promise<void>;
  let clock: ManualClock;
  let services: Services;
  let smtp: TestSmtp;

  function browser(req: Partial<RequestInfo> = {}) {
    const res = recordingResponse();
    const caller = createCaller(createContext(services, { ip: '203.0.113.9', userAgent: 'Browser/2.0', ...req }, res));
    return { caller, res };
  }

  async function restart(config: Partial<ApiConfig>) {
    await services.close();
    services = await createTestServices(db, { clock, config: { mail: smtp.mailConfig(), ...config } });
  }

  async function mailTo(to: string, subject: string, saying = ''): Promise<ReceivedMail> {
    await services.mail.deliverDue();
    return smtp.next((m) => m.to === to && m.subject === subject && m.text.includes(saying), 2000);
  }

  async function subjectsTo(to: string): Promise<string[]> {
    await services.mail.deliverDue();
    return smtp.received.filter((m) => m.to === to).map((m) => m.subject);
  }

  /** A user with TOTP on (through the router), their app and recovery codes. */
  async function enrolled(email: string) {
    const user = await createTestUser(services, { password: PASSWORD, email, name: 'Mona' });
    const caller = callerFor(services, user.token);
    const enrolment = await caller.mfa.totpBegin();
    const parsed = OTPAuth.URI.parse(enrolment.uri);
    if (!(parsed instanceof OTPAuth.TOTP)) throw new Error('not a TOTP URI');
    const { recoveryCodes } = await caller.mfa.totpConfirm({
      code: parsed.generate({ timestamp: clock.now().getTime() }),
    });
    clock.advance(30_000);
    return { user, caller, totp: parsed, secret: enrolment.secret, recoveryCodes: recoveryCodes ?? [] };
  }

  async function challengeFor(user: TestUser, req: Partial<RequestInfo> = {}) {
    const { caller, res } = browser(req);
    const result = await caller.auth.signIn({ identifier: user.user.email, password: PASSWORD });
    if (result.status !== 'mfa-required') throw new Error(`expected mfa-required, got ${result.status}`);
    return { caller, res, challengeToken: result.challengeToken };
  }

  /** Says nothing secret: no code, no TOTP secret, no token, no link but the sign-in page. */
  function expectNothingSecret(mail: ReceivedMail, secrets: string[]) {
    for (const secret of secrets) {
      expect(mail.text).not.toContain(secret);
      expect(mail.html).not.toContain(secret);
    }
    expect(mail.links).toEqual(['http://localhost:3000/']);
  }

  beforeEach(async () => {
    ({ db, cleanup } = await createMigratedTestDb(dialect));
    clock = new ManualClock('2026-04-01T09:00:05.000Z');
    smtp = await startTestSmtp();
    services = await createTestServices(db, {
      clock,
      config: { mail: smtp.mailConfig(), publicOrigin: 'http://localhost:3000' },
    });
  });
  afterEach(async () => {
    await services.close();
    await smtp.stop();
    await cleanup();
  });

  it('notifies when an authenticator app is set up, new recovery codes are made and the app is removed', async () => {
    const { caller, secret, recoveryCodes } = await enrolled('factors@example.com');
    const added = await mailTo('factors@example.com', 'The second factors of your Gatehouse account changed');
    expect(added.text).toContain('An authenticator app was set up as a second factor of your account');
    expect(added.html).toContain('An authenticator app was set up');
    expectNothingSecret(added, [secret, ...recoveryCodes]);

    const { recoveryCodes: fresh } = await caller.mfa.recoveryCodesRegenerate();
    const regenerated = await mailTo(
      'factors@example.com',
      'The second factors of your Gatehouse account changed',
      'New recovery codes',
    );
    expect(regenerated.text).toContain('New recovery codes were generated');
    expectNothingSecret(regenerated, [secret, ...fresh]);

    await caller.mfa.totpDisable();
    const removed = await mailTo(
      'factors@example.com',
      'The second factors of your Gatehouse account changed',
      'removed',
    );
    expect(removed.text).toContain('The authenticator app was removed');
    expectNothingSecret(removed, [secret]);
  });

  it('notifies when a recovery code signs in (with how many are left), and of the new browser', async () => {
    const { user, recoveryCodes, secret } = await enrolled('recovery@example.com');
    const [code] = recoveryCodes;
    if (!code) throw new Error('no codes');
    const a = await challengeFor(user, { ip: '192.0.2.44', userAgent: 'Lost/1.0' });
    const done = await a.caller.auth.verifyMfa({ challengeToken: a.challengeToken, method: 'recovery', code });
    expect(done.status).toBe('signed-in');
    const used = await mailTo('recovery@example.com', 'A recovery code was used on your Gatehouse account');
    expect(used.text).toContain('9 unused codes are left');
    expect(used.text).toContain('192.0.2.44');
    expectNothingSecret(used, [code, code.toUpperCase(), secret, done.token]);
    // The account's first sign-in ever is no news (as with the password alone).
    expect(await subjectsTo('recovery@example.com')).not.toContain('New sign-in to your Gatehouse account');
  });

  it('mails the new-browser notice for a sign-in finished by verifyMfa, not for a browser with the device cookie', async () => {
    const { user, totp } = await enrolled('browser@example.com');
    const first = await challengeFor(user);
    await first.caller.auth.verifyMfa({
      challengeToken: first.challengeToken,
      method: 'totp',
      code: totp.generate({ timestamp: clock.now().getTime() }),
    });
    const deviceCookie = first.res.deviceCookie?.value;
    expect(deviceCookie).toBeTypeOf('string');
    clock.advance(MINUTE);

    // The same browser, carrying its device cookie: nothing.
    const again = await challengeFor(user, { deviceCookie: deviceCookie ?? null });
    await again.caller.auth.verifyMfa({
      challengeToken: again.challengeToken,
      method: 'totp',
      code: totp.generate({ timestamp: clock.now().getTime() }),
    });
    expect(await subjectsTo('browser@example.com')).not.toContain('New sign-in to your Gatehouse account');
    clock.advance(MINUTE);

    // Another browser: the notice, naming it.
    const other = await challengeFor(user, { ip: '192.0.2.99', userAgent: 'Stranger/7' });
    const code = totp.generate({ timestamp: clock.now().getTime() });
    await other.caller.auth.verifyMfa({ challengeToken: other.challengeToken, method: 'totp', code });
    const notice = await mailTo('browser@example.com', 'New sign-in to your Gatehouse account');
    expect(notice.text).toContain('192.0.2.99');
    expect(notice.text).toContain('Stranger/7');
    expectNothingSecret(notice, [code, other.challengeToken]);
  });

  it("notifies the user of an administrator's reset of their factors", async () => {
    const admin = await createTestUser(services, { role: 'admin', password: PASSWORD });
    const { user, secret, recoveryCodes } = await enrolled('reset@example.com');
    await callerFor(services, admin.token).mfa.reset({ id: user.user.id });
    const reset = await mailTo('reset@example.com', 'The second factors of your Gatehouse account were removed');
    expect(reset.text).toContain('an administrator removed every second factor of your account');
    expectNothingSecret(reset, [secret, ...recoveryCodes]);
  });

  it('sends none of them with SECURITY_NOTICES=false', async () => {
    await restart({ securityNotices: false, publicOrigin: 'http://localhost:3000' });
    const admin = await createTestUser(services, { role: 'admin', password: PASSWORD });
    const { user, recoveryCodes } = await enrolled('quiet@example.com');
    const [code] = recoveryCodes;
    if (!code) throw new Error('no codes');
    const a = await challengeFor(user);
    await a.caller.auth.verifyMfa({ challengeToken: a.challengeToken, method: 'recovery', code });
    await callerFor(services, admin.token).mfa.reset({ id: user.user.id });
    expect(await subjectsTo('quiet@example.com')).toEqual([]);
  });
});
