import type { Db } from '@gatehouse/db';
import { createMigratedTestDb, testDialects } from '@gatehouse/db/testing';
import * as OTPAuth from 'otpauth';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../clock.js';
import type { ApiConfig } from '../config.js';
import { createContext, recordingResponse, type RequestInfo } from '../context.js';
import { createCaller } from '../root.js';
import type { Services } from '../services.js';
import { callerFor, createTestServices, createTestUser, trpcError, type TestUser } from '../testing.js';

const ORIGIN = 'http://localhost:3000';
const PASSWORD = 'violet tractor umbrella';
const MINUTE = 60_000;

describe.each(testDialects)('second factors on %s', (dialect) => {
  let db: Db;
  let cleanup: () => Promise<void>;
  let clock: ManualClock;
  let services: Services;

  const browser: Partial<RequestInfo> = { ip: '203.0.113.9', userAgent: 'Browser/2.0', origin: ORIGIN };

  function browserCaller(token: string | null = null) {
    const res = recordingResponse();
    const caller = createCaller(
      createContext(services, { ...browser, ...(token ? { token, tokenSource: 'cookie' as const } : {}) }, res),
    );
    return { caller, res };
  }

  async function auditRows(type?: string) {
    let q = db.kysely.selectFrom('audit_events').select(['type', 'actor_id', 'target_id', 'data']).orderBy('seq');
    if (type) q = q.where('type', '=', type);
    const rows = await q.execute();
    return rows.map((r) => ({ ...r, data: JSON.parse(r.data) as Record<string, unknown> }));
  }

  /** The authenticator app: otpauth, configured from the URI Gatehouse showed. */
  function app(uri: string): OTPAuth.TOTP {
    const parsed = OTPAuth.URI.parse(uri);
    if (!(parsed instanceof OTPAuth.TOTP)) throw new Error('not a TOTP URI');
    return parsed;
  }
  const codeNow = (totp: OTPAuth.TOTP, offsetMs = 0) => totp.generate({ timestamp: clock.now().getTime() + offsetMs });

  /** Enrols TOTP for a fresh user; returns the user, their app and recovery codes. */
  async function enrolled(overrides: Parameters<typeof createTestUser>[1] = {}) {
    const user = await createTestUser(services, { password: PASSWORD, ...overrides });
    const caller = callerFor(services, user.token);
    const enrolment = await caller.mfa.totpBegin();
    const totp = app(enrolment.uri);
    const { recoveryCodes } = await caller.mfa.totpConfirm({ code: codeNow(totp) });
    // Later codes in the tests must not fall in the step the confirmation used.
    clock.advance(30_000);
    return { user, totp, recoveryCodes: recoveryCodes ?? [], enrolment };
  }

  async function signInStep(user: TestUser, rememberMe = false) {
    const { caller, res } = browserCaller();
    const result = await caller.auth.signIn({ identifier: user.user.email, password: PASSWORD, rememberMe });
    return { caller, res, result };
  }

  async function challengeOf(user: TestUser) {
    const { result, caller, res } = await signInStep(user);
    if (result.status !== 'mfa-required') throw new Error(`expected mfa-required, got ${result.status}`);
    return { challengeToken: result.challengeToken, caller, res, result };
  }

  async function restart(config: Partial<ApiConfig> = {}) {
    await services.close();
    services = await createTestServices(db, { clock, config });
  }

  beforeEach(async () => {
    ({ db, cleanup } = await createMigratedTestDb(dialect));
    clock = new ManualClock('2026-04-01T09:00:05.000Z');
    services = await createTestServices(db, { clock });
  });
  afterEach(async () => {
    await services.close();
    await cleanup();
  });

  describe('TOTP enrolment', () => {
    it('shows an otpauth URI and a QR code, and is confirmed by a first code from an app', async () => {
      const user = await createTestUser(services, { password: PASSWORD, email: 'ada@example.test' });
      const caller = callerFor(services, user.token);
      const enrolment = await caller.mfa.totpBegin();
      expect(enrolment.uri).toMatch(/^otpauth:\/\/totp\/.*ada%40example\.test\?/);
      expect(enrolment.qrSvg).toMatch(/^<svg[\s\S]*<\/svg>$/);
      expect(app(enrolment.uri).secret.base32).toBe(enrolment.secret);
      expect((await caller.mfa.status()).totp).toEqual({ enabled: false, pending: true });
      // Not enabled until confirmed: sign-in still needs the password only.
      expect((await signInStep(user)).result.status).toBe('signed-in');

      const wrong = await trpcError(caller.mfa.totpConfirm({ code: '000000' }));
      expect([wrong.code, wrong.reason]).toEqual(['UNAUTHORIZED', 'mfa_invalid_code']);
      const { recoveryCodes } = await caller.mfa.totpConfirm({ code: codeNow(app(enrolment.uri)) });
      expect(recoveryCodes).toHaveLength(10);
      expect(new Set(recoveryCodes).size).toBe(10);
      const status = await caller.mfa.status();
      expect(status).toMatchObject({
        mfaEnabled: true,
        totp: { enabled: true, pending: false },
        recoveryCodesRemaining: 10,
      });
      expect((await caller.auth.me()).user.mfaEnabled).toBe(true);

      const again = await trpcError(caller.mfa.totpBegin());
      expect([again.code, again.reason]).toEqual(['CONFLICT', 'mfa_already_enrolled']);
    });

    it('stores the secret encrypted and the recovery codes hashed', async () => {
      const { user, enrolment, recoveryCodes } = await enrolled();
      const row = await db.kysely
        .selectFrom('totp_factors')
        .selectAll()
        .where('user_id', '=', user.user.id)
        .executeTakeFirstOrThrow();
      expect(row.secret).toMatch(/^v1\./);
      expect(row.secret).not.toContain(enrolment.secret);
      const codes = await db.kysely
        .selectFrom('recovery_codes')
        .selectAll()
        .where('user_id', '=', user.user.id)
        .execute();
      expect(codes).toHaveLength(10);
      const stored = JSON.stringify(codes.map((c) => Buffer.from(c.code_hash).toString('hex')));
      for (const code of recoveryCodes) expect(stored).not.toContain(code.replace('-', ''));
      // Another key (a different MFA_KEY_FILE) cannot read it: the next sign-in fails loudly, not silently.
      await restart();
      const { challengeToken, caller } = await challengeOf(user);
      await expect(caller.auth.verifyMfa({ challengeToken, method: 'totp', code: '123456' })).rejects.toThrow();
    });
  });

  describe('sign-in with a second factor', () => {
    it('answers mfa-required only after the right password, without a session or cookie', async () => {
      const { user } = await enrolled();
      const plain = await createTestUser(services, { password: PASSWORD, withSession: false });
      // A wrong password: the same error for an account with MFA as without, nothing about MFA.
      const withMfa = await trpcError(
        browserCaller().caller.auth.signIn({ identifier: user.user.email, password: 'wrong wrong' }),
      );
      const without = await trpcError(
        browserCaller().caller.auth.signIn({ identifier: plain.user.email, password: 'wrong wrong' }),
      );
      expect([withMfa.code, withMfa.reason, withMfa.message]).toEqual([without.code, without.reason, without.message]);
      expect(JSON.stringify(withMfa.cause)).not.toMatch(/mfa|totp/i);
      expect(await auditRows('auth.mfa_required')).toHaveLength(0);

      const { result, res } = await signInStep(user);
      expect(result).toMatchObject({ status: 'mfa-required', methods: ['totp', 'recovery'] });
      expect(res.cookie).toBeNull();
      expect(res.deviceCookie).toBeNull();
      if (result.status !== 'mfa-required') throw new Error('unreachable');
      expect(result.expiresAt.getTime() - clock.now().getTime()).toBe(5 * MINUTE);
      expect(result).not.toHaveProperty('token');
    });

    it('verifies a TOTP code from the app and signs in; the same code is refused after (replay)', async () => {
      const { user, totp } = await enrolled();
      const first = await challengeOf(user);
      const code = codeNow(totp);
      const { caller, res } = browserCaller();
      const signedIn = await caller.auth.verifyMfa({ challengeToken: first.challengeToken, method: 'totp', code });
      expect(signedIn.status).toBe('signed-in');
      expect(res.cookie).toMatchObject({ token: signedIn.token });
      expect(res.deviceCookie).not.toBeNull();
      expect((await callerFor(services, signedIn.token).auth.me()).user.id).toBe(user.user.id);
      const event = (await auditRows('auth.sign_in')).at(-1);
      expect(event?.data).toMatchObject({ mfa: 'totp', rememberMe: false });

      // The challenge is single use.
      const reused = await trpcError(
        caller.auth.verifyMfa({ challengeToken: first.challengeToken, method: 'totp', code }),
      );
      expect([reused.code, reused.reason]).toEqual(['UNAUTHORIZED', 'mfa_challenge_invalid']);
      // The code is single use, even with the password and a new challenge.
      const second = await challengeOf(user);
      const replay = await trpcError(
        second.caller.auth.verifyMfa({ challengeToken: second.challengeToken, method: 'totp', code }),
      );
      expect([replay.code, replay.reason]).toEqual(['UNAUTHORIZED', 'mfa_invalid_code']);
      // The next step's code is fine.
      clock.advance(30_000);
      const next = await second.caller.auth.verifyMfa({
        challengeToken: second.challengeToken,
        method: 'totp',
        code: codeNow(totp),
      });
      expect(next.status).toBe('signed-in');
    });

    it('allows one step of clock skew, not two', async () => {
      const { user, totp } = await enrolled();
      const a = await challengeOf(user);
      expect(
        (
          await a.caller.auth.verifyMfa({
            challengeToken: a.challengeToken,
            method: 'totp',
            code: codeNow(totp, 30_000),
          })
        ).status,
      ).toBe('signed-in');
      // (now + 30 s was used above: move past it so only the skew decides)
      clock.advance(90_000);
      const b = await challengeOf(user);
      const tooOld = await trpcError(
        b.caller.auth.verifyMfa({ challengeToken: b.challengeToken, method: 'totp', code: codeNow(totp, -60_000) }),
      );
      expect(tooOld.reason).toBe('mfa_invalid_code');
      expect(
        (
          await b.caller.auth.verifyMfa({
            challengeToken: b.challengeToken,
            method: 'totp',
            code: codeNow(totp, -30_000),
          })
        ).status,
      ).toBe('signed-in');
    });

    it('keeps "remember me" from the password step (the challenge is bound to its attempt)', async () => {
      const { user, totp } = await enrolled();
      const { result } = await signInStep(user, true);
      if (result.status !== 'mfa-required') throw new Error('expected mfa-required');
      const done = await browserCaller().caller.auth.verifyMfa({
        challengeToken: result.challengeToken,
        method: 'totp',
        code: codeNow(totp),
      });
      expect(done.expiresAt.getTime() - clock.now().getTime()).toBe(services.config.sessionRememberTtlMs);
    });

    it('accepts each recovery code once, and audits its use', async () => {
      const { user, recoveryCodes } = await enrolled();
      const [code] = recoveryCodes;
      if (!code) throw new Error('no codes');
      const a = await challengeOf(user);
      const done = await a.caller.auth.verifyMfa({
        challengeToken: a.challengeToken,
        method: 'recovery',
        code: ` ${code.toUpperCase()} `,
      });
      expect(done.status).toBe('signed-in');
      expect((await auditRows('mfa.recovery_code_used')).map((r) => r.data)).toEqual([{ remaining: 9 }]);
      const b = await challengeOf(user);
      const again = await trpcError(
        b.caller.auth.verifyMfa({ challengeToken: b.challengeToken, method: 'recovery', code }),
      );
      expect(again.reason).toBe('mfa_invalid_code');
      expect((await callerFor(services, done.token).mfa.status()).recoveryCodesRemaining).toBe(9);
    });

    it('ends a challenge after five wrong answers and after five minutes', async () => {
      const { user, totp } = await enrolled();
      const a = await challengeOf(user);
      for (let i = 0; i < 4; i++) {
        const wrong = await trpcError(
          a.caller.auth.verifyMfa({ challengeToken: a.challengeToken, method: 'totp', code: '000000' }),
        );
        expect(wrong.reason).toBe('mfa_invalid_code');
      }
      const fifth = await trpcError(
        a.caller.auth.verifyMfa({ challengeToken: a.challengeToken, method: 'totp', code: '000000' }),
      );
      expect(fifth.reason).toBe('mfa_challenge_invalid');
      const dead = await trpcError(
        a.caller.auth.verifyMfa({ challengeToken: a.challengeToken, method: 'totp', code: codeNow(totp) }),
      );
      expect(dead.reason).toBe('mfa_challenge_invalid');
      const failed = await auditRows('auth.mfa_failed');
      expect(failed.map((r) => r.data.failures)).toEqual([1, 2, 3, 4, 5]);

      const b = await challengeOf(user);
      clock.advance(5 * MINUTE + 1);
      const expired = await trpcError(
        b.caller.auth.verifyMfa({ challengeToken: b.challengeToken, method: 'totp', code: codeNow(totp) }),
      );
      expect(expired.reason).toBe('mfa_challenge_invalid');
    });

    it('throttles MFA attempts per account across challenges', async () => {
      await restart({});
      const { user } = await enrolled();
      let throttled = null;
      for (let i = 0; i < 8 && !throttled; i++) {
        const c = await challengeOf(user);
        for (let j = 0; j < 4; j++) {
          const error = await trpcError(
            c.caller.auth.verifyMfa({ challengeToken: c.challengeToken, method: 'totp', code: '999999' }),
          );
          if (error.code === 'TOO_MANY_REQUESTS') {
            throttled = error;
            break;
          }
        }
      }
      expect(throttled?.reason).toBe('throttled');
      expect((await auditRows('auth.throttled')).at(-1)?.data).toMatchObject({ operation: 'verify_mfa' });
    });

    it('refuses a method the account does not have, and an unknown challenge', async () => {
      const { user } = await enrolled();
      const c = await challengeOf(user);
      const unknown = await trpcError(
        c.caller.auth.verifyMfa({ challengeToken: 'nope', method: 'totp', code: '123456' }),
      );
      expect([unknown.code, unknown.reason]).toEqual(['UNAUTHORIZED', 'mfa_challenge_invalid']);
      const bad = await trpcError(
        c.caller.auth.verifyMfa({ challengeToken: c.challengeToken, method: 'totp', code: 'x'.repeat(65) }),
      );
      expect(bad.reason).toBe('validation_failed');
    });

    it('never writes a secret, code or token into the audit log', async () => {
      const { user, totp, recoveryCodes, enrolment } = await enrolled();
      const a = await challengeOf(user);
      const code = codeNow(totp);
      await trpcError(a.caller.auth.verifyMfa({ challengeToken: a.challengeToken, method: 'totp', code: '000000' }));
      const done = await a.caller.auth.verifyMfa({ challengeToken: a.challengeToken, method: 'totp', code });
      const b = await challengeOf(user);
      await b.caller.auth.verifyMfa({
        challengeToken: b.challengeToken,
        method: 'recovery',
        code: recoveryCodes[0] ?? '',
      });
      const log = JSON.stringify(await auditRows());
      expect(log).toContain('mfa.totp_enabled');
      for (const secret of [enrolment.secret, code, a.challengeToken, b.challengeToken, done.token, ...recoveryCodes]) {
        expect(log).not.toContain(secret);
      }
    });
  });

  describe('disabling and new recovery codes (step-up)', () => {
    it('needs an authentication within ten minutes; auth.reauthenticate refreshes it', async () => {
      const { user, totp } = await enrolled();
      const caller = callerFor(services, user.token);
      clock.advance(11 * MINUTE);
      const stale = await trpcError(caller.mfa.recoveryCodesRegenerate());
      expect([stale.code, stale.reason]).toEqual(['FORBIDDEN', 'reauthentication_required']);
      const wrong = await trpcError(caller.auth.reauthenticate({ method: 'password', password: 'not it at all' }));
      expect(wrong.reason).toBe('wrong_password');
      await caller.auth.reauthenticate({ method: 'totp', code: codeNow(totp) });
      const { recoveryCodes } = await caller.mfa.recoveryCodesRegenerate();
      expect(recoveryCodes).toHaveLength(10);
      expect((await auditRows('auth.reauthenticated')).map((r) => r.data.method)).toEqual(['totp']);
      expect((await auditRows('auth.reauthentication_failed')).map((r) => r.data.method)).toEqual(['password']);

      clock.advance(11 * MINUTE);
      expect((await trpcError(caller.mfa.totpDisable())).reason).toBe('reauthentication_required');
      await caller.auth.reauthenticate({ method: 'password', password: PASSWORD });
      expect(await caller.mfa.totpDisable()).toEqual({ ok: true, mfaEnabled: false });
      expect(await caller.mfa.status()).toMatchObject({ mfaEnabled: false, recoveryCodesRemaining: 0 });
      expect((await signInStep(user)).result.status).toBe('signed-in');
    });

    it('guards password and email changes, role changes and deletes', async () => {
      const admin = await createTestUser(services, { role: 'admin', password: PASSWORD });
      const member = await createTestUser(services, { password: PASSWORD });
      const adminCaller = callerFor(services, admin.token);
      const memberCaller = callerFor(services, member.token);
      clock.advance(11 * MINUTE);
      for (const call of [
        () => memberCaller.auth.changePassword({ currentPassword: PASSWORD, newPassword: 'a brand new passphrase' }),
        () => memberCaller.auth.updateProfile({ email: 'new@example.test' }),
        () => adminCaller.user.update({ id: member.user.id, role: 'admin' }),
        () => adminCaller.user.delete({ id: member.user.id }),
        () => adminCaller.mfa.reset({ id: member.user.id }),
      ]) {
        expect((await trpcError(call())).reason).toBe('reauthentication_required');
      }
      // A name change is not sensitive.
      expect((await memberCaller.auth.updateProfile({ name: 'Still Me' })).name).toBe('Still Me');
      await adminCaller.auth.reauthenticate({ method: 'password', password: PASSWORD });
      expect((await adminCaller.user.update({ id: member.user.id, role: 'admin' })).role).toBe('admin');
    });
  });

  describe('MFA_REQUIRED', () => {
    it('admins: an admin without a factor may only enrol; members are unaffected', async () => {
      await restart({ mfaRequired: 'admins' });
      const admin = await createTestUser(services, { role: 'admin', password: PASSWORD });
      const member = await createTestUser(services, { password: PASSWORD });
      const caller = callerFor(services, admin.token);
      expect((await caller.auth.me()).mfaEnrolmentRequired).toBe(true);
      const refused = await trpcError(caller.user.list({}));
      expect([refused.code, refused.reason]).toEqual(['FORBIDDEN', 'mfa_enrolment_required']);
      expect((await callerFor(services, member.token).session.list()).length).toBeGreaterThan(0);
      const totp = app((await caller.mfa.totpBegin()).uri);
      await caller.mfa.totpConfirm({ code: codeNow(totp) });
      expect((await caller.auth.me()).mfaEnrolmentRequired).toBe(false);
      expect((await caller.user.list({})).items.length).toBe(2);
    });

    it('all: every user must enrol', async () => {
      await restart({ mfaRequired: 'all' });
      const member = await createTestUser(services, { password: PASSWORD });
      expect((await trpcError(callerFor(services, member.token).session.list())).reason).toBe('mfa_enrolment_required');
    });
  });

  describe('admin reset', () => {
    it("removes every factor, ends the user's sessions and is audited", async () => {
      const admin = await createTestUser(services, { role: 'admin', password: PASSWORD });
      const { user } = await enrolled();
      const adminCaller = callerFor(services, admin.token);
      expect((await adminCaller.mfa.statusOf({ id: user.user.id })).totp.enabled).toBe(true);
      clock.advance(MINUTE);
      await adminCaller.auth.reauthenticate({ method: 'password', password: PASSWORD });
      const result = await adminCaller.mfa.reset({ id: user.user.id });
      expect(result).toMatchObject({ removed: { totp: true, passkeys: 0, recoveryCodes: 10 }, revokedSessions: 1 });
      expect(result.user.mfaEnabled).toBe(false);
      expect((await trpcError(callerFor(services, user.token).auth.me())).reason).toBe('unauthenticated');
      expect((await signInStep(user)).result.status).toBe('signed-in');
      expect((await auditRows('mfa.reset')).map((r) => [r.actor_id, r.target_id])).toEqual([
        [admin.user.id, user.user.id],
      ]);
      const memberCaller = callerFor(services, (await createTestUser(services)).token);
      expect((await trpcError(memberCaller.mfa.reset({ id: user.user.id }))).reason).toBe('admin_required');
    });
  });
});
