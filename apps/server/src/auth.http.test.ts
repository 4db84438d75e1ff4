/**
 * auth.* and session.* over real HTTP with the typed client: cookie attributes, bearer tokens,
 * the CSRF Origin check, throttling with Retry-After, revocation on the very next request, and
 * two server instances on one PostgreSQL database (and on one Redis).
 */
import { createGatehouseClient, isGatehouseError, type GatehouseClient } from '@gatehouse/client';
import { ManualClock } from '@gatehouse/api';
import { connectTestRedis, TEST_REDIS_URL, uniqueTestPrefix } from '@gatehouse/api/testing';
import { createTestDatabase, testDialects, type TestDatabase } from '@gatehouse/db/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { startTestServer, type RunningServer } from './testing.js';

const PASSWORD = 'violet tractor umbrella';
const HOUR = 3_600_000;

interface ParsedCookie {
  name: string;
  value: string;
  attributes: Record<string, string | true>;
}

function parseSetCookie(header: string): ParsedCookie {
  const [pair = '', ...rest] = header.split(';').map((s) => s.trim());
  const eq = pair.indexOf('=');
  const attributes: Record<string, string | true> = {};
  for (const part of rest) {
    const i = part.indexOf('=');
    if (i < 0) attributes[part.toLowerCase()] = true;
    else attributes[part.slice(0, i).toLowerCase()] = part.slice(i + 1);
  }
  return { name: pair.slice(0, eq), value: pair.slice(eq + 1), attributes };
}

/**
 * A browser stand-in: keeps the session cookie like a cookie jar, sends an Origin header, and
 * remembers every response so tests can look at status codes and headers.
 */
function browser(url: string, options: { origin?: string | null; cookieName?: string } = {}) {
  const cookieName = options.cookieName ?? 'gatehouse_session';
  const state = { cookie: null as string | null, responses: [] as Response[], setCookies: [] as ParsedCookie[] };
  const client = createGatehouseClient({
    url,
    fetch: async (input, init) => {
      const headers = new Headers(init?.headers);
      if (state.cookie) headers.set('cookie', `${cookieName}=${state.cookie}`);
      if (options.origin !== null) headers.set('origin', options.origin ?? url);
      const res = await fetch(input, { ...init, headers });
      state.responses.push(res);
      for (const header of res.headers.getSetCookie()) {
        const parsed = parseSetCookie(header);
        state.setCookies.push(parsed);
        if (parsed.name !== cookieName) continue;
        const expired = parsed.attributes['max-age'] === '0' || parsed.value === '';
        state.cookie = expired ? null : parsed.value;
      }
      return res;
    },
  });
  return {
    client,
    state,
    lastResponse: () => state.responses.at(-1),
    lastSetCookie: () => state.setCookies.at(-1),
    clearRecords: () => {
      state.responses.length = 0;
      state.setCookies.length = 0;
    },
  };
}

async function gatehouseError(promise: Promise<unknown>) {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  if (!isGatehouseError(error)) throw new Error(`expected a Gatehouse error, got ${String(error)}`);
  return error;
}

const bearer = (server: RunningServer, token: string): GatehouseClient =>
  createGatehouseClient({ url: server.url, token });

describe('auth over HTTP', () => {
  let server: RunningServer;
  let clock: ManualClock;
  const extra: RunningServer[] = [];

  async function start(env: Record<string, string> = {}) {
    clock = new ManualClock('2026-03-01T08:00:00.000Z');
    server = await startTestServer(env, { clock });
    return server;
  }

  afterEach(async () => {
    await server?.stop();
    for (const s of extra.splice(0)) await s.stop();
  });

  it('sets an HttpOnly, SameSite=Lax session cookie on first-user creation and sign-in, Max-Age = remaining life', async () => {
    await start();
    const b = browser(server.url);
    expect(await b.client.auth.setupStatus.query()).toEqual({ needsSetup: true });
    const created = await b.client.auth.createFirstUser.mutate({
      email: 'admin@example.com',
      name: 'Admin',
      password: PASSWORD,
    });
    if (created.status !== 'signed-in') throw new Error('expected signed-in');
    let cookie = b.lastSetCookie();
    expect(cookie).toMatchObject({ name: 'gatehouse_session', value: created.token });
    expect(cookie?.attributes).toMatchObject({
      httponly: true,
      samesite: 'Lax',
      path: '/',
      'max-age': String(24 * 3600),
    });
    expect(cookie?.attributes.secure).toBeUndefined();
    expect(created.expiresAt).toBeInstanceOf(Date);

    const me = await b.client.auth.me.query();
    expect(me.user).toMatchObject({ email: 'admin@example.com', role: 'admin' });
    expect(me.session.current).toBe(true);

    const other = browser(server.url);
    await other.client.auth.signIn.mutate({ identifier: 'ADMIN@example.com', password: PASSWORD, rememberMe: true });
    cookie = other.lastSetCookie();
    expect(cookie?.attributes['max-age']).toBe(String(30 * 24 * 3600));
    expect(other.state.cookie).not.toBe(b.state.cookie);
  });

  it('re-sets the cookie when the session slides, and clears it on sign-out', async () => {
    await start();
    const b = browser(server.url);
    await b.client.auth.createFirstUser.mutate({ email: 'admin@example.com', name: 'Admin', password: PASSWORD });
    b.clearRecords();
    await b.client.auth.me.query();
    expect(b.state.setCookies).toEqual([]);

    clock.advance(13 * HOUR);
    await b.client.auth.me.query();
    const renewed = b.lastSetCookie();
    expect(renewed?.value).toBe(b.state.cookie);
    expect(renewed?.attributes).toMatchObject({
      httponly: true,
      samesite: 'Lax',
      path: '/',
      'max-age': String(24 * 3600),
    });

    const token = b.state.cookie;
    expect(await b.client.auth.signOut.mutate()).toEqual({ ok: true });
    const cleared = b.lastSetCookie();
    expect(cleared?.name).toBe('gatehouse_session');
    expect(
      cleared?.value === '' ||
        cleared?.attributes['max-age'] === '0' ||
        String(cleared?.attributes.expires).includes('1970'),
    ).toBe(true);
    expect(b.state.cookie).toBeNull();
    // The old token is dead, as a cookie or as a bearer token.
    const stale = browser(server.url);
    stale.state.cookie = token;
    expect((await gatehouseError(stale.client.auth.me.query())).data.code).toBe('UNAUTHORIZED');
    expect((await gatehouseError(bearer(server, token ?? '').auth.me.query())).data.code).toBe('UNAUTHORIZED');
  });

  it('names the cookie __Host-gatehouse_session and marks it Secure when PUBLIC_ORIGIN is https', async () => {
    await start({ PUBLIC_ORIGIN: 'https://auth.example.test' });
    const b = browser(server.url, { origin: 'https://auth.example.test', cookieName: '__Host-gatehouse_session' });
    await b.client.auth.createFirstUser.mutate({ email: 'admin@example.com', name: 'Admin', password: PASSWORD });
    const cookie = b.lastSetCookie();
    expect(cookie?.name).toBe('__Host-gatehouse_session');
    expect(cookie?.attributes).toMatchObject({ secure: true, httponly: true, path: '/', samesite: 'Lax' });
    expect(cookie?.attributes.domain).toBeUndefined();
    expect((await b.client.auth.me.query()).user.email).toBe('admin@example.com');
  });

  it('accepts bearer tokens, with no Origin needed', async () => {
    await start();
    const b = browser(server.url);
    const created = await b.client.auth.createFirstUser.mutate({
      email: 'admin@example.com',
      name: 'Admin',
      password: PASSWORD,
    });
    if (created.status !== 'signed-in') throw new Error('expected signed-in');
    const api = bearer(server, created.token);
    expect((await api.auth.me.query()).user.email).toBe('admin@example.com');
    expect(await api.auth.updateProfile.mutate({ name: 'Root' })).toMatchObject({ name: 'Root' });
    expect((await api.session.stats.query()).active).toBe(1);
    expect((await gatehouseError(bearer(server, 'not.a-token').auth.me.query())).data.code).toBe('UNAUTHORIZED');
  });

  it('refuses cookie-authenticated mutations from another or no Origin with 403', async () => {
    await start({ TRUSTED_ORIGINS: 'https://tools.example.com' });
    const b = browser(server.url);
    await b.client.auth.createFirstUser.mutate({ email: 'admin@example.com', name: 'Admin', password: PASSWORD });

    const evil = browser(server.url, { origin: 'https://evil.example.com' });
    evil.state.cookie = b.state.cookie;
    const refused = await gatehouseError(evil.client.auth.updateProfile.mutate({ name: 'Pwned' }));
    expect(refused.data.code).toBe('FORBIDDEN');
    expect(evil.lastResponse()?.status).toBe(403);

    const noOrigin = browser(server.url, { origin: null });
    noOrigin.state.cookie = b.state.cookie;
    expect((await gatehouseError(noOrigin.client.auth.signOut.mutate())).data.code).toBe('FORBIDDEN');
    expect(noOrigin.lastResponse()?.status).toBe(403);
    // Queries are not state-changing: no Origin needed.
    expect((await noOrigin.client.auth.me.query()).user.name).toBe('Admin');

    const trusted = browser(server.url, { origin: 'https://tools.example.com' });
    trusted.state.cookie = b.state.cookie;
    expect(await trusted.client.auth.updateProfile.mutate({ name: 'Tools' })).toMatchObject({ name: 'Tools' });

    // Login CSRF: a foreign page cannot sign a browser in either.
    const foreign = browser(server.url, { origin: 'https://evil.example.com' });
    expect(
      (await gatehouseError(foreign.client.auth.signIn.mutate({ identifier: 'admin@example.com', password: PASSWORD })))
        .data.code,
    ).toBe('FORBIDDEN');
  });

  it('throttles repeated failures with 429, retryAfterSeconds and Retry-After; success resets the account', async () => {
    await start();
    const b = browser(server.url);
    await b.client.auth.createFirstUser.mutate({
      email: 'admin@example.com',
      username: 'root',
      name: 'Admin',
      password: PASSWORD,
    });
    const attacker = browser(server.url);

    for (let i = 0; i < 4; i++) {
      const e = await gatehouseError(
        attacker.client.auth.signIn.mutate({ identifier: 'root', password: `guess ${i}` }),
      );
      expect(e.data.code).toBe('UNAUTHORIZED');
      expect(e.message).toBe('Invalid credentials');
    }
    // A success resets the account's counter…
    await attacker.client.auth.signIn.mutate({ identifier: 'root', password: PASSWORD });
    for (let i = 0; i < 5; i++)
      await gatehouseError(attacker.client.auth.signIn.mutate({ identifier: 'root', password: `guess ${i}` }));

    // …and the sixth failure in a row is throttled, the right password included.
    clock.advance(60_000);
    const throttled = await gatehouseError(
      attacker.client.auth.signIn.mutate({ identifier: 'admin@example.com', password: PASSWORD }),
    );
    expect(throttled.data.code).toBe('TOO_MANY_REQUESTS');
    expect(throttled.data.retryAfterSeconds).toBe(14 * 60);
    expect(attacker.lastResponse()?.status).toBe(429);
    expect(attacker.lastResponse()?.headers.get('retry-after')).toBe(String(14 * 60));

    clock.advance(14 * 60_000);
    const ok = await attacker.client.auth.signIn.mutate({ identifier: 'root', password: PASSWORD });
    expect(ok.status).toBe('signed-in');
  });

  it('a revocation is visible on the very next request', async () => {
    await start();
    const admin = browser(server.url);
    await admin.client.auth.createFirstUser.mutate({ email: 'admin@example.com', name: 'Admin', password: PASSWORD });
    const laptop = browser(server.url);
    await laptop.client.auth.signIn.mutate({ identifier: 'admin@example.com', password: PASSWORD });
    await laptop.client.auth.me.query(); // validated and cached

    const sessions = await admin.client.session.list.query();
    const laptopSession = sessions.find((s) => !s.current);
    expect(await admin.client.session.revoke.mutate({ id: laptopSession?.id ?? '' })).toEqual({ ok: true });
    const e = await gatehouseError(laptop.client.auth.me.query());
    expect(e.data.code).toBe('UNAUTHORIZED');
    // The dead cookie is cleared.
    expect(laptop.state.cookie).toBeNull();

    await laptop.client.auth.signIn.mutate({ identifier: 'admin@example.com', password: PASSWORD });
    await laptop.client.auth.me.query();
    expect(await admin.client.session.revokeOthers.mutate()).toEqual({ revoked: 1 });
    expect((await gatehouseError(laptop.client.auth.me.query())).data.code).toBe('UNAUTHORIZED');
  });

  it('changing the password signs out every other session at once', async () => {
    await start();
    const a = browser(server.url);
    await a.client.auth.createFirstUser.mutate({ email: 'admin@example.com', name: 'Admin', password: PASSWORD });
    const phone = browser(server.url);
    await phone.client.auth.signIn.mutate({ identifier: 'admin@example.com', password: PASSWORD });
    await phone.client.auth.me.query();
    expect(
      await a.client.auth.changePassword.mutate({ currentPassword: PASSWORD, newPassword: 'a brand new passphrase' }),
    ).toEqual({
      ok: true,
      revokedSessions: 1,
    });
    expect((await gatehouseError(phone.client.auth.me.query())).data.code).toBe('UNAUTHORIZED');
    expect((await a.client.auth.me.query()).user.email).toBe('admin@example.com');
    const wrong = await gatehouseError(
      a.client.auth.changePassword.mutate({ currentPassword: 'nope nope nope', newPassword: 'x'.repeat(3) }),
    );
    expect(wrong.data.code).toBe('BAD_REQUEST');
    expect(wrong.data.zodError?.fieldErrors.newPassword).toBeDefined();
  });

  it('sign-up is closed by default and open with ALLOW_SIGNUP=true', async () => {
    await start();
    expect(
      (
        await gatehouseError(
          browser(server.url).client.auth.signUp.mutate({ email: 'm@example.com', name: 'M', password: PASSWORD }),
        )
      ).data.code,
    ).toBe('FORBIDDEN');
    await server.stop();
    await start({ ALLOW_SIGNUP: 'true' });
    const b = browser(server.url);
    const result = await b.client.auth.signUp.mutate({ email: 'm@example.com', name: 'M', password: PASSWORD });
    expect(result.status).toBe('signed-in');
    expect(b.state.cookie).not.toBeNull();
    expect((await b.client.auth.me.query()).user.role).toBe('member');
    const taken = await gatehouseError(
      browser(server.url).client.auth.signUp.mutate({ email: 'M@example.com', name: 'M', password: PASSWORD }),
    );
    expect(taken.data.code).toBe('CONFLICT');
    expect(taken.data.field).toBe('email');
  });
});

describe.runIf(testDialects.includes('postgres'))('two server instances on one PostgreSQL database', () => {
  const servers: RunningServer[] = [];
  let database: TestDatabase | null = null;

  afterEach(async () => {
    for (const s of servers.splice(0)) await s.stop();
    await database?.drop();
    database = null;
  });

  async function pair(env: Record<string, string> = {}) {
    database = await createTestDatabase('postgres');
    const a = await startTestServer({ DATABASE_URL: database.url, ...env });
    servers.push(a);
    // Both instances serve the same dashboard origin (behind one load balancer).
    const b = await startTestServer({ DATABASE_URL: database.url, PUBLIC_ORIGIN: a.url, ...env });
    servers.push(b);
    return { a, b };
  }

  async function revokeOnAThenRejectedOnB(a: RunningServer, b: RunningServer) {
    const admin = browser(a.url);
    const created = await admin.client.auth.createFirstUser.mutate({
      email: 'admin@example.com',
      name: 'Admin',
      password: PASSWORD,
    });
    if (created.status !== 'signed-in') throw new Error('expected signed-in');
    const signedIn = await browser(a.url).client.auth.signIn.mutate({
      identifier: 'admin@example.com',
      password: PASSWORD,
    });
    if (signedIn.status !== 'signed-in') throw new Error('expected signed-in');
    const onB = bearer(b, signedIn.token);
    // B validates (and caches) the session.
    expect((await onB.auth.me.query()).user.email).toBe('admin@example.com');
    expect((await onB.auth.me.query()).session.current).toBe(true);

    const target = (await admin.client.session.list.query()).find((s) => !s.current);
    const revokedAt = Date.now();
    await admin.client.session.revoke.mutate({ id: target?.id ?? '' });
    let rejectedAfter: number | null = null;
    while (Date.now() - revokedAt < 1000) {
      const outcome = await onB.auth.me.query().then(
        () => 'ok',
        (e: unknown) => (isGatehouseError(e, 'UNAUTHORIZED') ? 'rejected' : 'error'),
      );
      if (outcome === 'rejected') {
        rejectedAfter = Date.now() - revokedAt;
        break;
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(rejectedAfter).not.toBeNull();
    expect(rejectedAfter ?? Infinity).toBeLessThan(1000);
    // And a sign-in on B is valid on A.
    const fromB = await browser(b.url, { origin: a.url }).client.auth.signIn.mutate({
      identifier: 'admin@example.com',
      password: PASSWORD,
    });
    if (fromB.status !== 'signed-in') throw new Error('expected signed-in');
    expect((await bearer(a, fromB.token).auth.me.query()).user.email).toBe('admin@example.com');
  }

  it('a revoke on instance A rejects the token on instance B within one second (LISTEN/NOTIFY)', async () => {
    const { a, b } = await pair();
    await revokeOnAThenRejectedOnB(a, b);
  });

  it('the same through Redis pub/sub when REDIS_URL is set, with throttling shared', async (ctx) => {
    const redis = await connectTestRedis();
    if (!redis) return ctx.skip();
    try {
      const { a, b } = await pair({ REDIS_URL: TEST_REDIS_URL });
      await revokeOnAThenRejectedOnB(a, b);
      // Failures on A and on B count against one shared account counter.
      const email = `${uniqueTestPrefix('acct').replace(/[^a-z0-9]/gi, '')}@example.com`;
      for (let i = 0; i < 5; i++) {
        const target = i % 2 === 0 ? a : b;
        await gatehouseError(
          browser(target.url, { origin: a.url }).client.auth.signIn.mutate({
            identifier: email,
            password: 'wrong wrong',
          }),
        );
      }
      const throttled = await gatehouseError(
        browser(b.url, { origin: a.url }).client.auth.signIn.mutate({ identifier: email, password: 'wrong wrong' }),
      );
      expect(throttled.data.code).toBe('TOO_MANY_REQUESTS');
    } finally {
      // These failures from 127.0.0.1 must not count against later runs on this machine.
      await redis.del('gatehouse:throttle:i:127.0.0.1');
      await redis.quit();
    }
  });
});
