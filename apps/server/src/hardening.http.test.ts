/**
 * The request layer under attack (issue 13, items 2, 3, 4, 6 and 11), over real HTTP with raw
 * requests: batches within limits, answers no cache keeps, methods the API does not serve,
 * superjson envelopes that superjson must never walk, the client address behind a proxy, and
 * request URLs logged without their input.
 */
import { request as httpRequest } from 'node:http';
import { createGatehouseClient } from '@gatehouse/client';
import { sql } from '@gatehouse/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type RunningServer } from './testing.js';

const PASSWORD = 'hardening-Admin-pass-5821';

interface RawAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: unknown;
}

/** One HTTP request as an attacker sends it (node:http: fetch refuses TRACE and friends). */
function raw(
  method: string,
  url: string,
  options: { headers?: Record<string, string>; body?: string } = {},
): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method, headers: options.headers ?? {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown = null;
        try {
          json = JSON.parse(text);
        } catch {
          // Not JSON: the test looks at `text`.
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
    });
    req.on('error', reject);
    if (options.body !== undefined) req.write(options.body);
    req.end();
  });
}

const post = (server: RunningServer, path: string, body: unknown, headers: Record<string, string> = {}) =>
  raw('POST', `${server.url}/trpc/${path}`, {
    headers: { 'content-type': 'application/json', origin: server.url, ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });

/** `error.data.reason` of every call in a (batched or single) tRPC error answer. */
function reasons(answer: RawAnswer): unknown[] {
  const items = Array.isArray(answer.json) ? answer.json : [answer.json];
  return items.map(
    (item) => (item as { error?: { json?: { data?: { reason?: unknown } } } }).error?.json?.data?.reason,
  );
}

const signInCall = (password: string) => ({ json: { identifier: 'admin', password } });

async function auditCount(server: RunningServer): Promise<number> {
  const { rows } = await sql<{ n: number }>`select count(*) as n from audit_events`.execute(server.db.kysely);
  return Number(rows[0]?.n ?? 0);
}

interface LogLine {
  level: number;
  msg: string;
  req?: { url?: string; remoteAddress?: string };
}

describe('the request layer', () => {
  let server: RunningServer;
  let token: string;
  const log: string[] = [];
  const logLines = (): LogLine[] => log.map((line) => JSON.parse(line) as LogLine);

  beforeAll(async () => {
    server = await startTestServer(
      { TRUSTED_ORIGINS: 'https://tools.example.com' },
      { logger: { level: 'info', stream: { write: (line) => log.push(line) } } },
    );
    const created = await post(server, 'auth.createFirstUser', {
      json: { email: 'admin@example.com', username: 'admin', name: 'Admin', password: PASSWORD },
    });
    expect(created.status).toBe(200);
    token = (created.json as { result: { data: { json: { token: string } } } }).result.data.json.token;
  });
  afterAll(() => server.stop());

  describe('batches (item 2)', () => {
    it('refuses more than 10 calls in one request, with a typed reason and no call run', async () => {
      const paths = Array.from({ length: 11 }, () => 'system.version').join(',');
      const answer = await raw('GET', `${server.url}/trpc/${paths}?batch=1&input=%7B%7D`);
      expect(answer.status).toBe(400);
      expect(reasons(answer)).toEqual(Array.from({ length: 11 }, () => 'batch_refused'));
    });

    it('refuses two password-hashing calls in one batch before either runs', async () => {
      const before = await auditCount(server);
      for (const paths of ['auth.signIn,auth.signIn', 'auth.signIn,auth.changePassword', 'auth.signUp,user.create']) {
        const answer = await post(server, `${paths}?batch=1`, { 0: signInCall('wrong-1'), 1: signInCall('wrong-2') });
        expect(answer.status).toBe(400);
        expect(reasons(answer)).toEqual(['batch_refused', 'batch_refused']);
      }
      // No sign-in was attempted: no failure recorded, nothing counted toward the throttle.
      expect(await auditCount(server)).toBe(before);
    });

    it('still runs one hashing call beside other calls, and the stock client batches normally', async () => {
      const answer = await post(
        server,
        'auth.signIn,auth.updateProfile?batch=1',
        { 0: signInCall(PASSWORD), 1: { json: { name: 'Admin' } } },
        { authorization: `Bearer ${token}` },
      );
      expect(answer.status).toBe(200);
      expect(reasons(answer)).toEqual([undefined, undefined]);

      const requests: string[] = [];
      const client = createGatehouseClient({
        url: server.url,
        token,
        fetch: (input, init) => {
          requests.push(input instanceof Request ? input.url : input.toString());
          return fetch(input, init);
        },
      });
      // Twelve at once: the client's batch link splits them to stay within the server's limit.
      const results = await Promise.all(Array.from({ length: 12 }, () => client.auth.me.query()));
      expect(results.every((r) => r.user.username === 'admin')).toBe(true);
      expect(requests.length).toBeGreaterThanOrEqual(2);
    });
  });

  describe('caching (item 3)', () => {
    it('marks every /trpc answer no-store and keeps Origin in Vary', async () => {
      const origin = { origin: 'https://tools.example.com' };
      const answers = [
        await raw('GET', `${server.url}/trpc/system.version`, { headers: origin }),
        await raw('GET', `${server.url}/trpc/auth.me`, { headers: { ...origin, authorization: `Bearer ${token}` } }),
        await raw('GET', `${server.url}/trpc/auth.me`, { headers: origin }),
        await raw('GET', `${server.url}/trpc/session.list,user.list?batch=1&input=%7B%7D`, {
          headers: { ...origin, authorization: `Bearer ${token}` },
        }),
        await post(server, 'auth.signIn', signInCall(PASSWORD), origin),
        await raw('GET', `${server.url}/trpc/no.such.procedure`, { headers: origin }),
      ];
      for (const answer of answers) {
        expect(answer.headers['cache-control']).toBe('no-store');
        expect(String(answer.headers.vary).toLowerCase()).toContain('origin');
        expect(answer.headers['access-control-allow-origin']).toBe('https://tools.example.com');
      }
      expect(answers[1]?.status).toBe(200);
      expect(answers[4]?.status).toBe(200);
    });
  });

  describe('methods (item 4)', () => {
    it('answers methods the API does not serve with 405 and Allow, logging no error', async () => {
      const before = log.length;
      for (const method of ['TRACE', 'PUT', 'DELETE', 'PATCH', 'PROPFIND', 'SEARCH']) {
        const answer = await raw(method, `${server.url}/trpc/system.version`);
        expect(answer.status, method).toBe(405);
        expect(answer.headers.allow).toBe('GET, HEAD, POST');
        expect(answer.headers['cache-control']).toBe('no-store');
      }
      expect(
        logLines()
          .slice(before)
          .filter((line) => line.level >= 50),
      ).toEqual([]);
    });
  });

  describe('superjson envelopes (item 6)', () => {
    const malformed: [string, unknown][] = [
      [
        'a string where a tree belongs (endless recursion)',
        { json: {}, meta: { values: { identifier: ['class', 'X'] } } },
      ],
      ['an unknown annotation', { json: { identifier: 'x' }, meta: { values: { identifier: ['custom', 'Evil'] } } }],
      ['a bigint that is not a number', { json: { identifier: 'abc' }, meta: { values: { identifier: ['bigint'] } } }],
      ['a path into nothing', { json: { identifier: 'x' }, meta: { values: { 'a.b.c': ['Date'] } } }],
      ['a prototype path', { json: { identifier: 'x' }, meta: { values: { ['__proto__']: ['Date'] } } }],
      ['a tree that is not an array', { json: { identifier: 'x' }, meta: { values: { identifier: { x: 'y' } } } }],
      ['an unknown meta key', { json: {}, meta: { values: {}, extra: 1 } }],
      ['referential equality into nothing', { json: {}, meta: { referentialEqualities: { a: ['b'] } } }],
      ['no envelope at all', 'just a string'],
    ];
    const deepMeta = (depth: number) =>
      `{"json":{},"meta":{"values":${'["map",{"0":'.repeat(depth)}["Date"]${'}]'.repeat(depth)}}}`;
    // As text: JSON.stringify itself would overflow the stack on it.
    const deepJson = (depth: number) => `{"json":${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}}`;

    /** Only our own words: no engine, parser or library text. */
    function expectMalformed(answer: RawAnswer) {
      expect(answer.status).toBe(400);
      expect(reasons(answer).every((reason) => reason === 'malformed_request')).toBe(true);
      expect(answer.text).toContain('Malformed request');
      expect(answer.text).not.toMatch(/call stack|superjson|JSON\.parse|Unexpected token|Cannot |destructure|BigInt/i);
    }

    it.each(malformed)('refuses %s with 400 "Malformed request"', async (_name, envelope) => {
      expectMalformed(await post(server, 'auth.signIn', envelope));
      expectMalformed(await post(server, 'auth.signIn?batch=1', { 0: envelope }));
      const input = encodeURIComponent(JSON.stringify(envelope));
      expectMalformed(await raw('GET', `${server.url}/trpc/system.version?input=${input}`));
    });

    it('refuses deep nesting in meta and in json before anything walks it', async () => {
      expectMalformed(await post(server, 'auth.signIn', deepMeta(5000)));
      expectMalformed(await post(server, 'auth.signIn', deepJson(50_000)));
      expectMalformed(await post(server, 'auth.signIn', '{"json":'));
    });

    it('lets the envelopes superjson writes through (undefined fields, Dates)', async () => {
      const since = new Date('2026-01-01T00:00:00Z').toISOString();
      const answer = await raw(
        'GET',
        `${server.url}/trpc/audit.list?input=${encodeURIComponent(
          JSON.stringify({
            json: { since, cursor: undefined },
            meta: { values: { since: ['Date'], cursor: ['undefined'] }, v: 1 },
          }),
        )}`,
        { headers: { authorization: `Bearer ${token}` } },
      );
      expect(answer.status).toBe(200);
    });
  });

  describe('logged URLs (item 11)', () => {
    it('logs a mutation sent by GET without its input', async () => {
      const input = encodeURIComponent(JSON.stringify(signInCall('a-password-in-the-url-7731')));
      const answer = await raw('GET', `${server.url}/trpc/auth.signIn?input=${input}`);
      expect(answer.status).toBe(405);
      const logged = log.join('\n');
      expect(logged).not.toContain('a-password-in-the-url-7731');
      expect(logged).not.toContain(encodeURIComponent('a-password-in-the-url-7731'));
      const incoming = logLines().filter((line) => line.req?.url?.startsWith('/trpc/auth.signIn'));
      expect(incoming.at(-1)?.req?.url).toBe('/trpc/auth.signIn?input=[redacted]');
    });
  });
});

describe('the client address behind a proxy (item 11)', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startTestServer({ TRUST_PROXY: 'true' });
    const created = await post(server, 'auth.createFirstUser', {
      json: { email: 'admin@example.com', username: 'admin', name: 'Admin', password: PASSWORD },
    });
    expect(created.status).toBe(200);
  });
  afterAll(() => server.stop());

  async function ipOfSignIn(forwardedFor: string): Promise<string | null> {
    const answer = await post(server, 'auth.signIn', signInCall(PASSWORD), { 'x-forwarded-for': forwardedFor });
    expect(answer.status).toBe(200);
    const session = await server.db.kysely
      .selectFrom('sessions')
      .select('ip')
      .orderBy('created_at', 'desc')
      .limit(1)
      .executeTakeFirstOrThrow();
    return session.ip;
  }

  it('takes a valid address from X-Forwarded-For', async () => {
    expect(await ipOfSignIn('203.0.113.7')).toBe('203.0.113.7');
    expect(await ipOfSignIn('2001:db8::1')).toBe('2001:db8::1');
  });

  it('falls back to the socket address for anything else', async () => {
    for (const forged of ['<script>alert(1)</script>', 'not-an-ip', '203.0.113.7:8080']) {
      expect(await ipOfSignIn(forged)).toBe('127.0.0.1');
    }
  });
});
