/**
 * Tokens for other services (issue 16), as plain HTTP for clients in any language:
 * - `GET /.well-known/jwks.json`: the public keys of the JWT access tokens (current, then previous).
 * - `POST /auth/token`: a short-lived JWT for the caller — a bearer session token or API key (with
 *   `auth:check`), or the session cookie (then, as for every cookie mutation, only from an allowed
 *   `Origin`). `{ access_token, token_type: "Bearer", expires_in, audience }`.
 * - `POST /oauth/introspect` (RFC 7662): is this token active, and whose is it? For session
 *   tokens, API keys and Gatehouse's JWTs (a JWT whose session has ended answers inactive). The
 *   caller authenticates with an API key that has `auth:check`.
 */
import cookie from '@fastify/cookie';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { allowedOrigins, authenticate, DomainError, type Authenticated, type Services } from '@gatehouse/api';
import { sessionCookieName } from './forward-auth.js';

const BEARER = /^Bearer\s+(\S+)$/i;
const JWT_SHAPE = /^[\w-]+\.[\w-]+\.[\w-]+$/;

function bearerOf(request: FastifyRequest): string | null {
  const header = request.headers.authorization;
  return header ? (BEARER.exec(header)?.[1] ?? null) : null;
}

/** A string field of a form or JSON body. */
function field(body: unknown, name: string): string | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const value = (body as Record<string, unknown>)[name];
  return typeof value === 'string' ? value : undefined;
}

function oauthError(reply: FastifyReply, status: number, error: string, description: string): FastifyReply {
  if (status === 401) reply.header('www-authenticate', `Bearer error="${error}"`);
  return reply.code(status).header('cache-control', 'no-store').send({ error, error_description: description });
}

const seconds = (date: Date) => Math.floor(date.getTime() / 1000);

/** RFC 7662's answer for a token of ours, or `{ active: false }`. */
async function introspect(services: Services, token: string): Promise<Record<string, unknown>> {
  const inactive = { active: false };
  if (JWT_SHAPE.test(token)) {
    const claims = await services.tokens.verify(token);
    if (!claims) return inactive;
    // A token of a session that has ended is no longer active here (its signature still verifies
    // elsewhere until `exp`: that is the JWT trade-off, docs/integrations.md).
    if (claims.sid !== undefined && (await services.sessions.byId(claims.sid)) === null) return inactive;
    return { active: true, token_type: 'access_token', ...claims };
  }
  const auth = await authenticate(services, token, 'bearer');
  if (!auth) return inactive;
  const common = {
    active: true,
    iss: services.tokens.issuer,
    sub: auth.user.id,
    username: auth.user.username ?? auth.user.email,
    email: auth.user.email,
    name: auth.user.name,
    role: auth.user.role,
    kind: auth.user.kind,
  };
  if (auth.apiKey) {
    return {
      ...common,
      token_type: 'api_key',
      key: auth.apiKey.id,
      scope: auth.apiKey.scopes.join(' '),
      iat: seconds(auth.apiKey.createdAt),
      ...(auth.apiKey.expiresAt ? { exp: seconds(auth.apiKey.expiresAt) } : {}),
    };
  }
  return {
    ...common,
    token_type: 'session',
    sid: auth.session.id,
    iat: seconds(auth.session.createdAt),
    exp: seconds(auth.session.expiresAt),
  };
}

export const tokenRoutes: FastifyPluginAsync<{ services: Services }> = async (app, { services }) => {
  const cookieName = sessionCookieName(services.config.publicOrigin);
  await app.register(cookie);
  // RFC 7662 bodies are forms; parsed here only (this plugin's scope).
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });
  // A bad key file stops the start, not the first token request.
  await services.tokens.keys.ready();

  app.get('/.well-known/jwks.json', async (_request, reply) => {
    return reply.header('cache-control', 'public, max-age=300').send(await services.tokens.keys.jwks());
  });

  app.post('/auth/token', async (request, reply) => {
    const bearer = bearerOf(request);
    const fromCookie = bearer ? null : (request.cookies[cookieName] ?? null);
    if (fromCookie !== null) {
      const origin = request.headers.origin ?? null;
      if (origin === null || !allowedOrigins(services.config).has(origin)) {
        return oauthError(reply, 403, 'invalid_request', 'Cross-origin request refused');
      }
    }
    const auth: Authenticated | null = await authenticate(
      services,
      bearer ?? fromCookie,
      bearer ? 'bearer' : fromCookie ? 'cookie' : null,
    );
    if (!auth || (auth.apiKey && !auth.apiKey.scopes.includes('auth:check'))) {
      return oauthError(reply, 401, 'invalid_token', 'Send a valid session token, or an API key with auth:check');
    }
    try {
      const minted = await services.tokens.mint(auth, { audience: field(request.body, 'audience') });
      return reply.header('cache-control', 'no-store').send({
        access_token: minted.token,
        token_type: 'Bearer',
        expires_in: seconds(minted.expiresAt) - seconds(services.clock.now()),
        audience: minted.audience,
      });
    } catch (error) {
      if (error instanceof DomainError) return oauthError(reply, 400, 'invalid_request', error.message);
      throw error;
    }
  });

  app.post('/oauth/introspect', async (request, reply) => {
    const bearer = bearerOf(request);
    const caller = bearer ? await authenticate(services, bearer, 'bearer') : null;
    if (!caller?.apiKey || !caller.apiKey.scopes.includes('auth:check')) {
      return oauthError(reply, 401, 'invalid_client', 'Authenticate with an API key that has the auth:check scope');
    }
    const token = field(request.body, 'token');
    if (!token) return oauthError(reply, 400, 'invalid_request', 'Send the token to introspect as `token`');
    return reply.header('cache-control', 'no-store').send(await introspect(services, token));
  });
};
