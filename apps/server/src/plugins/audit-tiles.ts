/**
 * #19: the audit log as C2SP tlog-tiles at `/audit/tlog/` (`checkpoint`, `tile/<L>/<N>[.p/<W>]`,
 * `tile/entries/<N>[.p/<W>]`). Public when AUDIT_PUBLIC_TILES=true (public transparency);
 * otherwise an admin's session (cookie or `Authorization: Bearer`) or an admin's API key with the
 * `audit:read` scope is required — the same caller check as the tRPC procedures (`authenticate`).
 */
import cookie from '@fastify/cookie';
import type { FastifyPluginAsync } from 'fastify';
import { authenticate, serveTlog, type Services } from '@gatehouse/api';

export interface AuditTilesOptions {
  services: Services;
  publicTiles: boolean;
}

export const auditTilesRoutes: FastifyPluginAsync<AuditTilesOptions> = async (app, { services, publicTiles }) => {
  if (!app.hasDecorator('parseCookie')) await app.register(cookie);
  const cookieName = services.config.publicOrigin.startsWith('https:')
    ? '__Host-gatehouse_session'
    : 'gatehouse_session';

  async function isAdmin(
    authorization: string | undefined,
    cookies: Record<string, string | undefined>,
  ): Promise<boolean> {
    const bearer = authorization !== undefined ? /^Bearer\s+(\S+)$/i.exec(authorization)?.[1] : undefined;
    const auth = bearer
      ? await authenticate(services, bearer, 'bearer')
      : await authenticate(services, cookies[cookieName], 'cookie');
    if (auth === null || !auth.user.isActive || auth.user.role !== 'admin') return false;
    return auth.apiKey === null || auth.apiKey.scopes.includes('audit:read');
  }

  app.get('/audit/tlog/*', async (req, reply) => {
    if (!publicTiles && !(await isAdmin(req.headers.authorization, req.cookies))) {
      return reply
        .code(401)
        .header('cache-control', 'no-store')
        .type('text/plain; charset=utf-8')
        .send('an admin session is required (or set AUDIT_PUBLIC_TILES=true)\n');
    }
    const path = (req.params as { '*': string })['*'];
    const tile = await serveTlog(services.db.kysely, path);
    return reply
      .code(tile.status)
      .type(tile.contentType)
      .header(
        'cache-control',
        tile.immutable ? 'public, max-age=31536000, immutable' : publicTiles ? 'no-cache' : 'private, no-cache',
      )
      .send(tile.body);
  });
};
