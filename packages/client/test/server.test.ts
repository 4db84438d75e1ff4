/**
 * The client against a real Gatehouse server over HTTP (port 0, fresh SQLite): bearer mode,
 * browser (cookie) mode, typed errors, batching and the SSE subscription.
 */
import { EventSource } from 'eventsource';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
// The server is a test-only dependency reached by path: a package dependency would make the
// workspace graph cyclic (the server's own tests use this client).
import { startTestServer, type RunningServer } from '../../../apps/server/src/testing.js';
import {
  createGatehouseClient,
  isGatehouseError,
  type AuditEvent,
  type GatehouseClient,
  type GatehouseFetch,
} from '../src/index.js';

const ADMIN = { email: 'ada@example.com', name: 'Ada Admin', password: 'analytical engine 1843' };
const MEMBER = { email: 'bob@example.com', name: 'Bob Member', password: 'difference engine 1822' };

let server: RunningServer;
let adminToken: string;
let admin: GatehouseClient;

/** Catches what a promise rejects with (and fails when it resolves). */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to fail');
}

/** Promise.withResolvers, which Node 20 lacks. */
function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (reason: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

function urlOf(input: string | URL | Request): string {
  return typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
}

/** What a browser does for the client: keeps the cookie jar and sends the page's Origin. */
function browserFetch(origin: string | null) {
  const jar = new Map<string, string>();
  const requests: { url: string; credentials: RequestCredentials | undefined }[] = [];
  const fetchImpl: GatehouseFetch = async (input, init) => {
    requests.push({ url: urlOf(input), credentials: init?.credentials });
    const headers = new Headers(init?.headers);
    if (jar.size > 0) headers.set('cookie', [...jar].map(([k, v]) => `${k}=${v}`).join('; '));
    if (origin && init?.method === 'POST') headers.set('origin', origin);
    const response = await fetch(input, { ...init, headers });
    for (const line of response.headers.getSetCookie()) {
      const [pair = '', ...attributes] = line.split(';');
      const [name = '', value = ''] = pair.split('=');
      const expired = attributes.some((a) => /^\s*max-age=0\s*$/i.test(a) || /^\s*expires=thu, 01 jan 1970/i.test(a));
      if (expired || value === '') jar.delete(name.trim());
      else jar.set(name.trim(), value.trim());
    }
    return response;
  };
  return { fetch: fetchImpl, jar, requests };
}

beforeAll(async () => {
  server = await startTestServer();
  const anonymous = createGatehouseClient({ url: server.url });
  expect(await anonymous.auth.setupStatus.query()).toEqual({ needsSetup: true });
  const first = await anonymous.auth.createFirstUser.mutate(ADMIN);
  if (first.status !== 'signed-in') throw new Error('expected a session');
  adminToken = first.token;
  admin = createGatehouseClient({ url: server.url, token: adminToken });
  await admin.user.create.mutate({ ...MEMBER, role: 'member' });
});

afterAll(async () => {
  await server?.stop();
});

describe('bearer mode', () => {
  test('calls procedures with the token, superjson Dates intact', async () => {
    const me = await admin.auth.me.query();
    expect(me.user).toMatchObject({ email: ADMIN.email, role: 'admin', isActive: true });
    expect(me.user.createdAt).toBeInstanceOf(Date);
    expect(me.session.current).toBe(true);
    expect(me.session.expiresAt).toBeInstanceOf(Date);
    expect(Object.keys(me.user)).not.toContain('passwordHash');

    const page = await admin.user.list.query({ limit: 10 });
    expect(page.total).toBe(2);
    expect(page.items.map((u) => u.email).sort()).toEqual([ADMIN.email, MEMBER.email]);

    const audit = await admin.audit.list.query({ limit: 10 });
    expect(audit.items[0]?.at).toBeInstanceOf(Date);
    expect(audit.items.map((e) => e.type)).toContain('user.created');
  });

  test('getToken is asked on every request', async () => {
    let calls = 0;
    const gh = createGatehouseClient({
      url: `${server.url}/trpc`,
      getToken: () => {
        calls += 1;
        return Promise.resolve(adminToken);
      },
    });
    await gh.auth.me.query();
    await gh.session.list.query();
    expect(calls).toBe(2);
  });

  test('queries made together travel in one batched request, with the extra headers', async () => {
    const seen: { url: string; headers: Headers }[] = [];
    const gh = createGatehouseClient({
      url: server.url,
      token: adminToken,
      headers: { 'x-gatehouse-test': 'yes' },
      fetch: (input, init) => {
        seen.push({ url: urlOf(input), headers: new Headers(init?.headers) });
        return fetch(input, init);
      },
    });
    const [me, sessions, stats] = await Promise.all([
      gh.auth.me.query(),
      gh.session.list.query(),
      gh.session.stats.query(),
    ]);
    expect(me.user.email).toBe(ADMIN.email);
    expect(sessions.length).toBeGreaterThan(0);
    expect(stats.active).toBeGreaterThan(0);
    expect(seen).toHaveLength(1);
    expect(seen[0]?.url).toContain('batch=1');
    expect(seen[0]?.headers.get('authorization')).toBe(`Bearer ${adminToken}`);
    expect(seen[0]?.headers.get('x-gatehouse-test')).toBe('yes');
  });
});

describe('typed errors', () => {
  test('UNAUTHORIZED without a session, narrowed by code', async () => {
    const error = await rejection(createGatehouseClient({ url: server.url }).auth.me.query());
    expect(isGatehouseError(error)).toBe(true);
    expect(isGatehouseError(error, 'UNAUTHORIZED')).toBe(true);
    expect(isGatehouseError(error, 'FORBIDDEN')).toBe(false);
    expect(isGatehouseError(error, 'UNAUTHORIZED', 'unauthenticated')).toBe(true);
    expect(isGatehouseError(error, 'UNAUTHORIZED', 'invalid_credentials')).toBe(false);
    expect(isGatehouseError(error, undefined, 'unauthenticated')).toBe(true);
    if (!isGatehouseError(error, 'UNAUTHORIZED')) throw error;
    expect(error.data.reason).toBe('unauthenticated');
    expect(error.data.httpStatus).toBe(401);
    expect(error.data.path).toBe('auth.me');
  });

  test('BAD_REQUEST carries the validation issues', async () => {
    const error = await rejection(
      admin.user.create.mutate({ email: 'not-an-email', name: 'X', password: 'long enough pw 1' }),
    );
    if (!isGatehouseError(error, 'BAD_REQUEST', 'validation_failed')) throw error;
    expect(error.data.httpStatus).toBe(400);
    expect(error.data.zodError?.fieldErrors.email).toEqual(['Enter a valid email address']);
  });

  test('CONFLICT names the field, FORBIDDEN for members, NOT_FOUND — each with its reason', async () => {
    const conflict = await rejection(admin.user.create.mutate({ ...MEMBER, name: 'Another Bob' }));
    if (!isGatehouseError(conflict, 'CONFLICT', 'email_taken')) throw conflict;
    expect(conflict.data.field).toBe('email');

    const signedIn = await createGatehouseClient({ url: server.url }).auth.signIn.mutate({
      identifier: MEMBER.email,
      password: MEMBER.password,
    });
    if (signedIn.status !== 'signed-in') throw new Error('expected a session');
    const member = createGatehouseClient({ url: server.url, token: signedIn.token });
    const forbidden = await rejection(member.user.list.query());
    expect(isGatehouseError(forbidden, 'FORBIDDEN', 'admin_required')).toBe(true);

    const missing = await rejection(admin.user.byId.query({ id: '00000000-0000-4000-8000-000000000000' }));
    expect(isGatehouseError(missing, 'NOT_FOUND', 'user_not_found')).toBe(true);
  });

  test('TOO_MANY_REQUESTS tells how long to wait', async () => {
    const anonymous = createGatehouseClient({ url: server.url });
    let last: unknown = null;
    for (let i = 0; i < 8 && !isGatehouseError(last, 'TOO_MANY_REQUESTS'); i += 1) {
      last = await rejection(
        anonymous.auth.signIn.mutate({ identifier: 'nobody@example.com', password: 'wrong password' }),
      );
      if (!isGatehouseError(last, 'TOO_MANY_REQUESTS')) {
        expect(isGatehouseError(last, 'UNAUTHORIZED', 'invalid_credentials')).toBe(true);
      }
    }
    if (!isGatehouseError(last, 'TOO_MANY_REQUESTS', 'throttled')) throw new Error('never throttled');
    expect(last.data.retryAfterSeconds).toBeGreaterThan(0);
  });

  test('a network failure is not a Gatehouse error', async () => {
    const error = await rejection(createGatehouseClient({ url: 'http://127.0.0.1:9' }).system.version.query());
    expect(isGatehouseError(error)).toBe(false);
  });
});

describe('browser mode (cookies)', () => {
  test('sign in sets the cookie, calls carry it, sign out clears it', async () => {
    const browser = browserFetch(server.url);
    const gh = createGatehouseClient({ url: server.url, fetch: browser.fetch });
    const result = await gh.auth.signIn.mutate({ identifier: MEMBER.email, password: MEMBER.password });
    expect(result.status).toBe('signed-in');
    expect(browser.jar.get('gatehouse_session')).toBeTruthy();
    expect(browser.requests.every((r) => r.credentials === 'include')).toBe(true);

    const me = await gh.auth.me.query();
    expect(me.user.email).toBe(MEMBER.email);
    const renamed = await gh.auth.updateProfile.mutate({ name: 'Robert Member' });
    expect(renamed.name).toBe('Robert Member');

    expect(await gh.auth.signOut.mutate()).toEqual({ ok: true });
    expect(browser.jar.has('gatehouse_session')).toBe(false);
    expect(isGatehouseError(await rejection(gh.auth.me.query()), 'UNAUTHORIZED')).toBe(true);
  });

  test('a cookie mutation from a foreign origin is refused (CSRF)', async () => {
    const browser = browserFetch(server.url);
    const gh = createGatehouseClient({ url: server.url, fetch: browser.fetch });
    await gh.auth.signIn.mutate({ identifier: MEMBER.email, password: MEMBER.password });
    const evil = browserFetch('https://evil.example');
    for (const [k, v] of browser.jar) evil.jar.set(k, v);
    const forged = createGatehouseClient({ url: server.url, fetch: evil.fetch });
    const error = await rejection(forged.auth.updateProfile.mutate({ name: 'Mallory' }));
    expect(isGatehouseError(error, 'FORBIDDEN', 'cross_origin')).toBe(true);
    expect((await gh.auth.me.query()).user.name).not.toBe('Mallory');
  });
});

describe('subscriptions', () => {
  test('audit.events streams new events over SSE with the bearer token', async () => {
    const gh = createGatehouseClient({ url: server.url, token: adminToken, eventSource: EventSource });
    const received: AuditEvent[] = [];
    const started = deferred<void>();
    const got = deferred<AuditEvent>();
    const sub = gh.audit.events.subscribe(undefined, {
      onStarted: () => started.resolve(),
      onData: (event) => {
        received.push(event);
        if (event.type === 'user.created') got.resolve(event);
      },
      onError: (error) => got.reject(error),
    });
    try {
      await started.promise;
      const created = await admin.user.create.mutate({
        email: 'carol@example.com',
        name: 'Carol',
        password: 'carol has a long password',
      });
      const event = await got.promise;
      expect(event.targetId).toBe(created.id);
      expect(event.at).toBeInstanceOf(Date);
      expect(event.leafHash).toMatch(/^[0-9a-f]{64}$/);
    } finally {
      sub.unsubscribe();
    }
  });

  test('in browser mode the stream is authenticated by the session cookie', async () => {
    const browser = browserFetch(server.url);
    const gh = createGatehouseClient({ url: server.url, fetch: browser.fetch, eventSource: EventSource });
    await gh.auth.signIn.mutate({ identifier: ADMIN.email, password: ADMIN.password });
    const first = deferred<AuditEvent>();
    const sub = gh.audit.events.subscribe(
      { afterSeq: 0 },
      { onData: (event) => first.resolve(event), onError: (e) => first.reject(e) },
    );
    try {
      expect((await first.promise).seq).toBe(1);
      const streamRequest = browser.requests.find((r) => r.url.includes('audit.events'));
      expect(streamRequest?.credentials).toBe('include');
    } finally {
      sub.unsubscribe();
    }
  });

  test('without a token the stream is refused with a typed error', async () => {
    const gh = createGatehouseClient({ url: server.url, eventSource: EventSource });
    const failed = deferred<unknown>();
    const sub = gh.audit.events.subscribe(undefined, { onError: (error) => failed.resolve(error) });
    try {
      expect(isGatehouseError(await failed.promise, 'UNAUTHORIZED', 'unauthenticated')).toBe(true);
    } finally {
      sub.unsubscribe();
    }
  });
});
