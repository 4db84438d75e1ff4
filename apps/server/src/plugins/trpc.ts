import cookie from '@fastify/cookie';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { fastifyTRPCPlugin, type FastifyTRPCPluginOptions } from '@trpc/server/adapters/fastify';
import {
  appRouter,
  createContext,
  DomainError,
  type AppRouter,
  type ResponseControl,
  type Services,
} from '@gatehouse/api';

/** Design §3: `__Host-` prefixed and Secure when the dashboard is served over https. */
export function sessionCookieName(publicOrigin: string): string {
  return publicOrigin.startsWith('https:') ? '__Host-gatehouse_session' : 'gatehouse_session';
}

/** The device cookie (packages/api/src/throttle/device.ts), named like the session cookie. */
export function deviceCookieName(publicOrigin: string): string {
  return publicOrigin.startsWith('https:') ? '__Host-gatehouse_device' : 'gatehouse_device';
}

function bearerToken(header: string | undefined): string | null {
  if (!header) return null;
  const match = /^Bearer\s+(\S+)$/i.exec(header);
  return match?.[1] ?? null;
}

function responseControl(
  reply: FastifyReply,
  services: Services,
  name: string,
  secure: boolean,
  deviceName: string,
): ResponseControl {
  const attributes = { httpOnly: true, sameSite: 'lax', path: '/', secure } as const;
  return {
    setSessionCookie(token, expiresAt) {
      const maxAge = Math.max(0, Math.floor((expiresAt.getTime() - services.clock.now().getTime()) / 1000));
      reply.setCookie(name, token, { ...attributes, maxAge });
    },
    clearSessionCookie() {
      reply.clearCookie(name, attributes);
    },
    setDeviceCookie(value, expiresAt) {
      const maxAge = Math.max(0, Math.floor((expiresAt.getTime() - services.clock.now().getTime()) / 1000));
      reply.setCookie(deviceName, value, { ...attributes, maxAge });
    },
  };
}

export interface TrpcRoutesOptions {
  services: Services;
}

/**
 * The router at `/trpc`. Registered without fastify-plugin on purpose: the adapter's
 * pass-through body parsers must stay inside this scope (design §11).
 */
export const trpcRoutes: FastifyPluginAsync<TrpcRoutesOptions> = async (app, { services }) => {
  const publicOrigin = services.config.publicOrigin;
  const name = sessionCookieName(publicOrigin);
  const deviceName = deviceCookieName(publicOrigin);
  const secure = publicOrigin.startsWith('https:');
  await app.register(cookie);

  // The adapter would hand a multipart body to tRPC's FormData reader, which cannot read a
  // Fastify request and fails with a 500. No procedure takes FormData, and a multipart POST is
  // what a cross-site form can send without a preflight: refuse it before any procedure runs.
  app.addHook('onRequest', async (request, reply) => {
    const contentType = request.headers['content-type'];
    if (typeof contentType === 'string' && /^\s*multipart\//i.test(contentType)) {
      await reply.code(415).send({
        error: {
          code: 'UNSUPPORTED_MEDIA_TYPE',
          message: 'Send JSON (application/json); multipart bodies are not accepted.',
        },
      });
    }
  });

  const trpcOptions: FastifyTRPCPluginOptions<AppRouter>['trpcOptions'] = {
    router: appRouter,
    createContext: ({ req, res }: { req: FastifyRequest; res: FastifyReply }) => {
      const bearer = bearerToken(req.headers.authorization);
      const fromCookie = req.cookies[name] ?? null;
      return createContext(
        services,
        {
          ip: req.ip,
          userAgent: req.headers['user-agent'] ?? null,
          origin: req.headers.origin ?? null,
          token: bearer ?? fromCookie,
          tokenSource: bearer ? 'bearer' : fromCookie ? 'cookie' : null,
          deviceCookie: req.cookies[deviceName] ?? null,
        },
        responseControl(res, services, name, secure, deviceName),
      );
    },
    responseMeta({ errors }) {
      // Throttled callers learn how long to wait from the header too (design §5).
      const waits = errors
        .map((e) => (e.cause instanceof DomainError ? e.cause.details.retryAfterSeconds : undefined))
        .filter((s): s is number => typeof s === 'number');
      return waits.length > 0 ? { headers: { 'retry-after': String(Math.max(...waits)) } } : {};
    },
    onError({ error, path, req }) {
      // Expected failures (bad input, wrong password, throttling) are not server errors.
      if (error.code === 'INTERNAL_SERVER_ERROR')
        req.log.error({ err: error.cause ?? error, path }, 'procedure failed');
    },
  };
  await app.register(fastifyTRPCPlugin, { trpcOptions });
};
