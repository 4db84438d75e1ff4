/**
 * Crash (issue 8): the built server on a SQLite file takes concurrent writes (accounts created,
 * sign-ins opening sessions) and is killed with SIGKILL while they are in flight, twice. After
 * each restart every acknowledged write is there (the account, its `user.created` audit event,
 * the session still signs its bearer in), the database is consistent and the audit log verifies.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createDb } from '@gatehouse/db';
import {
  ADMIN,
  checkDatabase,
  createFirstAdmin,
  ok,
  spawnServer,
  trpc,
  verifyAudit,
  type ServerProcess,
  type SignedIn,
} from './harness.js';

const WORKERS = 6;
const dir = mkdtempSync(join(tmpdir(), 'gatehouse-crash-'));
const databaseUrl = `file:${join(dir, 'gatehouse.db')}`;
const env = { SESSION_MAX_PER_USER: '1000' };
let server: ServerProcess | null = null;

afterAll(async () => {
  await server?.kill9();
  rmSync(dir, { recursive: true, force: true });
});

interface Acknowledged {
  users: string[];
  tokens: string[];
}

/** Writes from WORKERS concurrent clients until `stop` resolves; only 200 answers count as acknowledged. */
async function writeUntil(
  url: string,
  adminToken: string,
  round: number,
  stop: Promise<void>,
  acked: Acknowledged,
): Promise<number> {
  let stopped = false;
  void stop.then(() => (stopped = true));
  let attempts = 0;
  await Promise.all(
    Array.from({ length: WORKERS }, async (_, worker) => {
      for (let i = 0; !stopped; i++) {
        attempts++;
        try {
          if ((worker + i) % 2 === 0) {
            const result = await trpc<{ id: string }>(
              url,
              'mutation',
              'user.create',
              {
                email: `r${round}-w${worker}-${i}@crash.test`,
                name: `Crash ${round}.${worker}.${i}`,
                password: 'crash-Member-pass-1618',
              },
              adminToken,
            );
            if (result.status === 200 && result.data) acked.users.push(result.data.id);
          } else {
            const result = await trpc<SignedIn>(url, 'mutation', 'auth.signIn', {
              identifier: ADMIN.email,
              password: ADMIN.password,
            });
            if (result.status === 200 && result.data) acked.tokens.push(result.data.token);
          }
        } catch {
          // The connection died with the server: this write was never acknowledged.
          return;
        }
      }
    }),
  );
  return attempts;
}

async function checkAcknowledged(url: string, acked: Acknowledged): Promise<string> {
  const admin = await ok<SignedIn>(url, 'mutation', 'auth.signIn', {
    identifier: ADMIN.email,
    password: ADMIN.password,
  });
  for (const id of acked.users) {
    const found = await trpc(url, 'query', 'user.byId', { id }, admin.token);
    expect(found.status, `acknowledged user ${id}`).toBe(200);
  }
  for (const token of acked.tokens) {
    const me = await trpc(url, 'query', 'auth.me', undefined, token);
    expect(me.status, 'acknowledged session').toBe(200);
  }
  const db = createDb(databaseUrl);
  try {
    const created = await db.kysely
      .selectFrom('audit_events')
      .select('target_id')
      .where('type', '=', 'user.created')
      .execute();
    const audited = new Set(created.map((r) => r.target_id));
    for (const id of acked.users) expect(audited.has(id), `user.created event for ${id}`).toBe(true);
  } finally {
    await db.close();
  }
  return admin.token;
}

describe('crash: kill -9 during concurrent writes', () => {
  it('keeps every acknowledged write and a verifying audit log across two crashes', async () => {
    server = await spawnServer(dir, env);
    const { token } = await createFirstAdmin(server.url);
    let adminToken = token;
    const acked: Acknowledged = { users: [], tokens: [] };

    for (let round = 1; round <= 2; round++) {
      const before = acked.users.length + acked.tokens.length;
      const victim: ServerProcess = server;
      // Kill once a few writes have been acknowledged in this round and more are in flight.
      const killed = (async () => {
        const deadline = Date.now() + 20_000;
        while (acked.users.length + acked.tokens.length < before + 20 && Date.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        await victim.kill9();
      })();
      const attempts = await writeUntil(victim.url, adminToken, round, killed, acked);
      await killed;
      const inRound = acked.users.length + acked.tokens.length - before;
      expect(inRound).toBeGreaterThanOrEqual(20);
      expect(attempts).toBeGreaterThan(inRound); // some were in flight at the kill

      server = await spawnServer(dir, env);
      adminToken = await checkAcknowledged(server.url, acked);
      const verified = await verifyAudit(server.url, adminToken);
      expect(verified).toMatchObject({ ok: true, firstInvalidSeq: null, reason: null });
      const report = await checkDatabase(databaseUrl);
      expect(report.problems).toEqual([]);
      expect(report.auditEvents).toBe(verified.treeSize);
      console.log(
        `crash round ${round}: ${attempts} writes attempted, ${inRound} acknowledged before kill -9; after restart all present, audit log verifies (${verified.treeSize} events)`,
      );
    }
    await server.stop();
    server = null;
  }, 120_000);
});
