/**
 * `@gatehouse/client/server` against a real Gatehouse (its JWKS over HTTP) in front of real
 * Fastify, Express and Hono services (issue 16).
 */
import express from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';
import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestServer, type RunningServer } from '../../../apps/server/src/testing.js';
import { createGatehouseClient } from '../src/index.js';
import { createVerifier, GatehouseTokenError, type GatehouseUser, type GatehouseVariables } from '../src/server.js';

const ADMIN = { email: 'ada@example.com', name: 'Ada Admin', password: 'analytical engine 1843' };

let gatehouse: RunningServer;
let token: string;
let userId: string;
let verifier: ReturnType<typeof createVerifier>;

beforeAll(async () => {
  gatehouse = await startTestServer();
  const anonymous = createGatehouseClient({ url: gatehouse.url, token: 'none' });
  const first = await anonymous.auth.createFirstUser.mutate(ADMIN);
  if (first.status !== 'signed-in') throw new Error('expected a session');
  userId = first.user.id;
  const client = createGatehouseClient({ url: gatehouse.url, token: first.token });
  token = (await client.auth.token.mutate()).token;
  verifier = createVerifier({ issuer: gatehouse.url });
});
afterAll(async () => {
  await gatehouse?.stop();
});

describe('createVerifier', () => {
  test('verifies a token against the served JWKS and types the user', async () => {
    const user: GatehouseUser = await verifier.verify(token);
    expect(user).toMatchObject({ id: userId, email: ADMIN.email, name: ADMIN.name, role: 'admin', apiKeyId: null });
    expect(user.sessionId).toMatch(/^[a-z2-7]{32}$/);
  });

  test('refuses tampered tokens, the wrong audience and a foreign issuer', async () => {
    const [h, p, s] = token.split('.') as [string, string, string];
    const flipped = `${h}.${p}.${s.slice(0, -2)}${s.endsWith('AA') ? 'BB' : 'AA'}`;
    await expect(verifier.verify(flipped)).rejects.toMatchObject({ code: 'invalid' });
    await expect(createVerifier({ issuer: gatehouse.url, audience: 'billing' }).verify(token)).rejects.toBeInstanceOf(
      GatehouseTokenError,
    );
    await expect(verifier.verifyHeader(undefined)).rejects.toMatchObject({ code: 'missing' });
  });
});

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return `http://127.0.0.1:${address.port}`;
}

async function whoami(url: string, bearer?: string) {
  const response = await fetch(`${url}/whoami`, bearer ? { headers: { authorization: `Bearer ${bearer}` } } : {});
  return {
    status: response.status,
    wwwAuthenticate: response.headers.get('www-authenticate'),
    body: (await response.json()) as Record<string, unknown>,
  };
}

describe.each(['Fastify', 'Express', 'Hono'] as const)('the %s middleware', (framework) => {
  let url: string;
  let close: () => Promise<void>;

  beforeAll(async () => {
    if (framework === 'Fastify') {
      const app = Fastify();
      app.addHook('onRequest', verifier.fastify());
      app.get('/whoami', async (request) => ({ id: (request as { gatehouse?: GatehouseUser }).gatehouse?.id }));
      url = await app.listen({ port: 0, host: '127.0.0.1' });
      close = () => app.close();
    } else if (framework === 'Express') {
      const app = express();
      app.use(verifier.express());
      app.get('/whoami', (req, res) => {
        res.json({ id: (req as { gatehouse?: GatehouseUser }).gatehouse?.id });
      });
      const server = app.listen(0);
      await new Promise((resolve) => server.once('listening', resolve));
      const address = server.address();
      url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
      close = () => new Promise((resolve) => server.close(() => resolve()));
    } else {
      const app = new Hono<{ Variables: GatehouseVariables }>();
      app.use('*', verifier.hono());
      app.get('/whoami', (c) => c.json({ id: c.get('gatehouse').id }));
      const { createServer } = await import('node:http');
      // Hono's own fetch handler behind node:http (what @hono/node-server does).
      const server = createServer((req, res) => {
        void (async () => {
          const response = await app.fetch(
            new Request(`http://local${req.url}`, { headers: req.headers as Record<string, string> }),
          );
          res.writeHead(response.status, Object.fromEntries(response.headers));
          res.end(await response.text());
        })();
      });
      url = await listen(server);
      close = () => new Promise((resolve) => server.close(() => resolve()));
    }
  });
  afterAll(async () => {
    await close?.();
  });

  test('passes a valid token with the typed user on the request', async () => {
    expect(await whoami(url, token)).toMatchObject({ status: 200, body: { id: userId } });
  });

  test('answers 401 with WWW-Authenticate without a token or with a bad one', async () => {
    expect(await whoami(url)).toMatchObject({
      status: 401,
      wwwAuthenticate: 'Bearer',
      body: { error: 'missing_token' },
    });
    expect(await whoami(url, 'not.a.jwt')).toMatchObject({
      status: 401,
      wwwAuthenticate: 'Bearer error="invalid_token"',
      body: { error: 'invalid_token' },
    });
  });
});
