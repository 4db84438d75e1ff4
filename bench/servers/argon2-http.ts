/**
 * The sign-in floor: the least an HTTP sign-in can do. A bare Fastify route (the framework
 * Gatehouse runs on) that parses the same request body as `auth.signIn`, verifies the password
 * with Argon2id at Gatehouse's parameters (m = 19456 KiB, t = 2, p = 1) against a hash held in
 * memory, keeps the SHA-256 of a fresh 32-byte session token in memory and sets it as a cookie.
 * No database, no transaction, no audit event, no throttle: whatever CPU a sign-in costs beyond
 * this route's is Gatehouse's own.
 *
 * Env: IDENTIFIERS (comma-separated), PASSWORD. Prints `READY <url>`.
 */
import { createHash, randomBytes } from 'node:crypto';
import { hash, verify } from '@node-rs/argon2';
import Fastify from 'fastify';
import { ARGON2ID } from '../lib/argon2.js';

const identifiers = (process.env.IDENTIFIERS ?? '').split(',').filter(Boolean);
const password = process.env.PASSWORD ?? 'bench-User-pass-3141';

const hashes = new Map<string, string>();
for (const identifier of identifiers) hashes.set(identifier, await hash(password, ARGON2ID));
const sessions = new Map<string, string>();

interface Body {
  json?: { identifier?: unknown; password?: unknown };
}

const app = Fastify({ logger: false });
app.post('/sign-in', async (request, reply) => {
  const input = (request.body as Body | null)?.json;
  const stored = typeof input?.identifier === 'string' ? hashes.get(input.identifier) : undefined;
  if (!stored || typeof input?.password !== 'string' || !(await verify(stored, input.password))) {
    return reply.code(401).send({ ok: false });
  }
  const token = randomBytes(32).toString('base64url');
  sessions.set(createHash('sha256').update(token).digest('base64url'), input.identifier as string);
  // Bounded like Gatehouse's per-user cap, so memory stays flat through the storm.
  if (sessions.size > 1024) sessions.delete(sessions.keys().next().value as string);
  return reply.header('set-cookie', `session=${token}; Path=/; HttpOnly; SameSite=Lax`).send({ ok: true });
});
const url = await app.listen({ port: 0, host: '127.0.0.1' });
process.stdout.write(`READY ${url}\n`);
process.once('SIGTERM', () => void app.close().then(() => process.exit(0)));
