import cors from '@fastify/cors';
import { STATUS_CODES } from 'node:http';
import Fastify, { type FastifyInstance } from 'fastify';
import { allowedOrigins, createServices, systemClock, type Clock, type Services } from '@gatehouse/api';
import { createDb, migrateToLatest, type Db } from '@gatehouse/db';
import type { ServerConfig } from './config.js';
import { dashboardRoutes, hasDashboardBuild } from './plugins/dashboard.js';
import { healthRoutes } from './plugins/health.js';
import { securityHeaders } from './plugins/security-headers.js';
import { trpcRoutes } from './plugins/trpc.js';

export interface BuildServerOptions {
  /** Injected time, for tests of expiry and renewal. */
  clock?: Clock;
  /** Pino logger options, or false for silence (tests). Defaults to the configured level. */
  logger?: boolean | { level: string };
}

export interface GatehouseServer {
  app: FastifyInstance;
  services: Services;
  db: Db;
}

/** A caller's X-Request-Id is kept when it matches this; otherwise the server numbers requests. */
const TRACEABLE_ID = /^[\w.:/+=-]{1,128}$/;
let nextRequestId = 1;

/**
 * Assembles Gatehouse: database (migrated), services, then one plugin per concern. Call
 * `app.listen({ port: 0 })` in tests; `app.close()` finishes in-flight requests and closes
 * the services and the database.
 */
export async function buildServer(config: ServerConfig, options: BuildServerOptions = {}): Promise<GatehouseServer> {
  const db = createDb(config.databaseUrl, { poolSize: config.databasePoolSize });
  try {
    await migrateToLatest(db);
  } catch (error) {
    await db.close();
    throw error;
  }
  const services = await createServices({ db, config: config.api, clock: options.clock ?? systemClock });

  const app = Fastify({
    logger: options.logger ?? {
      level: config.logLevel,
      // Tokens travel in these headers: never write them to a log.
      redact: ['req.headers.authorization', 'req.headers.cookie', 'res.headers["set-cookie"]'],
    },
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
    forceCloseConnections: 'idle',
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

  const servedOverHttps = config.api.publicOrigin.startsWith('https:');
  await app.register(securityHeaders, {
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
  await app.register(cors, {
    origin: [...allowedOrigins(config.api)],
    credentials: true,
    methods: ['GET', 'POST'],
    maxAge: 600,
  });
  await app.register(healthRoutes, { db });
  await app.register(trpcRoutes, { prefix: '/trpc', services });
  if (hasDashboardBuild(config.dashboardDir)) {
    await app.register(dashboardRoutes, { root: config.dashboardDir });
  }

  app.addHook('onClose', async () => {
    await services.close();
    await db.close();
  });
  return { app, services, db };
}
