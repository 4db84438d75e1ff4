import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type RunningServer } from './testing.js';

describe('the HTTP server', () => {
  let server: RunningServer;
  let dashboardDir: string;

  beforeAll(async () => {
    dashboardDir = mkdtempSync(join(tmpdir(), 'gatehouse-dashboard-'));
    mkdirSync(join(dashboardDir, 'assets'));
    writeFileSync(join(dashboardDir, 'index.html'), '<!doctype html><title>Gatehouse</title><div id="root"></div>');
    writeFileSync(join(dashboardDir, 'assets', 'app-abc123.js'), 'console.log(1)');
    server = await startTestServer({
      DASHBOARD_DIR: dashboardDir,
      TRUSTED_ORIGINS: 'https://tools.example.com',
      BODY_LIMIT: '4096',
    });
  });
  afterAll(async () => {
    await server.stop();
    rmSync(dashboardDir, { recursive: true, force: true });
  });

  it('answers /health while the process runs', async () => {
    const res = await fetch(`${server.url}/health`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
  });

  it('answers /ready when the database answers', async () => {
    const res = await fetch(`${server.url}/ready`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ready' });
  });

  it('sends security headers and a request id on every response', async () => {
    const res = await fetch(`${server.url}/health`, { headers: { 'x-request-id': 'trace-42' } });
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('x-frame-options')).toBe('SAMEORIGIN');
    expect(res.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(res.headers.get('x-request-id')).toBe('trace-42');
  });

  it("keeps a caller's request id only when it looks like one", async () => {
    const traced = await fetch(`${server.url}/health`, {
      headers: { 'x-request-id': 'b7f0c2e4-1a2b-4c3d-9e8f-0a1b2c3d4e5f' },
    });
    expect(traced.headers.get('x-request-id')).toBe('b7f0c2e4-1a2b-4c3d-9e8f-0a1b2c3d4e5f');
    for (const odd of ['x'.repeat(129), 'has spaces', '{"json":1}']) {
      const res = await fetch(`${server.url}/health`, { headers: { 'x-request-id': odd } });
      expect(res.headers.get('x-request-id')).toMatch(/^req-[0-9a-z]+$/);
    }
  });

  it('asks browsers for HTTPS (HSTS, upgrade-insecure-requests) only when PUBLIC_ORIGIN is https', async () => {
    const plain = await fetch(`${server.url}/health`);
    expect(plain.headers.get('content-security-policy')).not.toContain('upgrade-insecure-requests');
    expect(plain.headers.get('strict-transport-security')).toBeNull();
    const behindTls = await startTestServer({ PUBLIC_ORIGIN: 'https://auth.example.com' });
    try {
      const res = await fetch(`${behindTls.url}/health`);
      expect(res.headers.get('content-security-policy')).toContain('upgrade-insecure-requests');
      expect(res.headers.get('strict-transport-security')).toMatch(/^max-age=\d+/);
    } finally {
      await behindTls.stop();
    }
  });

  it('serves the tRPC router at /trpc with superjson', async () => {
    const res = await fetch(`${server.url}/trpc/system.version`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { result: { data: { json: { version: string } } } };
    expect(body.result.data.json.version).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('answers batched calls up to the batch limit (long paths do not 404)', async () => {
    const paths = Array.from({ length: 10 }, () => 'system.version').join(',');
    const res = await fetch(`${server.url}/trpc/${paths}?batch=1&input=${encodeURIComponent('{}')}`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as unknown[]).length).toBe(10);
  });

  it('allows CORS with credentials for configured origins only', async () => {
    const allowed = await fetch(`${server.url}/trpc/system.version`, {
      method: 'OPTIONS',
      headers: { origin: 'https://tools.example.com', 'access-control-request-method': 'POST' },
    });
    expect(allowed.headers.get('access-control-allow-origin')).toBe('https://tools.example.com');
    expect(allowed.headers.get('access-control-allow-credentials')).toBe('true');

    const refused = await fetch(`${server.url}/trpc/system.version`, {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example.com', 'access-control-request-method': 'POST' },
    });
    expect(refused.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('refuses bodies over the limit with 413, not a crash', async () => {
    const res = await fetch(`${server.url}/trpc/auth.signIn`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ json: { identifier: 'x'.repeat(10_000), password: 'y' } }),
    });
    expect(res.status).toBe(413);
    const health = await fetch(`${server.url}/health`);
    expect(health.status).toBe(200);
  });

  it('answers an unknown procedure with a typed NOT_FOUND and no stack trace', async () => {
    const res = await fetch(`${server.url}/trpc/nope.nothing`);
    expect(res.status).toBe(404);
    const body = (await res.json()) as { error: { json: { data: { code: string; stack?: string } } } };
    expect(body.error.json.data.code).toBe('NOT_FOUND');
    expect(body.error.json.data.stack).toBeUndefined();
  });

  it('answers malformed JSON with BAD_REQUEST', async () => {
    const res = await fetch(`${server.url}/trpc/auth.signIn`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"json": {',
    });
    expect(res.status).toBe(400);
  });

  it('serves the dashboard at / with a fallback for client-side routes', async () => {
    const index = await fetch(`${server.url}/`);
    expect(index.status).toBe(200);
    expect(await index.text()).toContain('<title>Gatehouse</title>');

    const deepLink = await fetch(`${server.url}/users/123`, { headers: { accept: 'text/html' } });
    expect(deepLink.status).toBe(200);
    expect(await deepLink.text()).toContain('<div id="root">');

    const asset = await fetch(`${server.url}/assets/app-abc123.js`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get('cache-control')).toContain('immutable');

    const missingApi = await fetch(`${server.url}/nothing-here.json`);
    expect(missingApi.status).toBe(404);
  });
});

describe('graceful shutdown', () => {
  it('finishes in-flight requests, then refuses new connections and closes the database', async () => {
    const server = await startTestServer(
      {},
      {
        // A request that is in flight when close() starts.
        configure: (app) =>
          app.get('/slow', async () => {
            await new Promise((resolve) => setTimeout(resolve, 300));
            return { done: true };
          }),
      },
    );
    const inFlight = fetch(`${server.url}/slow`).then((r) => r.json());
    await new Promise((resolve) => setTimeout(resolve, 50));
    const closing = server.stop();
    expect(await inFlight).toEqual({ done: true });
    await closing;
    await expect(fetch(`${server.url}/health`)).rejects.toThrow();
    await expect(server.db.kysely.selectFrom('users').select('id').execute()).rejects.toThrow();
  });
});

describe('the client address behind a proxy (TRUST_PROXY)', () => {
  async function failedSignInIp(env: Record<string, string>): Promise<string | null> {
    const server = await startTestServer(env);
    try {
      const res = await fetch(`${server.url}/trpc/auth.signIn`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-forwarded-for': '203.0.113.9' },
        body: JSON.stringify({ json: { identifier: 'nobody@example.com', password: 'not-the-password-1' } }),
      });
      expect(res.status).toBe(401);
      const event = await server.db.kysely
        .selectFrom('audit_events')
        .select('ip')
        .where('type', '=', 'auth.sign_in_failed')
        .executeTakeFirstOrThrow();
      return event.ip;
    } finally {
      await server.stop();
    }
  }

  it('ignores X-Forwarded-For by default: a client cannot choose the address it is throttled by', async () => {
    expect(await failedSignInIp({})).toBe('127.0.0.1');
  });

  it('takes the forwarded address from a trusted proxy', async () => {
    expect(await failedSignInIp({ TRUST_PROXY: '127.0.0.1' })).toBe('203.0.113.9');
    expect(await failedSignInIp({ TRUST_PROXY: '1' })).toBe('203.0.113.9');
    expect(await failedSignInIp({ TRUST_PROXY: '10.0.0.0/8' })).toBe('127.0.0.1');
  });
});
