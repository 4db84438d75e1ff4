import { existsSync } from 'node:fs';
import { join, sep } from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyPluginAsync } from 'fastify';

/**
 * Serves the dashboard's production build at `/`, with the SPA fallback: every other GET that
 * accepts HTML gets index.html so client-side routes survive a reload.
 */
export const dashboardRoutes: FastifyPluginAsync<{ root: string }> = async (app, { root }) => {
  await app.register(fastifyStatic, {
    root,
    wildcard: false,
    index: 'index.html',
    cacheControl: false,
    setHeaders(res, path) {
      // Vite's hashed asset names never change content: cache them for a year. Pages revalidate.
      res.setHeader(
        'cache-control',
        path.includes(`${sep}assets${sep}`) ? 'public, max-age=31536000, immutable' : 'no-cache',
      );
    },
  });
  app.setNotFoundHandler((request, reply) => {
    const wantsHtml = request.method === 'GET' && (request.headers.accept ?? '').includes('text/html');
    if (wantsHtml && !request.url.startsWith('/trpc'))
      return reply.header('cache-control', 'no-cache').sendFile('index.html');
    return reply.code(404).send({ error: 'Not Found' });
  });
};

export function hasDashboardBuild(dir: string | null): dir is string {
  return dir !== null && existsSync(join(dir, 'index.html'));
}
