/**
 * Forward auth for reverse proxies (issue 16): nginx `auth_request`, Caddy `forward_auth`,
 * Traefik `forwardAuth` ask `GET /auth/check` before letting a request through to an app.
 *
 * A plain Fastify route on the session and API key caches — no tRPC, no body, no JSON on the
 * path. The answer:
 * - 200 with `X-Gatehouse-User-Id`, `-Email`, `-Name`, `-Role`, `-Kind` and `-Session-Id` (a
 *   session) or `-Api-Key-Id` (an API key with the `auth:check` scope; the other one empty) when the session cookie or
 *   the bearer token is valid. Values outside printable ASCII are percent-encoded (UTF-8), so a
 *   name like "Zoë" arrives as `Zo%C3%AB`; ASCII arrives as is.
 * - 403 with `?role=admin` when the caller is valid but not an administrator.
 * - 401 otherwise; with `?redirect=1` (Caddy, Traefik: they pass a non-2xx answer on to the
 *   browser) a browser navigation gets a 302 to the sign-in screen with the original URL rebuilt
 *   from `X-Forwarded-Proto/-Host/-Uri`, when that URL's origin is allow-listed. nginx turns
 *   anything but 2xx/401/403 into a 500, so with nginx use `error_page 401` → `/auth/sign-in?rd=…`.
 *
 * `GET /auth/sign-in?rd=<url>` (or, from nginx's `error_page`, the X-Forwarded-* URL) is that sign-in entry: signed in already → 302 to `rd`; else 302
 * to the dashboard, which comes back here after signing in (`?return_to=`). `rd` must be on an
 * allow-listed origin (PUBLIC_ORIGIN, TRUSTED_ORIGINS, FORWARD_AUTH_ORIGINS), else the dashboard
 * itself: never an open redirect.
 */
import cookie from '@fastify/cookie';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { authenticate, returnOrigins, type Authenticated, type Services } from '@gatehouse/api';

/** Design §3: `__Host-` prefixed and Secure when the dashboard is served over https. */
export function sessionCookieName(publicOrigin: string): string {
  return publicOrigin.startsWith('https:') ? '__Host-gatehouse_session' : 'gatehouse_session';
}

const BEARER = /^Bearer\s+(\S+)$/i;

/** Percent-encodes what a header cannot carry (controls, `%`, anything beyond ASCII). */
function headerValue(text: string): string {
  return /^[\x20-\x24\x26-\x7e]*$/.test(text) ? text : encodeURIComponent(text).replace(/%20/g, ' ');
}

/** The caller of a check: the bearer token (session or API key) or the session cookie. */
async function identify(
  services: Services,
  request: FastifyRequest,
  cookieName: string,
): Promise<{ auth: Authenticated; cookie: string | null } | null> {
  const header = request.headers.authorization;
  const bearer = header ? (BEARER.exec(header)?.[1] ?? null) : null;
  const cookie = bearer ? null : (request.cookies[cookieName] ?? null);
  const auth = await authenticate(services, bearer ?? cookie, bearer ? 'bearer' : cookie ? 'cookie' : null);
  if (!auth) return null;
  // A key proves identity to other services only with the auth:check scope.
  if (auth.apiKey && !auth.apiKey.scopes.includes('auth:check')) return null;
  return { auth, cookie };
}

function single(value: string | string[] | undefined): string | null {
  return typeof value === 'string' ? value : (value?.[0] ?? null);
}

/** The URL the browser asked the proxy for, from the X-Forwarded-* headers; null when incomplete or malformed. */
function originalUrl(request: FastifyRequest): URL | null {
  const proto = single(request.headers['x-forwarded-proto']);
  const host = single(request.headers['x-forwarded-host']);
  const uri = single(request.headers['x-forwarded-uri']) ?? '/';
  if (!proto || !host || !/^https?$/.test(proto) || !uri.startsWith('/')) return null;
  try {
    return new URL(`${proto}://${host}${uri}`);
  } catch {
    return null;
  }
}

function isBrowserNavigation(request: FastifyRequest): boolean {
  const mode = single(request.headers['sec-fetch-mode']);
  if (mode !== null) return mode === 'navigate';
  return (single(request.headers.accept) ?? '').includes('text/html');
}

/** `rd` when it is a URL on an allow-listed origin; otherwise null. */
function allowedReturn(services: Services, rd: string | null | undefined): URL | null {
  if (!rd) return null;
  try {
    const url = new URL(rd);
    return returnOrigins(services.config).has(url.origin) ? url : null;
  } catch {
    return null;
  }
}

function signInUrl(services: Services, returnTo: URL): string {
  return `${new URL(services.config.publicOrigin).origin}/auth/sign-in?rd=${encodeURIComponent(returnTo.href)}`;
}

function noStore(reply: FastifyReply): FastifyReply {
  return reply.header('cache-control', 'no-store');
}

export const forwardAuthRoutes: FastifyPluginAsync<{ services: Services }> = async (app, { services }) => {
  const cookieName = sessionCookieName(services.config.publicOrigin);
  const secure = services.config.publicOrigin.startsWith('https:');
  await app.register(cookie);

  app.get<{ Querystring: { role?: string; redirect?: string } }>('/auth/check', async (request, reply) => {
    noStore(reply);
    const identified = await identify(services, request, cookieName);
    if (!identified) {
      if (request.query.redirect === '1' && isBrowserNavigation(request)) {
        const target = allowedReturn(services, originalUrl(request)?.href);
        if (target) return reply.redirect(signInUrl(services, target), 302);
      }
      return reply.code(401).send();
    }
    const { auth, cookie } = identified;
    const { user } = auth;
    // The session's expiry slid: the browser's cookie must live as long. The proxy can pass this
    // Set-Cookie on to the browser (nginx: auth_request_set + add_header; docs/integrations.md).
    if (auth.renewed && cookie !== null) {
      const maxAge = Math.max(
        0,
        Math.floor((auth.session.expiresAt.getTime() - services.clock.now().getTime()) / 1000),
      );
      reply.setCookie(cookieName, cookie, { httpOnly: true, sameSite: 'lax', path: '/', secure, maxAge });
    }
    if (request.query.role === 'admin' && user.role !== 'admin') return reply.code(403).send();
    reply
      .header('x-gatehouse-user-id', user.id)
      .header('x-gatehouse-email', headerValue(user.email))
      .header('x-gatehouse-name', headerValue(user.name))
      .header('x-gatehouse-role', user.role)
      .header('x-gatehouse-kind', user.kind);
    // Both always present (one empty): a proxy copying a header the answer lacks may pass on
    // something odd (Caddy 2.6 copies the unresolved placeholder text).
    reply
      .header('x-gatehouse-session-id', auth.apiKey ? '' : auth.session.id)
      .header('x-gatehouse-api-key-id', auth.apiKey ? auth.apiKey.id : '');
    return reply.code(200).send();
  });

  app.get<{ Querystring: { rd?: string } }>('/auth/sign-in', async (request, reply) => {
    noStore(reply);
    const dashboard = new URL(services.config.publicOrigin).origin;
    // nginx's `error_page 401` lands here through the proxy: the original URL is in X-Forwarded-*,
    // and a request that is not a browser navigation (an API call) keeps its 401.
    if (request.query.rd === undefined && !isBrowserNavigation(request)) return reply.code(401).send();
    const target = allowedReturn(services, request.query.rd ?? originalUrl(request)?.href);
    if (!target) return reply.redirect(`${dashboard}/`, 302);
    const token = request.cookies[cookieName];
    const signedIn = token ? await authenticate(services, token, 'cookie') : null;
    if (signedIn) return reply.redirect(target.href, 302);
    return reply.redirect(`${dashboard}/?return_to=${encodeURIComponent(target.href)}#/`, 302);
  });
};
