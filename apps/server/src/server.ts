import cors from '@fastify/cors';
import { STATUS_CODES } from 'node:http';
import Fastify, {
  type FastifyInstance,
  type FastifyPluginAsync,
  type FastifyRequest,
  type FastifyServerOptions,
} from 'fastify';
import { allowedOrigins, systemClock, type Clock, type Services } from '@gatehouse/api';
import type { Db } from '@gatehouse/db';
import type { ServerConfig } from './config.js';
import { dashboardRoutes, hasDashboardBuild } from './plugins/dashboard.js';
import { healthRoutes } from './plugins/health.js';
import { lazySchemaCompilers } from './plugins/schema-compilers.js';
import { clientIp, redactUrl } from './plugins/request-guard.js';
import { securityHeaders } from './plugins/security-headers.js';
import { servicesPlugin } from './plugins/services.js';
import { trpcRoutes } from './plugins/trpc.js';
// #16 bridges
import { forwardAuthRoutes } from './plugins/forward-auth.js';
import { tokenRoutes } from './plugins/tokens.js';
import { openApiRoutes } from './plugins/openapi.js';
// #19 audit tiles
import { auditTilesRoutes } from './plugins/audit-tiles.js';

export interface BuildServerOptions {
  /** Injected time, for tests of expiry and renewal. */
  clock?: Clock;
  /**
   * Pino logger options, or false for silence (tests). Defaults to the configured level; a
   * `stream` receives the JSON lines (tests read them).
   */
  logger?: boolean | { level?: string; stream?: { write(line: string): void } };
  /** Plugins registered after Gatehouse's own (embedding, tests). One that fails closes the rest. */
  plugins?: FastifyPluginAsync[];
}

export interface GatehouseServer {
  app: FastifyInstance;
  services: Services;
  db: Db;
}

/** A caller's X-Request-Id is kept when it matches this; otherwise the server numbers requests. */
const TRACEABLE_ID = /^[\w.:/+=-]{1,128}$/;
let nextRequestId = 1;

function loggerOptions(config: ServerConfig, option: BuildServerOptions['logger']): FastifyServerOptions['logger'] {
  if (option === false) return false;
  const given = typeof option === 'object' ? option : {};
  return {
    level: given.level ?? config.logLevel,
    ...(given.stream ? { stream: given.stream } : {}),
    // Tokens travel in these headers: never write them to a log.
    redact: ['req.headers.authorization', 'req.headers.cookie', 'res.headers["set-cookie"]'],
    serializers: {
      // Fastify's request fields, but the URL without its `input` (a mutation sent by GET would
      // log its password) and the validated client address.
      req: (request: FastifyRequest) => ({
        method: request.method,
        url: redactUrl(request.url),
        host: request.host,
        remoteAddress: clientIp(request),
        remotePort: request.socket.remotePort,
      }),
    },
  };
}

/**
 * Assembles Gatehouse: one plugin per concern, the first of which opens the database (migrated)
 * and the services and closes them on `app.close()`. Call `app.listen({ port: 0 })` in tests;
 * `app.close()` finishes in-flight requests, then closes the services and the database. When any
 * registration fails, everything opened so far is closed before the error is thrown.
 */
export async function buildServer(config: ServerConfig, options: BuildServerOptions = {}): Promise<GatehouseServer> {
  const app = Fastify({
    logger: loggerOptions(config, options.logger),
    bodyLimit: config.bodyLimit,
    // A hop count as proxy-addr applies it (Fastify's types list no number form).
    trustProxy:
      typeof config.trustProxy === 'number'
        ? (_address: string, hop: number) => hop < (config.trustProxy as number)
        : config.trustProxy,
    // A caller's (or proxy's) X-Request-Id is kept for tracing when it looks like an id; anything
    // else (overlong, odd characters) gets an id of ours, so it cannot bloat or garble the logs.
    requestIdHeader: false,
    genReqId: (request) => {
      const given = request.headers['x-request-id'];
      return typeof given === 'string' && TRACEABLE_ID.test(given) ? given : `req-${(nextRequestId++).toString(36)}`;
    },
    routerOptions: { maxParamLength: 5000 },
    schemaController: { compilersFactory: lazySchemaCompilers() },
    forceCloseConnections: 'idle',
  });
  try {
    await registerPlugins(app, config, options);
  } catch (error) {
    // Runs the onClose hooks of what did register: the services and the database among them.
    await app.close().catch((closeError: unknown) => app.log.error({ err: closeError }, 'close after failed start'));
    throw error;
  }
  return { app, services: app.services, db: app.db };
}

/** Gatehouse's plugins in order; the first (services) owns the database. */
async function registerPlugins(app: FastifyInstance, config: ServerConfig, options: BuildServerOptions): Promise<void> {
  await app.register(servicesPlugin, {
    databaseUrl: config.databaseUrl,
    databasePoolSize: config.databasePoolSize,
    api: config.api,
    clock: options.clock ?? systemClock,
  });
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  // Graceful shutdown: responses finishing after close() began end their keep-alive
  // connection, so the server can close once in-flight requests are done.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onSend', async (_request, reply) => {
    if (closing) reply.header('connection', 'close');
  });

  // Client errors keep their message (bad JSON, body too large); server errors never echo an
  // internal message, which could carry a path, a query or a secret.
  app.setErrorHandler(async (error: { statusCode?: number; message: string; code?: string }, request, reply) => {
    const statusCode =
      typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 600
        ? error.statusCode
        : 500;
    if (statusCode >= 500) {
      request.log.error({ err: error }, 'request failed');
      return reply
        .code(statusCode)
        .send({ statusCode, error: 'Internal Server Error', message: 'Internal server error' });
    }
    return reply
      .code(statusCode)
      .send({ statusCode, code: error.code, error: STATUS_CODES[statusCode] ?? 'Error', message: error.message });
  });

  // #16 forward auth answers reverse proxies, not browsers: a plain route outside the browser-facing
  // stack below (security headers, CORS), which cost it half its speed (issue 18, docs/benchmarks.md).
  await app.register(forwardAuthRoutes, { services: app.services });
  // Everything a browser or an API client talks to, in one encapsulated context.
  await app.register(async (web) => {
    await registerWebPlugins(web, config);
  });
  for (const plugin of options.plugins ?? []) await app.register(plugin);
}

/** The browser- and client-facing plugins: security headers and CORS apply to each of them. */
async function registerWebPlugins(web: FastifyInstance, config: ServerConfig): Promise<void> {
  const servedOverHttps = config.api.publicOrigin.startsWith('https:');
  await web.register(securityHeaders, {
    // The dashboard is a same-origin SPA: scripts and styles from 'self' only.
    contentSecurityPolicy: {
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", 'data:'],
        connectSrc: ["'self'"],
        frameAncestors: ["'none'"],
        formAction: ["'self'"],
        // Only behind HTTPS: on a plain-HTTP deployment (a LAN address) browsers would rewrite the
        // dashboard's own script and API URLs to https:// and the page would not load.
        upgradeInsecureRequests: servedOverHttps ? [] : null,
      },
    },
    crossOriginResourcePolicy: { policy: 'same-origin' },
    strictTransportSecurity: servedOverHttps,
  });
  await web.register(cors, {
    origin: [...allowedOrigins(config.api)],
    credentials: true,
    methods: ['GET', 'POST'],
    maxAge: 600,
  });
  await web.register(healthRoutes, { db: web.db });
  await web.register(trpcRoutes, { prefix: '/trpc', services: web.services });
  await web.register(tokenRoutes, { services: web.services });
  await web.register(openApiRoutes, { services: web.services });
  // #19 audit tiles
  await web.register(auditTilesRoutes, { services: web.services, publicTiles: config.auditPublicTiles });
  if (hasDashboardBuild(config.dashboardDir)) {
    await web.register(dashboardRoutes, { root: config.dashboardDir });
  }
}
