/**
 * (B) A bare tRPC ping on the Fastify + tRPC setup Gatehouse uses (apps/server/src/server.ts and
 * packages/api/src/trpc.ts): Fastify 5 with maxParamLength 5000, fastifyTRPCPlugin at /trpc
 * (registered without fastify-plugin), superjson.
 */
import { initTRPC } from '@trpc/server';
import { fastifyTRPCPlugin } from '@trpc/server/adapters/fastify';
import Fastify from 'fastify';
import superjson from 'superjson';

const t = initTRPC.create({ transformer: superjson });
const router = t.router({ ping: t.procedure.query(() => ({ ok: true })) });

const app = Fastify({ logger: false, routerOptions: { maxParamLength: 5000 } });
await app.register(fastifyTRPCPlugin, { prefix: '/trpc', trpcOptions: { router } });
const url = await app.listen({ port: 0, host: '127.0.0.1' });
process.stdout.write(`READY ${url}/trpc/ping\n`);
process.once('SIGTERM', () => void app.close().then(() => process.exit(0)));
