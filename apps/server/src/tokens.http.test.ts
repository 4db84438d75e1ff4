/**
 * JWT access tokens, the JWKS and introspection over real HTTP (issue 16). The tokens are checked
 * by an independent implementation: PyJWT (Debian's python3-jwt) in a child process, fetching the
 * served JWKS with its PyJWKClient.
 */
import { execFile } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ManualClock } from '@gatehouse/api';
import { callerFor, createTestUser } from '@gatehouse/api/testing';
import { rotateJwtKeyFile } from '@gatehouse/api/tokens';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type RunningServer } from './testing.js';

const PYTHON = '/usr/bin/python3';
const run = promisify(execFile);

/** PyJWT's verdict: the claims, or the name of the exception it raised. */
const VERIFY = `
import json, sys, jwt
jwks_url, token, audience, issuer = sys.argv[1:5]
try:
    key = jwt.PyJWKClient(jwks_url, cache_keys=False).get_signing_key_from_jwt(token)
    claims = jwt.decode(token, key.key, algorithms=["EdDSA"], audience=audience, issuer=issuer)
    print(json.dumps({"ok": True, "claims": claims, "kid": key.key_id}))
except Exception as error:
    print(json.dumps({"ok": False, "error": type(error).__name__}))
`;

interface Verdict {
  ok: boolean;
  error?: string;
  kid?: string;
  claims?: Record<string, unknown>;
}

describe('JWT access tokens, JWKS and introspection', () => {
  let server: RunningServer;
  let member: { id: string; token: string; sessionId: string };
  let checker: string;
  const clock = new ManualClock(new Date());
  afterEach(() => clock.set(new Date()));

  async function pyjwt(token: string, audience = 'gatehouse'): Promise<Verdict> {
    const { stdout } = await run(PYTHON, [
      '-c',
      VERIFY,
      `${server.url}/.well-known/jwks.json`,
      token,
      audience,
      server.url,
    ]);
    return JSON.parse(stdout) as Verdict;
  }

  async function post(path: string, headers: Record<string, string>, body: string) {
    const response = await fetch(`${server.url}${path}`, { method: 'POST', headers, body });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  }

  async function mint(bearer: string, audience?: string) {
    return post(
      '/auth/token',
      { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
      JSON.stringify(audience ? { audience } : {}),
    );
  }

  beforeAll(async () => {
    server = await startTestServer({ JWT_AUDIENCE: 'gatehouse,billing' }, { clock });
    const m = await createTestUser(server.services, { role: 'member', name: 'Ada' });
    member = { id: m.user.id, token: m.token as string, sessionId: m.session?.id as string };
    const admin = await createTestUser(server.services, { role: 'admin' });
    checker = (
      await callerFor(server.services, admin.token).apiKey.create({ name: 'introspect', scopes: ['auth:check'] })
    ).key;
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('creates the signing key file 0600 beside the audit key at first start', () => {
    const file = join(server.config.api.auditKeyFile, '..', 'jwt-signing.json');
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('mints an EdDSA token PyJWT verifies against the served JWKS, with the documented claims', async () => {
    const minted = await mint(member.token);
    expect(minted.status).toBe(200);
    expect(minted.body).toMatchObject({ token_type: 'Bearer', expires_in: 300, audience: 'gatehouse' });
    const verdict = await pyjwt(minted.body.access_token as string);
    expect(verdict.ok).toBe(true);
    expect(verdict.claims).toMatchObject({
      iss: server.url,
      sub: member.id,
      sid: member.sessionId,
      aud: 'gatehouse',
      role: 'member',
      name: 'Ada',
    });
    expect((verdict.claims?.exp as number) - (verdict.claims?.iat as number)).toBe(300);
  });

  it('auth.token over tRPC mints the same kind of token, for a configured audience only', async () => {
    const caller = callerFor(server.services, member.token);
    const { token, audience } = await caller.auth.token({ audience: 'billing' });
    expect(audience).toBe('billing');
    expect((await pyjwt(token, 'billing')).ok).toBe(true);
    // PyJWT refuses it for another audience.
    expect(await pyjwt(token, 'gatehouse')).toMatchObject({ ok: false, error: 'InvalidAudienceError' });
    expect((await mint(member.token, 'elsewhere')).status).toBe(400);
  });

  it('an expired token is refused by PyJWT and inactive on introspection', async () => {
    // Minted six minutes ago (by Gatehouse's clock): expired for PyJWT, which reads the real time.
    clock.set(new Date(Date.now() - 6 * 60_000));
    const { access_token: token } = (await mint(member.token)).body as { access_token: string };
    clock.set(new Date());
    expect(await pyjwt(token)).toMatchObject({ ok: false, error: 'ExpiredSignatureError' });
    const answer = await post(
      '/oauth/introspect',
      { authorization: `Bearer ${checker}`, 'content-type': 'application/x-www-form-urlencoded' },
      new URLSearchParams({ token }).toString(),
    );
    expect(answer.body).toEqual({ active: false });
  });

  it('after `rotate-key`, new tokens use the new key; tokens of the previous key still verify', async () => {
    const before = (await mint(member.token)).body.access_token as string;
    const oldKid = (await pyjwt(before)).kid;
    const { kid } = await rotateJwtKeyFile(server.config.api.jwtKeyFile);
    // The server re-reads the file within its reload interval.
    let after = '';
    const deadline = Date.now() + 15_000;
    do {
      await new Promise((resolve) => setTimeout(resolve, 200));
      after = (await mint(member.token)).body.access_token as string;
    } while ((await pyjwt(after)).kid !== kid && Date.now() < deadline);
    expect((await pyjwt(after)).kid).toBe(kid);
    expect(await pyjwt(before)).toMatchObject({ ok: true, kid: oldKid });
    const jwks = (await (await fetch(`${server.url}/.well-known/jwks.json`)).json()) as {
      keys: { kid: string; d?: string }[];
    };
    expect(jwks.keys.map((k) => k.kid)).toEqual([kid, oldKid]);
    expect(jwks.keys.every((k) => k.d === undefined)).toBe(true);
  }, 20_000);

  it('introspection (RFC 7662) for session tokens, API keys and JWTs, only for auth:check keys', async () => {
    const form = (token: string) => new URLSearchParams({ token }).toString();
    const ask = (token: string, as = checker) =>
      post(
        '/oauth/introspect',
        { authorization: `Bearer ${as}`, 'content-type': 'application/x-www-form-urlencoded' },
        form(token),
      );

    expect((await ask(member.token)).body).toMatchObject({
      active: true,
      token_type: 'session',
      sub: member.id,
      sid: member.sessionId,
    });
    expect((await ask(checker)).body).toMatchObject({ active: true, token_type: 'api_key', scope: 'auth:check' });
    const jwt = (await mint(member.token)).body.access_token as string;
    expect((await ask(jwt)).body).toMatchObject({ active: true, token_type: 'access_token', sub: member.id });
    expect((await ask('nonsense')).body).toEqual({ active: false });

    // A session token is no API key: refused as the caller.
    const refused = await ask(member.token, member.token);
    expect(refused.status).toBe(401);
    expect(refused.body.error).toBe('invalid_client');

    // Once the session is revoked, its token and the JWTs minted for it are inactive here.
    await callerFor(server.services, member.token).session.revoke({ id: member.sessionId });
    expect((await ask(member.token)).body).toEqual({ active: false });
    expect((await ask(jwt)).body).toEqual({ active: false });
  });
});
