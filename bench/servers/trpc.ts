/**
 * (B) A bare tRPC ping on the Fastify + tRPC setup Gatehouse uses (apps/server/src/server.ts and
 * packages/api/src/trpc.ts): Fastify 5 with maxParamLength 5000, tRPC at /trpc (registered
 * without fastify-plugin), superjson. `ADAPTER=lean` (B) mounts Gatehouse's own adapter
 * (apps/server/src/plugins/trpc-adapter.ts), `ADAPTER=stock` (B0) tRPC's fastifyTRPCPlugin, which
 * Gatehouse used until issue 18.
 */
import { initTRPC } from '@trpc/server';
import { fastifyTRPCPlugin } from '@trpc/server/adapters/fastify';
import { trpcAdapter } from '@gatehouse/server/trpc-adapter';
import Fastify from 'fastify';
import superjson from 'superjson';

const t = initTRPC.create({ transformer: superjson });
const router = t.router({ ping: t.procedure.query(() => ({ ok: true })) });

const app = Fastify({ logger: false, routerOptions: { maxParamLength: 5000 } });
if (process.env.ADAPTER === 'stock') {
  await app.register(fastifyTRPCPlugin, { prefix: '/trpc', trpcOptions: { router } });
} else {
  await app.register(trpcAdapter<typeof router>, {
    prefix: '/trpc',
    trpcOptions: { router, createContext: () => ({}) },
  });
}
const url = await app.listen({ port: 0, host: '127.0.0.1' });
process.stdout.write(`READY ${url}/trpc/ping\n`);
process.once('SIGTERM', () => void app.close().then(() => process.exit(0)));
