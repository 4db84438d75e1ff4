/**
 * `@gatehouse/client/server` (issue 16): verifying Gatehouse's JWT access tokens in a Node service.
 *
 * ```ts
 * // import { createVerifier } (this module, the `@gatehouse/client/server` entry)
 * const gatehouse = createVerifier({ issuer: 'https://auth.example.com' });
 * app.addHook('onRequest', gatehouse.fastify());            // Fastify: request.gatehouse
 * app.use(gatehouse.express());                              // Express: req.gatehouse
 * app.use('*', gatehouse.hono());                            // Hono: c.get('gatehouse')
 * const user = await gatehouse.verify(token);               // anywhere
 * ```
 *
 * The JWKS is fetched from `<issuer>/.well-known/jwks.json` and cached by `jose` (a key id it has
 * not seen triggers one refetch, so a rotated key is picked up). Verification is local: no call to
 * Gatehouse per request. A token lives until its `exp` (minutes): for revocation at once, use
 * `/auth/check` or `/oauth/introspect` (docs/integrations.md).
 *
 * No framework is imported: the middlewares are typed structurally, so this entry pulls none in.
 */
import { createRemoteJWKSet, errors, jwtVerify, type JWTPayload } from 'jose';

/** The caller a valid token names. */
export interface GatehouseUser {
  id: string;
  email: string;
  name: string;
  role: 'admin' | 'member';
  /** The session the token was minted for; null for an API key's token. */
  sessionId: string | null;
  /** The API key the token was minted for; null for a session's token. */
  apiKeyId: string | null;
  /** The key's scopes (empty for a session). */
  scopes: string[];
  /** Every claim, as verified. */
  claims: JWTPayload;
}

export type GatehouseTokenErrorCode = 'missing' | 'invalid' | 'expired';

export class GatehouseTokenError extends Error {
  override readonly name = 'GatehouseTokenError';
  constructor(
    readonly code: GatehouseTokenErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export interface VerifierOptions {
  /** Gatehouse's public origin (the tokens' `iss`, JWT_ISSUER on the server). */
  issuer: string;
  /** The `aud` this service accepts (default `gatehouse`, the server's default JWT_AUDIENCE). */
  audience?: string | string[];
  /** Default `<issuer>/.well-known/jwks.json`. */
  jwksUrl?: string;
  /** Seconds of clock skew tolerated on `exp`/`iat` (default 5). */
  clockToleranceSeconds?: number;
  /**
   * Verified tokens remembered (by their exact text, signature included) until their `exp`, so a
   * token presented again costs a map look-up instead of an Ed25519 check (default 10 000; 0 = off).
   */
  cacheSize?: number;
}

interface MinimalHeaders {
  authorization?: string | undefined;
}

/** What the Fastify hook needs of a request and a reply (Fastify's own types satisfy it). */
export interface FastifyLikeRequest {
  headers: MinimalHeaders;
  gatehouse?: GatehouseUser;
}
export interface FastifyLikeReply {
  code(status: number): FastifyLikeReply;
  header(name: string, value: string): FastifyLikeReply;
  send(body: unknown): unknown;
}

/** What the Express middleware needs (Express's own types satisfy it). */
export interface ExpressLikeRequest {
  headers: MinimalHeaders;
  gatehouse?: GatehouseUser;
}
export interface ExpressLikeResponse {
  status(code: number): ExpressLikeResponse;
  set(name: string, value: string): ExpressLikeResponse;
  json(body: unknown): unknown;
}

/** What the Hono middleware needs of its context (Hono's own `Context` satisfies it). */
export interface HonoLikeContext {
  req: { header(name: string): string | undefined };
  set(key: 'gatehouse', value: GatehouseUser): void;
  json(body: unknown, status: 401, headers: Record<string, string>): Response;
}

/** Hono's `Variables` for `c.get('gatehouse')`: `new Hono<{ Variables: GatehouseVariables }>()`. */
export interface GatehouseVariables {
  gatehouse: GatehouseUser;
}

const BEARER = /^Bearer\s+(\S+)$/i;

function refusal(error: unknown): {
  status: 401;
  headers: Record<string, string>;
  body: { error: string; error_description: string };
} {
  const code = error instanceof GatehouseTokenError ? error.code : 'invalid';
  const description = error instanceof GatehouseTokenError ? error.message : 'Invalid token';
  const header = code === 'missing' ? 'Bearer' : `Bearer error="invalid_token"`;
  return {
    status: 401,
    headers: { 'www-authenticate': header },
    body: { error: code === 'missing' ? 'missing_token' : 'invalid_token', error_description: description },
  };
}

function text(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

export function createVerifier(options: VerifierOptions) {
  const issuer = new URL(options.issuer).origin;
  const audience = options.audience ?? 'gatehouse';
  const jwks = createRemoteJWKSet(new URL(options.jwksUrl ?? `${issuer}/.well-known/jwks.json`));
  const clockTolerance = options.clockToleranceSeconds ?? 5;
  const cacheSize = options.cacheSize ?? 10_000;
  /** Verified tokens by their exact text → the user and `exp` (seconds); oldest first. */
  const verified = new Map<string, { user: GatehouseUser; exp: number }>();

  /** The user a token names; GatehouseTokenError (`invalid`, `expired`) when it is not valid. */
  async function verify(token: string): Promise<GatehouseUser> {
    const hit = verified.get(token);
    if (hit) {
      if (Date.now() / 1000 - clockTolerance < hit.exp) return { ...hit.user, scopes: [...hit.user.scopes] };
      verified.delete(token);
      throw new GatehouseTokenError('expired', 'The token has expired');
    }
    const user = await verifyOnce(token);
    if (cacheSize > 0) {
      if (verified.size >= cacheSize) verified.delete(verified.keys().next().value as string);
      verified.set(token, { user, exp: user.claims.exp as number });
    }
    return { ...user, scopes: [...user.scopes] };
  }

  async function verifyOnce(token: string): Promise<GatehouseUser> {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, jwks, {
        issuer,
        audience,
        algorithms: ['EdDSA'],
        typ: 'at+jwt',
        clockTolerance,
        requiredClaims: ['sub', 'exp', 'iat'],
      }));
    } catch (error) {
      if (error instanceof errors.JWTExpired) throw new GatehouseTokenError('expired', 'The token has expired');
      throw new GatehouseTokenError('invalid', 'The token is not valid');
    }
    const role = payload.role === 'admin' ? 'admin' : 'member';
    return {
      id: payload.sub as string,
      email: text(payload.email),
      name: text(payload.name),
      role,
      sessionId: typeof payload.sid === 'string' ? payload.sid : null,
      apiKeyId: typeof payload.key === 'string' ? payload.key : null,
      scopes: typeof payload.scope === 'string' && payload.scope !== '' ? payload.scope.split(' ') : [],
      claims: payload,
    };
  }

  /** The user of an `Authorization: Bearer <jwt>` header; GatehouseTokenError `missing` without one. */
  function verifyHeader(header: string | undefined): Promise<GatehouseUser> {
    const token = header ? BEARER.exec(header)?.[1] : undefined;
    if (!token) return Promise.reject(new GatehouseTokenError('missing', 'Send Authorization: Bearer <token>'));
    return verify(token);
  }

  return {
    verify,
    verifyHeader,

    /** Fastify `onRequest`/`preHandler` hook: `request.gatehouse`, or 401. */
    fastify() {
      return async (request: FastifyLikeRequest, reply: FastifyLikeReply): Promise<void> => {
        try {
          request.gatehouse = await verifyHeader(request.headers.authorization);
        } catch (error) {
          const answer = refusal(error);
          let r = reply.code(answer.status);
          for (const [name, value] of Object.entries(answer.headers)) r = r.header(name, value);
          await r.send(answer.body);
        }
      };
    },

    /** Express middleware: `req.gatehouse`, or 401. */
    express() {
      return (request: ExpressLikeRequest, response: ExpressLikeResponse, next: (error?: unknown) => void): void => {
        verifyHeader(request.headers.authorization).then(
          (user) => {
            request.gatehouse = user;
            next();
          },
          (error: unknown) => {
            const answer = refusal(error);
            let r = response.status(answer.status);
            for (const [name, value] of Object.entries(answer.headers)) r = r.set(name, value);
            r.json(answer.body);
          },
        );
      };
    },

    /** Hono middleware: `c.get('gatehouse')`, or 401. */
    hono() {
      return async (c: HonoLikeContext, next: () => Promise<void>): Promise<Response | undefined> => {
        let user: GatehouseUser;
        try {
          user = await verifyHeader(c.req.header('authorization'));
        } catch (error) {
          const answer = refusal(error);
          return c.json(answer.body, answer.status, answer.headers);
        }
        c.set('gatehouse', user);
        await next();
        return undefined;
      };
    },
  };
}

export type GatehouseVerifier = ReturnType<typeof createVerifier>;
