import fp from 'fastify-plugin';
import helmet, { type HelmetOptions } from 'helmet';

/**
 * Helmet's security headers on every response. Helmet is used directly rather than through
 * @fastify/helmet, which rebuilt the whole middleware (CSP directives parsed again) on every
 * request: about 7 % of an `auth.me` request's CPU (docs/benchmarks.md). Built once here.
 */
export const securityHeaders = fp<HelmetOptions>(
  async (app, options) => {
    const setHeaders = helmet(options);
    app.addHook('onRequest', (request, reply, done) => {
      setHeaders(request.raw, reply.raw, (error?: unknown) => {
        if (error === undefined) done();
        else done(error instanceof Error ? error : new Error('security headers failed', { cause: error }));
      });
    });
  },
  { name: 'gatehouse-security-headers' },
);
