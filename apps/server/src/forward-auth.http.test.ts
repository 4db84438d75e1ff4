/** `GET /auth/check` and `GET /auth/sign-in` over real HTTP (issue 16); the proxies' view is in proxies/. */
import { ManualClock } from '@gatehouse/api';
import { callerFor, createTestUser } from '@gatehouse/api/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { get } from './proxies/harness.js';
import { startTestServer, type RunningServer } from './testing.js';

const BROWSER = { accept: 'text/html', 'sec-fetch-mode': 'navigate' };
const APP = 'https://app.example.test';

describe('forward auth endpoints', () => {
  let server: RunningServer;
  const lines: string[] = [];
  let token: string;

  beforeAll(async () => {
    server = await startTestServer(
      { FORWARD_AUTH_ORIGINS: APP },
      { logger: { level: 'info', stream: { write: (line) => lines.push(line) } } },
    );
    token = (await createTestUser(server.services, { role: 'member' })).token as string;
  });
  afterAll(async () => {
    await server?.stop();
  });

  const forwarded = (host: string, uri = '/page?a=1') => ({
    ...BROWSER,
    'x-forwarded-proto': 'https',
    'x-forwarded-host': host,
    'x-forwarded-uri': uri,
  });

  it('answers 200 with the identity headers, never cached', async () => {
    const answer = await get(`${server.url}/auth/check`, { cookie: `gatehouse_session=${token}` });
    expect(answer.status).toBe(200);
    expect(answer.headers['cache-control']).toBe('no-store');
    expect(answer.headers['x-gatehouse-role']).toBe('member');
    expect(answer.body).toBe('');
  });

  it('redirects a browser to sign in only back to allow-listed origins', async () => {
    const ok = await get(`${server.url}/auth/check?redirect=1`, forwarded('app.example.test'));
    expect(ok.status).toBe(302);
    expect(ok.headers.location).toBe(`${server.url}/auth/sign-in?rd=${encodeURIComponent(`${APP}/page?a=1`)}`);
    // An origin nobody allowed: a plain 401, no redirect anywhere.
    expect((await get(`${server.url}/auth/check?redirect=1`, forwarded('evil.example'))).status).toBe(401);
    // Without ?redirect=1 (nginx) or for an API call: 401.
    expect((await get(`${server.url}/auth/check`, forwarded('app.example.test'))).status).toBe(401);
    expect((await get(`${server.url}/auth/check?redirect=1`, { accept: 'application/json' })).status).toBe(401);
  });

  it('/auth/sign-in sends the signed-out to the dashboard and the signed-in back, never to a foreign origin', async () => {
    const rd = `${APP}/page?a=1&b=2`;
    const out = await get(`${server.url}/auth/sign-in?rd=${encodeURIComponent(rd)}`, BROWSER);
    expect(out.status).toBe(302);
    expect(out.headers.location).toBe(`${server.url}/?return_to=${encodeURIComponent(rd)}#/`);
    const back = await get(`${server.url}/auth/sign-in?rd=${encodeURIComponent(rd)}`, {
      cookie: `gatehouse_session=${token}`,
    });
    expect([back.status, back.headers.location]).toEqual([302, rd]);
    for (const evil of [
      'https://evil.example/x',
      '//evil.example/x',
      'javascript:alert(1)',
      'https://app.example.test.evil.example/',
    ]) {
      const answer = await get(`${server.url}/auth/sign-in?rd=${encodeURIComponent(evil)}`, {
        cookie: `gatehouse_session=${token}`,
      });
      expect([answer.status, answer.headers.location], evil).toEqual([302, `${server.url}/`]);
    }
  });

  it('an API key used on the API and on /auth/check never appears in the logs', async () => {
    const admin = await createTestUser(server.services, { role: 'admin' });
    const { key } = await callerFor(server.services, admin.token).apiKey.create({
      name: 'logs',
      scopes: ['auth:check', 'users:read'],
    });
    expect((await get(`${server.url}/auth/check`, { authorization: `Bearer ${key}` })).status).toBe(200);
    const listed = await get(`${server.url}/trpc/user.list?input=${encodeURIComponent('{"json":{}}')}`, {
      authorization: `Bearer ${key}`,
    });
    expect(listed.status).toBe(200);
    expect(lines.length).toBeGreaterThan(0);
    const secret = key.slice(-52);
    expect(lines.join('\n')).not.toContain(secret);
  });
});

describe('forward auth and the sliding session', () => {
  it('re-sets the cookie when a check slides the session, and only then', async () => {
    const clock = new ManualClock('2026-06-01T00:00:00.000Z');
    const server = await startTestServer({ SESSION_TTL: '24h' }, { clock });
    try {
      const token = (await createTestUser(server.services, { role: 'member' })).token as string;
      const headers = { cookie: `gatehouse_session=${token}` };
      expect((await get(`${server.url}/auth/check`, headers)).headers['set-cookie']).toBeUndefined();
      clock.advance(13 * 3_600_000); // past half of the lifetime: the expiry slides
      const renewed = await get(`${server.url}/auth/check`, headers);
      expect(renewed.status).toBe(200);
      const setCookie = String(renewed.headers['set-cookie']);
      expect(setCookie).toContain(`gatehouse_session=${token}`);
      expect(setCookie).toMatch(/Max-Age=86400/);
      expect(setCookie).toMatch(/HttpOnly/);
    } finally {
      await server.stop();
    }
  });
});
