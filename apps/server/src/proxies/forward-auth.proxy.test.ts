/**
 * Forward auth through REAL reverse proxies (issue 16): nginx `auth_request` and Caddy
 * `forward_auth` in front of a tiny upstream, asking a real Gatehouse server's `GET /auth/check`.
 */
import { callerFor, createTestUser } from '@gatehouse/api/testing';
import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type RunningServer } from '../testing.js';
import { get, startCaddy, startNginx, startUpstream, type RunningProxy } from './harness.js';

const BROWSER = { accept: 'text/html,application/xhtml+xml', 'sec-fetch-mode': 'navigate' };

interface Seen {
  path: string;
  headers: Record<string, string | undefined>;
}

describe.each([
  ['nginx', startNginx],
  ['Caddy', startCaddy],
] as const)('forward auth behind %s', (_name, startProxy) => {
  let gatehouse: RunningServer;
  let upstream: { port: number; server: Server };
  let proxy: RunningProxy;
  let member: { id: string; token: string; sessionId: string };
  let admin: { id: string; token: string };

  const cookie = (token: string) => ({ cookie: `gatehouse_session=${token}` });

  beforeAll(async () => {
    gatehouse = await startTestServer();
    upstream = await startUpstream();
    proxy = await startProxy(gatehouse.url, upstream.port);
    (gatehouse.services.config as { forwardAuthOrigins: readonly string[] }).forwardAuthOrigins = [proxy.url];
    const m = await createTestUser(gatehouse.services, { role: 'member', name: 'Zoë Member' });
    const a = await createTestUser(gatehouse.services, { role: 'admin' });
    member = { id: m.user.id, token: m.token as string, sessionId: m.session?.id as string };
    admin = { id: a.user.id, token: a.token as string };
  });
  afterAll(async () => {
    await proxy?.stop();
    await new Promise<void>((resolve) => (upstream ? upstream.server.close(() => resolve()) : resolve()));
    await gatehouse?.stop();
  });

  it('no cookie: an API call gets 401, and the upstream never sees it', async () => {
    const answer = await get(`${proxy.url}/reports?x=1`, { accept: 'application/json' });
    expect(answer.status).toBe(401);
    expect(answer.body).not.toContain('"path"');
  });

  it('no cookie: a browser navigation is sent to sign in, with the original URL to come back to', async () => {
    const answer = await get(`${proxy.url}/reports?x=1&y=2`, BROWSER);
    expect(answer.status).toBe(302);
    const location = new URL(answer.headers.location as string);
    expect(location.origin).toBe(new URL(gatehouse.url).origin);
    expect(location.searchParams.get('return_to') ?? location.searchParams.get('rd')).toBe(
      `${proxy.url}/reports?x=1&y=2`,
    );
  });

  it('a valid session cookie: the upstream sees the identity headers', async () => {
    const answer = await get(`${proxy.url}/reports`, cookie(member.token));
    expect(answer.status).toBe(200);
    const seen = JSON.parse(answer.body) as Seen;
    expect(seen.path).toBe('/reports');
    expect(seen.headers['x-gatehouse-user-id']).toBe(member.id);
    expect(seen.headers['x-gatehouse-role']).toBe('member');
    expect(seen.headers['x-gatehouse-kind']).toBe('person');
    expect(seen.headers['x-gatehouse-session-id']).toBe(member.sessionId);
    expect(decodeURIComponent(seen.headers['x-gatehouse-name'] as string)).toBe('Zoë Member');
    expect(seen.headers['x-gatehouse-email']).toMatch(/@example\.test$/);
  });

  it('identity headers a client sends itself never reach the upstream', async () => {
    const spoof = { 'x-gatehouse-user-id': admin.id, 'x-gatehouse-role': 'admin', 'x-gatehouse-api-key-id': 'x' };
    expect((await get(`${proxy.url}/reports`, spoof)).status).toBe(401);
    const answer = await get(`${proxy.url}/reports`, { ...spoof, ...cookie(member.token) });
    const seen = JSON.parse(answer.body) as Seen;
    expect(seen.headers['x-gatehouse-user-id']).toBe(member.id);
    expect(seen.headers['x-gatehouse-role']).toBe('member');
    expect(seen.headers['x-gatehouse-api-key-id'] ?? '').toBe('');
  });

  it('?role=admin: a member gets 403, an admin gets through', async () => {
    expect((await get(`${proxy.url}/admin/panel`, cookie(member.token))).status).toBe(403);
    const answer = await get(`${proxy.url}/admin/panel`, cookie(admin.token));
    expect(answer.status).toBe(200);
    expect((JSON.parse(answer.body) as Seen).headers['x-gatehouse-role']).toBe('admin');
  });

  it('an API key with auth:check passes as a bearer token; one without the scope does not', async () => {
    const caller = callerFor(gatehouse.services, admin.token);
    const good = await caller.apiKey.create({ name: 'proxy', scopes: ['auth:check'] });
    const bad = await caller.apiKey.create({ name: 'other', scopes: ['users:read'] });
    const answer = await get(`${proxy.url}/reports`, { authorization: `Bearer ${good.key}` });
    expect(answer.status).toBe(200);
    const seen = JSON.parse(answer.body) as Seen;
    expect(seen.headers['x-gatehouse-api-key-id']).toBe(good.apiKey.id);
    expect(seen.headers['x-gatehouse-user-id']).toBe(admin.id);
    expect((await get(`${proxy.url}/reports`, { authorization: `Bearer ${bad.key}` })).status).toBe(401);
  });

  it('a revoked session is refused within a second', async () => {
    const other = await createTestUser(gatehouse.services, { role: 'member' });
    const token = other.token as string;
    expect((await get(`${proxy.url}/reports`, cookie(token))).status).toBe(200);
    await callerFor(gatehouse.services, token).session.revoke({ id: other.session?.id as string });
    const revokedAt = Date.now();
    let status = 200;
    while (status === 200 && Date.now() - revokedAt < 1000) {
      status = (await get(`${proxy.url}/reports`, cookie(token))).status;
    }
    expect(status).toBe(401);
    expect(Date.now() - revokedAt).toBeLessThan(1000);
  });
});
