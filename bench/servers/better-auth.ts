/**
 * (E) better-auth's get-session behind its documented Fastify integration (a catch-all route that
 * turns the request into a Fetch Request with `fromNodeHeaders` and forwards the Response), on
 * better-sqlite3 (WAL, like Gatehouse). Rate limiter off. COOKIE_CACHE=on enables
 * `session.cookieCache` (the session is then read from a signed cookie, not the database).
 *
 * It opens SQLite with the better-sqlite3 build Gatehouse loads on this Node (12 on Node 20, 13 on
 * Node 24: packages/db/src/sqlite.ts), so both sides run the same SQLite code.
 *
 * Env: PORT, DB_FILE, COOKIE_CACHE (on|off).
 */
import { BetterSqlite3 as Database } from '@gatehouse/db';
import { betterAuth } from 'better-auth';
import { getMigrations } from 'better-auth/db/migration';
import { fromNodeHeaders } from 'better-auth/node';
import Fastify from 'fastify';

const port = Number(process.env.PORT ?? 0);
const file = process.env.DB_FILE;
if (!file) throw new Error('DB_FILE is required');
const baseURL = `http://127.0.0.1:${port}`;

const database = new Database(file);
database.pragma('journal_mode = WAL');

const options = {
  database,
  baseURL,
  secret: 'bench-only-secret-0123456789abcdef0123456789abcdef',
  emailAndPassword: { enabled: true },
  rateLimit: { enabled: false },
  telemetry: { enabled: false },
  session: { cookieCache: { enabled: process.env.COOKIE_CACHE === 'on', maxAge: 300 } },
};
const { runMigrations } = await getMigrations(options);
await runMigrations();
const auth = betterAuth(options);

const app = Fastify({ logger: false });
app.route({
  method: ['GET', 'POST'],
  url: '/api/auth/*',
  async handler(request, reply) {
    try {
      const url = new URL(request.url, `http://${request.headers.host}`);
      const req = new Request(url.toString(), {
        method: request.method,
        headers: fromNodeHeaders(request.headers),
        ...(request.body ? { body: JSON.stringify(request.body) } : {}),
      });
      const response = await auth.handler(req);
      reply.status(response.status);
      response.headers.forEach((value, key) => {
        reply.header(key, value);
      });
      return reply.send(response.body ? await response.text() : null);
    } catch (error) {
      app.log.error(error);
      return reply.status(500).send({ error: 'Internal authentication error', code: 'AUTH_FAILURE' });
    }
  },
});
const url = await app.listen({ port, host: '127.0.0.1' });
process.stdout.write(`READY ${url}\n`);
process.once(
  'SIGTERM',
  () =>
    void app.close().then(() => {
      database.close();
      process.exit(0);
    }),
);
