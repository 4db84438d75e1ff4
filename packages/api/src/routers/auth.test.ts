import { hashSync as bcryptHashSync } from '@node-rs/bcrypt';
import { withTransaction, type Db } from '@gatehouse/db';
import { createMigratedTestDb, testDialects } from '@gatehouse/db/testing';
import type { TRPCError } from '@trpc/server';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OWASP_ARGON2ID } from '../auth/passwords.js';
import { ManualClock } from '../clock.js';
import type { ApiConfig } from '../config.js';
import { createContext, recordingResponse, type RequestInfo } from '../context.js';
import { DomainError } from '../errors.js';
import { createCaller } from '../root.js';
import type { Services } from '../services.js';
import { newUserRow } from '../users/mapping.js';
import { insertUser } from '../users/repository.js';
import { callerFor, createTestServices, createTestUser, trpcError, type TestServicesOverrides } from '../testing.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const ORIGIN = 'http://localhost:3000';
const PASSWORD = 'violet tractor umbrella';

function details(error: TRPCError): Record<string, string | number> {
  return error.cause instanceof DomainError ? { ...error.cause.details } : {};
}

describe.each(testDialects)('auth router on %s', (dialect) => {
  let db: Db;
  let cleanup: () => Promise<void>;
  let clock: ManualClock;
  let services: Services;

  const browser: Partial<RequestInfo> = { ip: '203.0.113.7', userAgent: 'Browser/1.0', origin: ORIGIN };

  /** A browser caller: cookie transport (when a token is given) and an allowed Origin. */
  function browserCaller(token: string | null = null, req: Partial<RequestInfo> = {}) {
    const res = recordingResponse();
    const caller = createCaller(
      createContext(services, { ...browser, ...(token ? { token, tokenSource: 'cookie' as const } : {}), ...req }, res),
    );
    return { caller, res };
  }

  async function restart(overrides: TestServicesOverrides = {}) {
    await services.close();
    services = await createTestServices(db, { clock, ...overrides });
  }

  async function withConfig(config: Partial<ApiConfig>) {
    await restart({ config });
  }

  async function auditRows(type?: string) {
    let q = db.kysely
      .selectFrom('audit_events')
      .select(['seq', 'type', 'actor_id', 'target_id', 'ip', 'user_agent', 'data'])
      .orderBy('seq');
    if (type) q = q.where('type', '=', type);
    const rows = await q.execute();
    return rows.map((r) => ({ ...r, data: JSON.parse(r.data) as Record<string, unknown> }));
  }

  async function userRow(email: string) {
    return db.kysely.selectFrom('users').selectAll().where('email', '=', email).executeTakeFirstOrThrow();
  }

  beforeEach(async () => {
    ({ db, cleanup } = await createMigratedTestDb(dialect));
    clock = new ManualClock('2026-04-01T09:00:00.000Z');
    services = await createTestServices(db, { clock });
  });
  afterEach(async () => {
    await services.close();
    await cleanup();
  });

  describe('first run', () => {
    it('creates the first admin, signs them in with a cookie, then closes setup', async () => {
      const { caller, res } = browserCaller();
      expect(await caller.auth.setupStatus()).toEqual({ needsSetup: true });
      const result = await caller.auth.createFirstUser({
        email: 'Ada@Example.com',
        username: 'ada',
        name: 'Ada',
        password: PASSWORD,
      });
      if (result.status !== 'signed-in') throw new Error('expected signed-in');
      expect(result.user).toMatchObject({
        email: 'ada@example.com',
        username: 'ada',
        role: 'admin',
        isActive: true,
        mfaEnabled: false,
      });
      expect(result.expiresAt).toEqual(new Date(clock.now().getTime() + DAY));
      expect(res.cookie).toEqual({ token: result.token, expiresAt: result.expiresAt });
      expect(await caller.auth.setupStatus()).toEqual({ needsSetup: false });

      const me = await callerFor(services, result.token).auth.me();
      expect(me.user.id).toBe(result.user.id);

      const setup = await auditRows('auth.setup');
      expect(setup).toHaveLength(1);
      expect(setup[0]).toMatchObject({
        actor_id: result.user.id,
        target_id: result.user.id,
        ip: '203.0.113.7',
        user_agent: 'Browser/1.0',
      });
      expect(JSON.stringify(setup[0]?.data)).not.toContain(PASSWORD);

      const again = await trpcError(
        caller.auth.createFirstUser({ email: 'eve@example.com', name: 'Eve', password: PASSWORD }),
      );
      expect(again.code).toBe('PRECONDITION_FAILED');
      expect(again.reason).toBe('already_set_up');
    });

    it('is race-safe: two concurrent calls give one admin and one PRECONDITION_FAILED', async () => {
      const a = browserCaller().caller;
      const b = browserCaller().caller;
      const results = await Promise.allSettled([
        a.auth.createFirstUser({ email: 'one@example.com', name: 'One', password: PASSWORD }),
        b.auth.createFirstUser({ email: 'two@example.com', name: 'Two', password: PASSWORD }),
      ]);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      const rejected = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(rejected).toHaveLength(1);
      expect((rejected[0]?.reason as TRPCError).code).toBe('PRECONDITION_FAILED');
      const users = await db.kysely.selectFrom('users').select(['role']).execute();
      expect(users).toEqual([{ role: 'admin' }]);
      expect(await auditRows('auth.setup')).toHaveLength(1);
    });

    it('applies the password policy and input validation', async () => {
      const { caller } = browserCaller();
      const common = await trpcError(
        caller.auth.createFirstUser({ email: 'a@example.com', name: 'A', password: 'password123' }),
      );
      expect(common.code).toBe('BAD_REQUEST');
      expect(common.reason).toBe('weak_password');
      expect(details(common)).toEqual({ field: 'password' });
      const own = await trpcError(
        caller.auth.createFirstUser({ email: 'ada.l@example.com', name: 'A', password: 'ada.l@example.com' }),
      );
      expect(own.reason).toBe('weak_password');
      const short = await trpcError(
        caller.auth.createFirstUser({ email: 'a@example.com', name: 'A', password: 'short' }),
      );
      expect(short.code).toBe('BAD_REQUEST');
      expect(short.reason).toBe('validation_failed');
      const badEmail = await trpcError(caller.auth.createFirstUser({ email: 'nope', name: 'A', password: PASSWORD }));
      expect(badEmail.code).toBe('BAD_REQUEST');
      expect(await caller.auth.setupStatus()).toEqual({ needsSetup: true });
    });
  });

  describe('sign-up', () => {
    it('is FORBIDDEN unless ALLOW_SIGNUP is true', async () => {
      const error = await trpcError(
        browserCaller().caller.auth.signUp({ email: 'm@example.com', name: 'M', password: PASSWORD }),
      );
      expect(error.code).toBe('FORBIDDEN');
      expect(error.reason).toBe('signup_closed');
      expect(await db.kysely.selectFrom('users').select('id').execute()).toHaveLength(0);
    });

    it('creates a signed-in member when open; CONFLICT when the email or username is taken', async () => {
      await withConfig({ allowSignup: true });
      const { caller, res } = browserCaller();
      const result = await caller.auth.signUp({
        email: 'm@example.com',
        username: 'mem',
        name: 'M',
        password: PASSWORD,
      });
      if (result.status !== 'signed-in') throw new Error('expected signed-in');
      expect(result.user.role).toBe('member');
      expect(res.cookie).toEqual({ token: result.token, expiresAt: result.expiresAt });
      expect(await auditRows('auth.sign_up')).toMatchObject([{ actor_id: result.user.id, target_id: result.user.id }]);

      const email = await trpcError(caller.auth.signUp({ email: 'M@example.com', name: 'X', password: PASSWORD }));
      expect(email.code).toBe('CONFLICT');
      expect(email.reason).toBe('email_taken');
      expect(details(email)).toEqual({ field: 'email' });
      const username = await trpcError(
        caller.auth.signUp({ email: 'x@example.com', username: 'MEM', name: 'X', password: PASSWORD }),
      );
      expect(username.code).toBe('CONFLICT');
      expect(username.reason).toBe('username_taken');
      expect(details(username)).toEqual({ field: 'username' });
      expect(await auditRows('auth.sign_up')).toHaveLength(1);
    });
  });

  describe('sign-in', () => {
    beforeEach(async () => {
      await createTestUser(services, {
        email: 'ada@example.com',
        username: 'ada',
        password: PASSWORD,
        withSession: false,
      });
    });

    it('accepts the email or the username, in any case, and sets the cookie', async () => {
      for (const identifier of ['ada@example.com', 'ADA@Example.COM', 'ada', 'Ada']) {
        const { caller, res } = browserCaller();
        const result = await caller.auth.signIn({ identifier, password: PASSWORD });
        if (result.status !== 'signed-in') throw new Error('expected signed-in');
        expect(result.user.email).toBe('ada@example.com');
        expect(result.user.lastSignInAt).toEqual(clock.now());
        expect(res.cookie).toEqual({ token: result.token, expiresAt: result.expiresAt });
      }
      const signIns = await auditRows('auth.sign_in');
      expect(signIns).toHaveLength(4);
      expect(signIns[0]).toMatchObject({ ip: '203.0.113.7', user_agent: 'Browser/1.0', data: { rememberMe: false } });
    });

    it('opens a new session on every sign-in (no fixation), 30 days with rememberMe', async () => {
      const first = await browserCaller().caller.auth.signIn({ identifier: 'ada', password: PASSWORD });
      const second = await browserCaller().caller.auth.signIn({
        identifier: 'ada',
        password: PASSWORD,
        rememberMe: true,
      });
      if (first.status !== 'signed-in' || second.status !== 'signed-in') throw new Error('expected signed-in');
      expect(first.token).not.toBe(second.token);
      expect(first.expiresAt).toEqual(new Date(clock.now().getTime() + DAY));
      expect(second.expiresAt).toEqual(new Date(clock.now().getTime() + 30 * DAY));
      const me = await callerFor(services, second.token).auth.me();
      expect(me.session).toMatchObject({
        rememberMe: true,
        current: true,
        ip: '203.0.113.7',
        userAgent: 'Browser/1.0',
      });
    });

    it('answers every failure with the same UNAUTHORIZED invalid_credentials', async () => {
      await createTestUser(services, { email: 'gone@example.com', password: PASSWORD, isActive: false });
      const { caller } = browserCaller();
      const failures = [
        await trpcError(caller.auth.signIn({ identifier: 'ada', password: 'wrong password!' })),
        await trpcError(caller.auth.signIn({ identifier: 'nobody@example.com', password: PASSWORD })),
        await trpcError(caller.auth.signIn({ identifier: 'gone@example.com', password: PASSWORD })),
      ];
      for (const f of failures) {
        expect(f.code).toBe('UNAUTHORIZED');
        expect(f.reason).toBe('invalid_credentials');
      }
      const failed = await auditRows('auth.sign_in_failed');
      expect(failed.map((r) => r.data.reason)).toEqual(['wrong_password', 'unknown_identifier', 'inactive']);
      for (const row of failed) expect(JSON.stringify(row)).not.toContain('wrong password!');
    });

    it('costs the same time for an unknown identifier as for a wrong password (dummy hash)', async () => {
      await restart({ argon2: OWASP_ARGON2ID, throttle: { accountIpLimit: 1000, accountLimit: 1000, ipLimit: 1000 } });
      await createTestUser(services, { email: 'timed@example.com', password: PASSWORD, withSession: false });
      const verified: string[] = [];
      const verify = services.passwords.verify.bind(services.passwords);
      (services.passwords as { verify: typeof verify }).verify = async (hash, password) => {
        verified.push(hash);
        return verify(hash, password);
      };
      const caller = browserCaller().caller;
      const time = async (identifier: string) => {
        const start = performance.now();
        await caller.auth.signIn({ identifier, password: 'not the password' }).catch(() => {});
        return performance.now() - start;
      };
      const known: number[] = [];
      const unknown: number[] = [];
      for (let i = 0; i < 7; i++) {
        known.push(await time('timed@example.com'));
        unknown.push(await time(`ghost${i}@example.com`));
      }
      // The same work: every attempt verified one Argon2id hash with the production parameters.
      expect(verified).toHaveLength(14);
      for (const hash of verified) expect(hash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
      // And so the same time. The fastest of several runs is the least disturbed by other load on
      // the machine; without the dummy hash an unknown identifier would answer ~50x faster.
      const ratio = Math.min(...unknown) / Math.min(...known);
      expect(Math.min(...known)).toBeGreaterThan(5);
      expect(ratio).toBeGreaterThan(0.5);
      expect(ratio).toBeLessThan(2);
    });

    it('upgrades an imported bcrypt hash to Argon2id on the next successful sign-in', async () => {
      const imported = bcryptHashSync('legacy secret pass', 4).replace(/^\$2b\$/, '$2y$');
      await withTransaction(db, (trx) =>
        insertUser(
          trx,
          newUserRow({
            email: 'legacy@example.com',
            username: null,
            name: 'Legacy',
            role: 'member',
            passwordHash: imported,
            now: clock.now(),
          }),
        ),
      );
      await trpcError(browserCaller().caller.auth.signIn({ identifier: 'legacy@example.com', password: 'wrong one' }));
      expect((await userRow('legacy@example.com')).password_hash).toBe(imported);
      const ok = await browserCaller().caller.auth.signIn({
        identifier: 'legacy@example.com',
        password: 'legacy secret pass',
      });
      expect(ok.status).toBe('signed-in');
      const upgraded = (await userRow('legacy@example.com')).password_hash;
      expect(upgraded).toMatch(/^\$argon2id\$/);
      expect((await auditRows('auth.sign_in')).at(-1)?.data).toMatchObject({ passwordHashUpgraded: true });
      expect(
        (await browserCaller().caller.auth.signIn({ identifier: 'legacy@example.com', password: 'legacy secret pass' }))
          .status,
      ).toBe('signed-in');
    });

    it('throttles an account after 5 failures with retryAfterSeconds, until the window ends', async () => {
      const { caller } = browserCaller();
      for (let i = 0; i < 5; i++) {
        expect((await trpcError(caller.auth.signIn({ identifier: 'ada', password: `wrong ${i}` }))).code).toBe(
          'UNAUTHORIZED',
        );
        clock.advance(1000);
      }
      // Even the right password is refused now, and by email too: the account is what counts.
      const throttled = await trpcError(caller.auth.signIn({ identifier: 'ada@example.com', password: PASSWORD }));
      expect(throttled.code).toBe('TOO_MANY_REQUESTS');
      expect(throttled.reason).toBe('throttled');
      expect(details(throttled)).toEqual({ retryAfterSeconds: 15 * 60 - 5 });
      const events = await auditRows('auth.throttled');
      expect(events).toHaveLength(1);
      expect(events[0]?.data).toEqual({ scope: 'account_ip', retryAfterSeconds: 15 * 60 - 5 });

      clock.advance((15 * 60 - 5) * 1000);
      expect((await caller.auth.signIn({ identifier: 'ada', password: PASSWORD })).status).toBe('signed-in');
    });

    it('does not let an attacker lock the owner out from another address', async () => {
      const attacker = browserCaller(null, { ip: '198.51.100.66' }).caller;
      for (let i = 0; i < 5; i++) await trpcError(attacker.auth.signIn({ identifier: 'ada', password: `guess ${i}` }));
      expect((await trpcError(attacker.auth.signIn({ identifier: 'ada', password: PASSWORD }))).code).toBe(
        'TOO_MANY_REQUESTS',
      );
      expect((await browserCaller().caller.auth.signIn({ identifier: 'ada', password: PASSWORD })).status).toBe(
        'signed-in',
      );
    });

    it('throttles an account attacked from many addresses', async () => {
      for (let i = 0; i < 20; i++) {
        await trpcError(
          browserCaller(null, { ip: `198.51.100.${i + 1}` }).caller.auth.signIn({
            identifier: 'ada',
            password: 'guess guess',
          }),
        );
      }
      const error = await trpcError(browserCaller().caller.auth.signIn({ identifier: 'ada', password: PASSWORD }));
      expect(error.code).toBe('TOO_MANY_REQUESTS');
      expect((await auditRows('auth.throttled'))[0]?.data).toMatchObject({ scope: 'account' });
    });

    it('a burst of concurrent guesses gets no more than the limit of password checks', async () => {
      const { caller } = browserCaller();
      const results = await Promise.allSettled(
        Array.from({ length: 20 }, (_, i) => caller.auth.signIn({ identifier: 'ada', password: `burst ${i}` })),
      );
      const codes = results.map((r) => (r.status === 'rejected' ? (r.reason as TRPCError).code : 'OK'));
      expect(codes.filter((c) => c === 'UNAUTHORIZED')).toHaveLength(5);
      expect(codes.filter((c) => c === 'TOO_MANY_REQUESTS')).toHaveLength(15);
      expect(await auditRows('auth.sign_in_failed')).toHaveLength(5);
    });

    it('a success resets the account counter', async () => {
      const { caller } = browserCaller();
      for (let round = 0; round < 3; round++) {
        for (let i = 0; i < 4; i++) await trpcError(caller.auth.signIn({ identifier: 'ada', password: 'nope nope' }));
        expect((await caller.auth.signIn({ identifier: 'ada', password: PASSWORD })).status).toBe('signed-in');
      }
    });

    it('throttles an IP address guessing across many accounts', async () => {
      await restart({ throttle: { ipLimit: 3 } });
      const { caller } = browserCaller();
      for (let i = 0; i < 3; i++)
        await trpcError(caller.auth.signIn({ identifier: `victim${i}@example.com`, password: 'guess guess' }));
      const error = await trpcError(caller.auth.signIn({ identifier: 'ada', password: PASSWORD }));
      expect(error.code).toBe('TOO_MANY_REQUESTS');
      expect((await auditRows('auth.throttled'))[0]?.data).toMatchObject({ scope: 'ip' });
      // Another address is not affected.
      expect(
        (
          await browserCaller(null, { ip: '198.51.100.1' }).caller.auth.signIn({
            identifier: 'ada',
            password: PASSWORD,
          })
        ).status,
      ).toBe('signed-in');
    });
  });

  describe('signed in', () => {
    let token: string;
    let userId: string;

    beforeEach(async () => {
      const created = await createTestUser(services, {
        email: 'ada@example.com',
        username: 'ada',
        name: 'Ada',
        password: PASSWORD,
      });
      token = created.token as string;
      userId = created.user.id;
    });

    it('auth.me returns the user and the current session; UNAUTHORIZED without a session', async () => {
      const me = await browserCaller(token).caller.auth.me();
      expect(me.user).toMatchObject({ id: userId, email: 'ada@example.com', name: 'Ada' });
      expect(me.session.current).toBe(true);
      expect(JSON.stringify(me)).not.toMatch(/password|secret/i);
      expect((await trpcError(browserCaller().caller.auth.me())).code).toBe('UNAUTHORIZED');
    });

    it('auth.me answers from the validated session, with exact types, and sees a newer sign-in at once', async () => {
      const first = await browserCaller(token).caller.auth.me();
      // Served twice (the second from the session cache): the same user, booleans as booleans.
      expect(await browserCaller(token).caller.auth.me()).toEqual(first);
      expect(first.user.isActive).toBe(true);
      expect(first.user.mfaEnabled).toBe(false);
      expect(first.user.createdAt).toBeInstanceOf(Date);

      clock.advance(60_000);
      const again = await browserCaller().caller.auth.signIn({ identifier: 'ada', password: PASSWORD });
      if (again.status !== 'signed-in') throw new Error('expected signed-in');
      const after = await browserCaller(token).caller.auth.me();
      expect(after.user.lastSignInAt).toEqual(clock.now());
      expect(after.session.id).toBe(first.session.id);
    });

    it('re-sets the cookie when the session is renewed', async () => {
      const fresh = browserCaller(token);
      await fresh.caller.auth.me();
      expect(fresh.res.cookie).toBeNull();
      clock.advance(13 * HOUR);
      const renewing = browserCaller(token);
      const me = await renewing.caller.auth.me();
      expect(renewing.res.cookie).toEqual({ token, expiresAt: new Date(clock.now().getTime() + DAY) });
      expect(me.session.expiresAt).toEqual(new Date(clock.now().getTime() + DAY));
    });

    it('clears the cookie of a dead session', async () => {
      clock.advance(DAY);
      const { caller, res } = browserCaller(token);
      expect((await trpcError(caller.auth.me())).code).toBe('UNAUTHORIZED');
      expect(res.cookie).toBe('cleared');
    });

    it('signs out: the session is deleted, the cookie cleared, the token dead at once', async () => {
      const { caller, res } = browserCaller(token);
      expect(await caller.auth.signOut()).toEqual({ ok: true });
      expect(res.cookie).toBe('cleared');
      expect((await trpcError(browserCaller(token).caller.auth.me())).code).toBe('UNAUTHORIZED');
      expect(await db.kysely.selectFrom('sessions').select('id').execute()).toHaveLength(0);
      expect(await auditRows('auth.sign_out')).toMatchObject([{ actor_id: userId, target_id: userId }]);
    });

    it('refuses cookie mutations without an allowed Origin (CSRF); bearer calls are exempt', async () => {
      const noOrigin = await trpcError(browserCaller(token, { origin: null }).caller.auth.signOut());
      expect(noOrigin.code).toBe('FORBIDDEN');
      expect(noOrigin.reason).toBe('cross_origin');
      const evil = await trpcError(browserCaller(token, { origin: 'https://evil.example' }).caller.auth.signOut());
      expect(evil.code).toBe('FORBIDDEN');
      const loginCsrf = await trpcError(
        browserCaller(null, { origin: 'https://evil.example' }).caller.auth.signIn({
          identifier: 'ada',
          password: PASSWORD,
        }),
      );
      expect(loginCsrf.code).toBe('FORBIDDEN');
      expect(loginCsrf.reason).toBe('cross_origin');
      // Queries need no Origin; the session survived the refused mutations.
      expect((await browserCaller(token, { origin: null }).caller.auth.me()).user.id).toBe(userId);
      await withConfig({ trustedOrigins: ['https://admin.example'] });
      expect(
        await browserCaller(token, { origin: 'https://admin.example' }).caller.auth.updateProfile({ name: 'Ada L.' }),
      ).toMatchObject({ name: 'Ada L.' });
      expect(await callerFor(services, token, { origin: null }).auth.signOut()).toEqual({ ok: true });
    });

    it('changes the password: needs the current one, applies the policy, revokes the other sessions', async () => {
      const other = await browserCaller().caller.auth.signIn({ identifier: 'ada', password: PASSWORD });
      if (other.status !== 'signed-in') throw new Error('expected signed-in');
      const { caller } = browserCaller(token);

      const wrong = await trpcError(
        caller.auth.changePassword({ currentPassword: 'not it at all', newPassword: 'another fine password' }),
      );
      expect(wrong.code).toBe('BAD_REQUEST');
      expect(wrong.reason).toBe('wrong_password');
      expect(details(wrong)).toEqual({ field: 'currentPassword' });
      // Guessing the current password through a session leaves a trace, one event per attempt.
      const sessionId = (await caller.auth.me()).session.id;
      expect(await auditRows('auth.password_change_failed')).toMatchObject([
        { actor_id: userId, target_id: userId, ip: '203.0.113.7', user_agent: 'Browser/1.0', data: { sessionId } },
      ]);
      expect(JSON.stringify(await auditRows('auth.password_change_failed'))).not.toContain('not it at all');
      const weak = await trpcError(
        caller.auth.changePassword({ currentPassword: PASSWORD, newPassword: 'iloveyou123' }),
      );
      expect(weak.reason).toBe('weak_password');
      expect(details(weak)).toEqual({ field: 'newPassword' });
      const unchanged = await trpcError(
        caller.auth.changePassword({ currentPassword: PASSWORD, newPassword: PASSWORD }),
      );
      expect(unchanged.reason).toBe('password_unchanged');

      expect(
        await caller.auth.changePassword({ currentPassword: PASSWORD, newPassword: 'another fine password' }),
      ).toEqual({
        ok: true,
        revokedSessions: 1,
      });
      expect((await trpcError(callerFor(services, other.token).auth.me())).code).toBe('UNAUTHORIZED');
      expect((await browserCaller(token).caller.auth.me()).user.id).toBe(userId);
      expect(
        (await trpcError(browserCaller().caller.auth.signIn({ identifier: 'ada', password: PASSWORD }))).code,
      ).toBe('UNAUTHORIZED');
      expect(
        (await browserCaller().caller.auth.signIn({ identifier: 'ada', password: 'another fine password' })).status,
      ).toBe('signed-in');
      const changed = await auditRows('auth.password_changed');
      expect(changed).toMatchObject([{ actor_id: userId, target_id: userId, data: { revokedSessions: 1 } }]);
      expect(JSON.stringify(changed)).not.toContain('another fine password');
    });

    it('throttles email and username changes, so a member cannot probe which ones exist', async () => {
      for (let i = 0; i < 8; i++) await createTestUser(services, { email: `taken${i}@example.com` });
      const { caller } = browserCaller(token);
      for (let i = 0; i < services.throttle.options.accountIpLimit; i++) {
        expect((await trpcError(caller.auth.updateProfile({ email: `taken${i}@example.com` }))).reason).toBe(
          'email_taken',
        );
      }
      const refused = await trpcError(caller.auth.updateProfile({ email: 'taken7@example.com' }));
      expect(refused).toMatchObject({ code: 'TOO_MANY_REQUESTS', reason: 'throttled' });
      const throttled = await auditRows('auth.throttled');
      expect(throttled.at(-1)?.data).toMatchObject({ operation: 'update_profile' });
      // A name change reveals nothing and is never throttled.
      expect(await caller.auth.updateProfile({ name: 'Ada Still' })).toMatchObject({ name: 'Ada Still' });
    });

    it('updates the profile; CONFLICT when the email or username is taken; me sees it at once', async () => {
      await createTestUser(services, { email: 'grace@example.com', username: 'grace' });
      const { caller } = browserCaller(token);
      await caller.auth.me(); // cached
      const updated = await caller.auth.updateProfile({
        name: 'Ada King',
        email: 'ADA.KING@example.com',
        username: null,
      });
      expect(updated).toMatchObject({ name: 'Ada King', email: 'ada.king@example.com', username: null });
      expect((await browserCaller(token).caller.auth.me()).user).toMatchObject({
        name: 'Ada King',
        email: 'ada.king@example.com',
      });
      const validated = await services.sessions.validate(token);
      expect(validated?.user.name).toBe('Ada King');

      const email = await trpcError(caller.auth.updateProfile({ email: 'grace@example.com' }));
      expect(email.code).toBe('CONFLICT');
      expect(email.reason).toBe('email_taken');
      expect(details(email)).toEqual({ field: 'email' });
      const username = await trpcError(caller.auth.updateProfile({ username: 'Grace' }));
      expect(username.code).toBe('CONFLICT');
      expect(username.reason).toBe('username_taken');

      const events = await auditRows('auth.profile_updated');
      expect(events).toHaveLength(1);
      expect(events[0]?.data).toEqual({
        changes: {
          name: { before: 'Ada', after: 'Ada King' },
          email: { before: 'ada@example.com', after: 'ada.king@example.com' },
          username: { before: 'ada', after: null },
        },
      });
      // Nothing changed, nothing recorded.
      await caller.auth.updateProfile({ name: 'Ada King' });
      expect(await auditRows('auth.profile_updated')).toHaveLength(1);
    });

    it('writes each change and its audit event in one transaction (a failed append undoes the change)', async () => {
      const broken = services.audit as unknown as { append: (...args: unknown[]) => Promise<never> };
      broken.append = async () => {
        throw new Error('audit unavailable');
      };
      const { caller } = browserCaller(token);
      expect((await trpcError(caller.auth.updateProfile({ name: 'Changed' }))).code).toBe('INTERNAL_SERVER_ERROR');
      expect((await userRow('ada@example.com')).name).toBe('Ada');
      await trpcError(caller.auth.changePassword({ currentPassword: PASSWORD, newPassword: 'another fine password' }));
      expect(await services.passwords.verify((await userRow('ada@example.com')).password_hash, PASSWORD)).toBe(true);
      await trpcError(caller.auth.signOut());
      expect(await db.kysely.selectFrom('sessions').select('id').execute()).toHaveLength(1);
      await trpcError(browserCaller().caller.auth.signIn({ identifier: 'ada', password: PASSWORD }));
      expect(await db.kysely.selectFrom('sessions').select('id').execute()).toHaveLength(1);
    });
  });
});

describe.runIf(testDialects.includes('postgres'))('auth.createFirstUser across instances on PostgreSQL', () => {
  it('is race-safe on two database handles too (two instances)', async () => {
    const clock = new ManualClock();
    const { test, db: dbA, cleanup: dropAll } = await createMigratedTestDb('postgres');
    const dbB = test.open();
    const a = await createTestServices(dbA, { clock });
    const b = await createTestServices(dbB, { clock });
    try {
      const results = await Promise.allSettled([
        callerFor(a, null).auth.createFirstUser({ email: 'one@example.com', name: 'One', password: PASSWORD }),
        callerFor(b, null).auth.createFirstUser({ email: 'two@example.com', name: 'Two', password: PASSWORD }),
      ]);
      expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
      expect(await dbA.kysely.selectFrom('users').select('id').execute()).toHaveLength(1);
    } finally {
      await a.close();
      await b.close();
      await dbB.close();
      await dropAll();
    }
  });
});
