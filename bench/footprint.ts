/**
 * Footprint of the built server (apps/server/dist/main.js):
 *  - start to first response: spawn → first `GET /health` answered 200 (polled every 2 ms), on a
 *    fresh SQLite file (migrations, audit key creation) and on an existing one; median of runs;
 *  - RSS with 100k sessions: 10,000 users × 10 sessions inserted into SQLite, then the server
 *    started on (a copy of) it; RSS idle, then after 20,000 `auth.me` calls at full speed over
 *    distinct sessions (more than the session cache's bound, so the cache is full); as `pnpm start`
 *    starts it (its Node flags, see startFlags), without those flags, and with other knobs, each
 *    with its CPU per request (the flags' throughput cost).
 */
import { createHash } from 'node:crypto';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import autocannon from 'autocannon';
import { createDb, migrateToLatest } from '@gatehouse/db';
import { createPasswordHasher, newUserRow } from '@gatehouse/api';
import { cpuSecondsOf, freePort, sleep } from './lib/child.js';
import { SERVER_MAIN, assertBuilt, startFlags, startGatehouse } from './lib/gatehouse.js';
import { median } from './lib/load.js';

export interface FootprintBenchOptions {
  quick: boolean;
  log: (line: string) => void;
}

/** Spawn → first 200 from /health: wall-clock ms, and the CPU ms the server had used by then. */
async function startToFirstResponse(dir: string, main: string = SERVER_MAIN): Promise<{ ms: number; cpuMs: number }> {
  const port = await freePort();
  const started = performance.now();
  const child = spawn(process.execPath, [...startFlags(), main], {
    env: {
      ...process.env,
      NODE_ENV: 'production',
      PORT: String(port),
      DATABASE_URL: `file:${join(dir, 'gatehouse.db')}`,
      AUDIT_KEY_FILE: join(dir, 'audit.key'),
      LOG_LEVEL: 'warn',
      NODE_OPTIONS: '',
    },
    stdio: 'ignore',
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    for (;;) {
      if (performance.now() - started > 20_000) throw new Error('the server did not answer /health within 20 s');
      try {
        const response = await fetch(`http://127.0.0.1:${port}/health`);
        if (response.status === 200)
          return { ms: performance.now() - started, cpuMs: cpuSecondsOf(child.pid ?? 0) * 1000 };
      } catch {
        // Not listening yet.
      }
      await sleep(2);
    }
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
}

/** base32 lower-case, as session tokens are (the server parses them with /^[a-z2-7]{32}$/). */
function base32(bytes: Uint8Array): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += alphabet[(value << (5 - bits)) & 31];
  return out;
}

function newToken(): { token: string; id: string; secretHash: Uint8Array } {
  const id = base32(crypto.getRandomValues(new Uint8Array(20)));
  const secret = base32(crypto.getRandomValues(new Uint8Array(20)));
  return { token: `${id}.${secret}`, id, secretHash: new Uint8Array(createHash('sha256').update(secret).digest()) };
}

/** Fills a fresh SQLite database with `users` users × `perUser` sessions; returns the tokens. */
async function seedForBench(file: string, users: number, perUser: number): Promise<string[]> {
  const db = createDb(`file:${file}`);
  try {
    await migrateToLatest(db);
    const passwordHash = await createPasswordHasher().hash('bench-User-pass-3141');
    const now = new Date();
    const expires = new Date(now.getTime() + 20 * 86_400_000);
    const tokens: string[] = [];
    const batch = 500;
    for (let from = 0; from < users; from += batch) {
      await db.kysely.transaction().execute(async (trx) => {
        const userRows = [];
        const sessionRows = [];
        for (let u = from; u < Math.min(users, from + batch); u++) {
          // The users module's own row (normalized identifiers included).
          const row = newUserRow({
            email: `user${u}@bench.local`,
            username: null,
            name: `User ${u}`,
            role: u === 0 ? 'admin' : 'member',
            passwordHash,
            now,
          });
          const id = row.id;
          userRows.push(row);
          for (let s = 0; s < perUser; s++) {
            const t = newToken();
            tokens.push(t.token);
            sessionRows.push({
              id: t.id,
              user_id: id,
              secret_hash: t.secretHash,
              created_at: now,
              expires_at: expires,
              last_seen_at: now,
              remember_me: true,
              ip: '127.0.0.1',
              user_agent: 'bench',
            });
          }
        }
        await trx.insertInto('users').values(userRows).execute();
        // SQLite allows ~32k bound parameters per statement: 9 columns × 1000 rows stays below.
        for (let i = 0; i < sessionRows.length; i += 1000)
          await trx
            .insertInto('sessions')
            .values(sessionRows.slice(i, i + 1000))
            .execute();
      });
    }
    return tokens;
  } finally {
    await db.close();
  }
}

const mb = (bytes: number) => (bytes / 1024 ** 2).toFixed(0);

export async function runFootprintBench(options: FootprintBenchOptions): Promise<string> {
  assertBuilt();
  const { log } = options;
  const runs = options.quick ? 3 : 7;

  // With BENCH_BASELINE_SERVER (another build's dist/main.js), that build starts too, interleaved
  // with this one run by run, so both see the same machine (an A/B of the start time).
  const baseline = process.env.BENCH_BASELINE_SERVER;
  const builds = [
    { label: 'this build', main: SERVER_MAIN },
    ...(baseline ? [{ label: `baseline (\`${baseline}\`)`, main: baseline }] : []),
  ].map((build) => ({
    ...build,
    fresh: [] as number[],
    existing: [] as number[],
    freshCpu: [] as number[],
    existingCpu: [] as number[],
  }));
  for (let i = 0; i < runs; i++) {
    for (const build of builds) {
      const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-start-'));
      try {
        const first = await startToFirstResponse(dir, build.main);
        build.fresh.push(first.ms);
        build.freshCpu.push(first.cpuMs);
        const again = await startToFirstResponse(dir, build.main);
        build.existing.push(again.ms);
        build.existingCpu.push(again.cpuMs);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  }
  for (const build of builds)
    log(
      `footprint: ${build.label}: start→first response fresh ${build.fresh.map((n) => n.toFixed(0)).join(', ')} ms; existing ${build.existing.map((n) => n.toFixed(0)).join(', ')} ms`,
    );
  const startRows = builds.flatMap((build) => {
    const prefix = builds.length > 1 ? `${build.label}: ` : '';
    const row = (what: string, ms: number[], cpu: number[]) =>
      `| ${prefix}${what} | **${median(ms).toFixed(0)} ms** | ${Math.min(...ms).toFixed(0)} ms | ${Math.max(...ms).toFixed(0)} ms | ${median(cpu).toFixed(0)} ms | ≤ 500 ms |`;
    return [
      row('fresh SQLite file (migrations, audit key created)', build.fresh, build.freshCpu),
      row('existing database', build.existing, build.existingCpu),
    ];
  });

  // Memory with 100k sessions in the database, as shipped and with knobs that bound what the
  // process keeps: V8's young and old generations and glibc's malloc arenas (Argon2id allocates
  // 19 MiB per hash on a thread-pool thread; the server hashes once at start, the dummy hash).
  const users = options.quick ? 1_000 : 10_000;
  const perUser = 10;
  const validate = options.quick ? 4_000 : 20_000;
  const shipped = startFlags();
  const variants: [string, Record<string, string>, string[]][] = [
    [`\`pnpm start\` as shipped (\`${shipped.join(' ') || 'no flags'}\`)`, {}, shipped],
    // The start command before issue 18's round 4 (young generation bounded, old one not).
    ['`--max-semi-space-size=4` alone', {}, ['--max-semi-space-size=4']],
    ['no Node flags', {}, []],
    // glibc keeps a freed Argon2id buffer (19 MiB) in the arena of the thread that hashed, once
    // its dynamic mmap threshold has risen; a fixed threshold returns it to the system.
    [
      'as shipped + `GLIBC_TUNABLES=glibc.malloc.mmap_threshold=131072`',
      { GLIBC_TUNABLES: 'glibc.malloc.mmap_threshold=131072' },
      shipped,
    ],
  ];
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-rss-'));
  const rssRows: string[] = [];
  try {
    const seeded = join(dir, 'seeded.db');
    const seeding = performance.now();
    const tokens = await seedForBench(seeded, users, perUser);
    log(`footprint: seeded ${tokens.length} sessions in ${((performance.now() - seeding) / 1000).toFixed(1)} s`);
    for (const [name, env, flags] of options.quick ? variants.slice(0, 1) : variants) {
      const file = join(dir, `run-${rssRows.length}.db`);
      copyFileSync(seeded, file);
      const server = await startGatehouse(
        'gatehouse-rss',
        { DATABASE_URL: `file:${file}`, ...env },
        SERVER_MAIN,
        flags,
      );
      try {
        await sleep(1000);
        const idle = server.rss();
        let next = 0;
        const cpuBefore = server.cpuSeconds();
        const result = await autocannon({
          url: `${server.url}/trpc/auth.me`,
          connections: 20,
          amount: validate,
          requests: [
            {
              method: 'GET',
              setupRequest: (request) => ({
                ...request,
                headers: { ...request.headers, authorization: `Bearer ${tokens[next++ % tokens.length]}` },
              }),
            },
          ],
        });
        const failures = result.non2xx + result.errors;
        const cpuMs = ((server.cpuSeconds() - cpuBefore) * 1000) / Math.max(1, result.requests.total);
        await sleep(1000);
        const after = server.rss();
        log(
          `footprint: ${name}: RSS idle ${mb(idle)} MB, after ${validate} distinct validations ${mb(after)} MB (${failures} failures)`,
        );
        rssRows.push(
          `| ${name} | **${mb(idle)} MB** | **${mb(after)} MB** | ${result.requests.average.toFixed(0)} | ${cpuMs.toFixed(3)} | ${failures} |`,
        );
      } finally {
        await server.stop();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  return [
    `Start to first response: \`node ${startFlags().join(' ')} apps/server/dist/main.js\` spawned → first \`GET /health\` 200 (polled every 2 ms), ${runs} runs each${builds.length > 1 ? ', the builds interleaved run by run' : ''}.`,
    '',
    '| start | median | min | max | server CPU by then (median) | target |',
    '|---|---:|---:|---:|---:|---|',
    ...startRows,
    '',
    `Resident memory (VmRSS of the server process) with ${(users * perUser).toLocaleString('en-US')} sessions (${users.toLocaleString('en-US')} users × ${perUser}) in SQLite: just started, and after ${validate.toLocaleString('en-US')} \`auth.me\` calls over distinct sessions over HTTP at full speed (20 connections; more than the session cache's 10,000 bound, so the cache is full); targets ≤ 120 MB idle, ≤ 150 MB after:`,
    '',
    '| settings | RSS idle | RSS after the calls | req/s | CPU ms/req | failures |',
    '|---|---:|---:|---:|---:|---:|',
    ...rssRows,
  ].join('\n');
}
