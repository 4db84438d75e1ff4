import type { FastifyPluginAsync } from 'fastify';
import { isDatabaseReady, type Db } from '@gatehouse/db';

/** `/health`: the process answers. `/ready`: the database answers too (for load balancers). */
export const healthRoutes: FastifyPluginAsync<{ db: Db }> = async (app, { db }) => {
  app.get('/health', async () => ({ status: 'ok' }));
  app.get('/ready', async (_request, reply) => {
    if (await isDatabaseReady(db)) return { status: 'ready' };
    return reply.code(503).send({ status: 'unavailable' });
  });
};
