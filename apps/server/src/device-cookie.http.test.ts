/**
 * The device cookie over real HTTP (packages/api/src/throttle/device.ts): set on sign-in with
 * the session cookie's attributes, and what gets its browser in while the account is locked.
 */
import { createGatehouseClient, isGatehouseError } from '@gatehouse/client';
import { ManualClock } from '@gatehouse/api';
import { afterEach, describe, expect, it } from 'vitest';
import { startTestServer, type RunningServer } from './testing.js';

const PASSWORD = 'violet tractor umbrella';

/** A browser stand-in with a cookie jar, its Origin, and a client address (X-Forwarded-For). */
function browser(server: RunningServer, ip: string, origin = server.url) {
  const jar = new Map<string, string>();
  const setCookies: string[] = [];
  const client = createGatehouseClient({
    url: server.url,
    fetch: async (input, init) => {
      const headers = new Headers(init?.headers);
      if (jar.size > 0) headers.set('cookie', [...jar].map(([k, v]) => `${k}=${v}`).join('; '));
      headers.set('origin', origin);
      headers.set('x-forwarded-for', ip);
      const res = await fetch(input, { ...init, headers });
      for (const line of res.headers.getSetCookie()) {
        setCookies.push(line);
        const [pair = ''] = line.split(';');
        const eq = pair.indexOf('=');
        jar.set(pair.slice(0, eq), pair.slice(eq + 1));
      }
      return res;
    },
  });
  return { client, jar, setCookies };
}

async function status(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'OK';
  } catch (error) {
    if (isGatehouseError(error)) return error.data.code;
    throw error;
  }
}

describe('device cookie over HTTP', () => {
  let server: RunningServer;
  afterEach(async () => {
    await server?.stop();
  });

  it('is set on sign-in (HttpOnly, SameSite=Lax) and lets its browser in while the account is locked', async () => {
    server = await startTestServer({ TRUST_PROXY: 'true' }, { clock: new ManualClock('2026-03-01T08:00:00.000Z') });
    const setup = browser(server, '192.0.2.1');
    await setup.client.auth.createFirstUser.mutate({ email: 'admin@example.com', name: 'Admin', password: PASSWORD });
    expect(setup.jar.has('gatehouse_device')).toBe(false); // sign-in only

    const owner = browser(server, '192.0.2.10');
    await owner.client.auth.signIn.mutate({ identifier: 'admin@example.com', password: PASSWORD });
    const line = owner.setCookies.find((l) => l.startsWith('gatehouse_device='));
    expect(line).toMatch(/; Max-Age=15552000;/);
    expect(line).toMatch(/; HttpOnly/);
    expect(line).toMatch(/; SameSite=Lax/);
    expect(line).toMatch(/; Path=\//);

    for (const ip of ['198.51.100.1', '198.51.100.2', '198.51.100.3', '198.51.100.4']) {
      const attacker = browser(server, ip);
      for (let i = 0; i < 6; i++) {
        await status(attacker.client.auth.signIn.mutate({ identifier: 'admin@example.com', password: `guess ${i}` }));
      }
    }
    const stranger = browser(server, '203.0.113.9');
    expect(
      await status(stranger.client.auth.signIn.mutate({ identifier: 'admin@example.com', password: PASSWORD })),
    ).toBe('TOO_MANY_REQUESTS');
    expect(await status(owner.client.auth.signIn.mutate({ identifier: 'admin@example.com', password: PASSWORD }))).toBe(
      'OK',
    );
  });

  it('is named __Host-gatehouse_device and Secure when PUBLIC_ORIGIN is https', async () => {
    server = await startTestServer({ PUBLIC_ORIGIN: 'https://auth.example.test' });
    const b = browser(server, '192.0.2.1', 'https://auth.example.test');
    await b.client.auth.createFirstUser.mutate({ email: 'admin@example.com', name: 'Admin', password: PASSWORD });
    await b.client.auth.signIn.mutate({ identifier: 'admin@example.com', password: PASSWORD });
    const line = b.setCookies.find((l) => l.startsWith('__Host-gatehouse_device='));
    expect(line).toMatch(/; Secure/);
    expect(line).toMatch(/; Path=\//);
    expect(line).not.toMatch(/Domain=/i);
  });
});
