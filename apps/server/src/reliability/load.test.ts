/**
 * Load (issue 8): a bounded run (20 s or 20,000 calls) of concurrent clients on loopback mixing
 * sign-in, `auth.me`, listing and revocation against the built server. No answer other than the
 * expected ones (200; 401 for a deliberately wrong password; 429 once that is throttled), and
 * the server's RSS stays flat after warm-up. Only generous memory bounds are asserted; the
 * figures are printed.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  checkDatabase,
  createFirstAdmin,
  ok,
  spawnServer,
  trpc,
  verifyAudit,
  type ServerProcess,
  type SignedIn,
} from './harness.js';

const CLIENTS = 10;
const DURATION_MS = 20_000;
const MAX_CALLS = 20_000;
const PASSWORD = 'load-Member-pass-1414';
/** Wrong-password attempts in all: past the account+IP limit (5), well below the IP limit (50). */
const DECOY_ATTEMPTS = 12;

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-load-'));
let server: ServerProcess | null = null;

afterAll(async () => {
  await server?.kill9();
  rmSync(dir, { recursive: true, force: true });
});

interface SessionItem {
  id: string;
  current: boolean;
}

describe('load: concurrent clients on loopback', () => {
  it('answers only what is expected and keeps its memory flat', async () => {
    server = await spawnServer(dir);
    const url = server.url;
    const admin = await createFirstAdmin(url);
    const emails: string[] = [];
    for (let i = 0; i < CLIENTS; i++) {
      emails.push(`client${i}@load.test`);
      await ok(
        url,
        'mutation',
        'user.create',
        { email: emails[i], name: `Client ${i}`, password: PASSWORD },
        admin.token,
      );
    }

    const counts = new Map<string, number>();
    const unexpected: string[] = [];
    const count = (op: string, status: number, allowed: number[]) => {
      counts.set(`${op} ${status}`, (counts.get(`${op} ${status}`) ?? 0) + 1);
      if (!allowed.includes(status) && unexpected.length < 20) unexpected.push(`${op} → ${status}`);
    };
    const started = Date.now();
    let calls = 0;
    let decoyAttempts = 0;
    const running = () => Date.now() - started < DURATION_MS && calls < MAX_CALLS;

    const rss: { at: number; bytes: number }[] = [];
    const sampler = setInterval(() => {
      if (server) rss.push({ at: Date.now() - started, bytes: server.rss() });
    }, 250);

    const client = async (index: number) => {
      const identifier = emails[index]!;
      const tokens: string[] = [
        (await ok<SignedIn>(url, 'mutation', 'auth.signIn', { identifier, password: PASSWORD })).token,
      ];
      for (let i = 0; running(); i++) {
        calls++;
        const roll = (i * 7919 + index * 104_729) % 100;
        const token = tokens[tokens.length - 1]!;
        if (roll < 5) {
          const result = await trpc<SignedIn>(url, 'mutation', 'auth.signIn', { identifier, password: PASSWORD });
          count('signIn', result.status, [200]);
          if (result.data) tokens.push(result.data.token);
        } else if (roll < 7 && decoyAttempts < DECOY_ATTEMPTS) {
          // A wrong password: 401, then 429 once the account is throttled. Its own account is
          // not used (that would lock the client out): a shared decoy account is. Bounded, because
          // every attempt counts toward the per-IP limit (50 per window) that all clients share here.
          decoyAttempts++;
          const result = await trpc(url, 'mutation', 'auth.signIn', {
            identifier: 'decoy@load.test',
            password: 'wrong-password-123',
          });
          count('signIn (wrong password)', result.status, [401, 429]);
        } else if (roll < 60) {
          const result = await trpc(url, 'query', 'auth.me', undefined, token);
          count('me', result.status, [200]);
        } else if (roll < 75) {
          const result = await trpc<SessionItem[]>(url, 'query', 'session.list', undefined, token);
          count('session.list', result.status, [200]);
        } else if (roll < 85) {
          const result = await trpc(url, 'query', 'user.list', { limit: 20 }, admin.token);
          count('user.list', result.status, [200]);
        } else if (tokens.length > 1) {
          // Revoke the oldest of this client's other sessions (found through session.list).
          const list = await trpc<SessionItem[]>(url, 'query', 'session.list', undefined, token);
          count('session.list', list.status, [200]);
          const oldestToken = tokens.shift()!;
          const oldestId = oldestToken.slice(0, oldestToken.indexOf('.'));
          const target = list.data?.find((s) => s.id === oldestId && !s.current);
          if (target) {
            const result = await trpc(url, 'mutation', 'session.revoke', { id: target.id }, token);
            count('session.revoke', result.status, [200]);
            const after = await trpc(url, 'query', 'auth.me', undefined, oldestToken);
            count('me (revoked token)', after.status, [401]);
          }
        }
        // Stay under the per-user session cap so no session is evicted behind the client's back.
        while (tokens.length > 6) {
          const old = tokens.shift()!;
          const result = await trpc(url, 'mutation', 'session.revoke', { id: old.slice(0, old.indexOf('.')) }, token);
          count('session.revoke', result.status, [200]);
        }
      }
    };
    await Promise.all(Array.from({ length: CLIENTS }, (_, i) => client(i)));
    clearInterval(sampler);
    const elapsed = Date.now() - started;

    const mb = (bytes: number) => Math.round(bytes / 1024 ** 2);
    // Warm-up is the first 30 % of the run; its level is the highest sample of the next 20 %.
    const warm = rss.filter((s) => s.at >= elapsed * 0.3 && s.at < elapsed * 0.5);
    const afterWarmup = warm.length > 0 ? Math.max(...warm.map((s) => s.bytes)) : rss[0]!.bytes;
    const peak = Math.max(...rss.map((s) => s.bytes));
    const final = rss[rss.length - 1]!.bytes;
    console.log(
      `load: ${calls} calls by ${CLIENTS} clients in ${(elapsed / 1000).toFixed(1)} s (${Math.round(calls / (elapsed / 1000))}/s); ` +
        `RSS after warm-up ${mb(afterWarmup)} MB, peak ${mb(peak)} MB, final ${mb(final)} MB\n` +
        [...counts]
          .sort()
          .map(([k, n]) => `  ${k}: ${n}`)
          .join('\n'),
    );

    expect(unexpected).toEqual([]);
    expect(counts.get('signIn (wrong password) 429') ?? 0).toBeGreaterThan(0);
    expect(calls).toBeGreaterThan(200);
    expect(counts.get('me 200') ?? 0).toBeGreaterThan(50);
    expect(counts.get('session.revoke 200') ?? 0).toBeGreaterThan(0);
    // Generous bounds: flat means no growth beyond noise after warm-up, and nothing runaway.
    expect(final).toBeLessThan(afterWarmup * 1.5 + 64 * 1024 ** 2);
    expect(peak).toBeLessThan(768 * 1024 ** 2);

    const verified = await verifyAudit(url, admin.token);
    expect(verified).toMatchObject({ ok: true, reason: null });
    await server.stop();
    server = null;
    const report = await checkDatabase(`file:${join(dir, 'gatehouse.db')}`);
    expect(report.problems).toEqual([]);
  }, 90_000);
});
