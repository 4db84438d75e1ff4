import cookie from '@fastify/cookie';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { TRPCError } from '@trpc/server';
import { TRPC_ERROR_CODES_BY_KEY, type TRPC_ERROR_CODE_KEY } from '@trpc/server/rpc';
import {
  appRouter,
  createContext,
  DomainError,
  type AppRouter,
  type ErrorReason,
  type ResponseControl,
  type Services,
} from '@gatehouse/api';
import { areWellFormedInputs, batchRefusal, clientIp } from './request-guard.js';
import { trpcAdapter, type TrpcAdapterOptions } from './trpc-adapter.js';

/** Design §3: `__Host-` prefixed and Secure when the dashboard is served over https. */
function sessionCookieName(publicOrigin: string): string {
  return publicOrigin.startsWith('https:') ? '__Host-gatehouse_session' : 'gatehouse_session';
}

/** The device cookie (packages/api/src/throttle/device.ts), named like the session cookie. */
function deviceCookieName(publicOrigin: string): string {
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

/** A request-level refusal, formatted by tRPC like any other error (with `error.data.reason`). */
function refuse(cause: DomainError): TRPCError {
  return new TRPCError({ code: 'BAD_REQUEST', message: cause.message, cause });
}

/** The raw inputs as tRPC will read them: the `input` query parameter of a GET, a POST's body. */
function rawInputs(req: FastifyRequest): string | undefined {
  if (req.method === 'GET') return new URL(req.url, 'http://gatehouse.invalid').searchParams.get('input') ?? undefined;
  return typeof req.body === 'string' ? req.body : undefined;
}

/**
 * An answer made here, before tRPC, in the shape tRPC gives its own errors (superjson's `json`,
 * `data.code`, `data.reason`), so the client reads it as a GatehouseError with a reason.
 */
function refusalBody(status: number, code: TRPC_ERROR_CODE_KEY, reason: ErrorReason, message: string) {
  return {
    error: {
      json: {
        message,
        code: TRPC_ERROR_CODES_BY_KEY[code],
        data: { code, httpStatus: status, reason, zodError: null, retryAfterSeconds: null, field: null },
      },
    },
  };
}

/** What tRPC serves: queries and subscriptions by GET, mutations by POST; HEAD gets tRPC's 204. */
const SERVED_METHODS = new Set(['GET', 'HEAD', 'POST']);

export interface TrpcRoutesOptions {
  services: Services;
}

/**
 * The router at `/trpc`. Registered without fastify-plugin on purpose: the adapter's
 * pass-through body parsers must stay inside this scope (architecture §11).
 */
export const trpcRoutes: FastifyPluginAsync<TrpcRoutesOptions> = async (app, { services }) => {
  const publicOrigin = services.config.publicOrigin;
  const name = sessionCookieName(publicOrigin);
  const deviceName = deviceCookieName(publicOrigin);
  const secure = publicOrigin.startsWith('https:');
  await app.register(cookie);

  // The adapter routes every method to tRPC, which failed TRACE, PUT, DELETE… with a 500 and an
  // error log each. They are not ours: 405 with the methods that are. Methods Fastify has no
  // route for at all (PROPFIND…) reach the not-found handler below and get the same answer.
  const refuseMethod = (request: FastifyRequest, reply: FastifyReply) =>
    reply
      .code(405)
      .header('allow', 'GET, HEAD, POST')
      .send(refusalBody(405, 'METHOD_NOT_SUPPORTED', 'malformed_request', `${request.method} is not supported here`));
  app.addHook('onRequest', async (request, reply) => {
    if (!SERVED_METHODS.has(request.method)) await refuseMethod(request, reply);
  });
  app.setNotFoundHandler(async (request, reply) => {
    if (!SERVED_METHODS.has(request.method)) return refuseMethod(request, reply);
    return reply.code(404).send(refusalBody(404, 'NOT_FOUND', 'not_found', 'No such procedure'));
  });

  // Answers here carry identity (a session, a token, users, the audit log): no cache may keep
  // them. tRPC's own answers get the header from responseMeta too; this covers every other one.
  app.addHook('onSend', async (_request, reply) => {
    reply.header('cache-control', 'no-store');
  });

  // The adapter would hand a multipart body to tRPC's FormData reader, which cannot read a
  // Fastify request and fails with a 500. No procedure takes FormData, and a multipart POST is
  // what a cross-site form can send without a preflight: refuse it before any procedure runs.
  app.addHook('onRequest', async (request, reply) => {
    const contentType = request.headers['content-type'];
    if (typeof contentType === 'string' && /^\s*multipart\//i.test(contentType)) {
      await reply
        .code(415)
        .send(
          refusalBody(
            415,
            'UNSUPPORTED_MEDIA_TYPE',
            'malformed_request',
            'Send JSON (application/json); multipart bodies are not accepted.',
          ),
        );
    }
  });

  const trpcOptions: TrpcAdapterOptions<AppRouter> = {
    router: appRouter,
    createContext: ({ req, res, info }) => {
      // Before any procedure runs or superjson reads an input: a batch within limits, envelopes
      // that superjson can apply (a malformed `meta` sent it into endless recursion).
      const refusal = batchRefusal(info.calls.map((call) => call.path));
      if (refusal !== null) throw refuse(new DomainError('BAD_REQUEST', 'batch_refused', refusal));
      if (!areWellFormedInputs(rawInputs(req), info.isBatchCall, info.calls.length)) {
        throw refuse(new DomainError('BAD_REQUEST', 'malformed_request', 'Malformed request'));
      }
      const bearer = bearerToken(req.headers.authorization);
      const fromCookie = req.cookies[name] ?? null;
      return createContext(
        services,
        {
          ip: clientIp(req),
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
      // Appended to tRPC's own headers: its `Vary: trpc-accept, accept` replaced the `Vary: Origin`
      // that CORS set, while the answer reflects Access-Control-Allow-Origin per origin.
      const headers = new Headers([
        ['vary', 'Origin'],
        ['cache-control', 'no-store'],
      ]);
      // Throttled callers learn how long to wait from the header too (architecture §5).
      const waits = errors
        .map((e) => (e.cause instanceof DomainError ? e.cause.details.retryAfterSeconds : undefined))
        .filter((s): s is number => typeof s === 'number');
      if (waits.length > 0) headers.set('retry-after', String(Math.max(...waits)));
      return { headers };
    },
    onError({ error, path, req }) {
      // Expected failures (bad input, wrong password, throttling) are not server errors.
      if (error.code === 'INTERNAL_SERVER_ERROR')
        req.log.error({ err: error.cause ?? error, path }, 'procedure failed');
    },
  };
  await app.register(trpcAdapter<AppRouter>, { trpcOptions });
};
