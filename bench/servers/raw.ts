/** (A) The ceiling: a bare Fastify route answering small JSON. */
import Fastify from 'fastify';

const app = Fastify({ logger: false });
app.get('/ping', () => Promise.resolve({ ok: true }));
const url = await app.listen({ port: 0, host: '127.0.0.1' });
process.stdout.write(`READY ${url}/ping\n`);
process.once('SIGTERM', () => void app.close().then(() => process.exit(0)));
