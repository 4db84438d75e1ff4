/**
 * bench/http: one run, interleaved rounds, one load generator (autocannon), every server in its
 * own child process:
 *   A  raw Fastify route, small JSON (the ceiling)
 *   B  bare tRPC ping on Gatehouse's Fastify setup with Gatehouse's own tRPC adapter (issue 18)
 *   B0 the same ping through tRPC's stock Fastify adapter (what Gatehouse used before issue 18)
 *   C  Gatehouse `auth.me` with a bearer token, SQLite
 *   D  the same on PostgreSQL (a fresh schema)
 *   E  better-auth get-session behind its Fastify integration on better-sqlite3, cookie cache off / on
 *   F  Gatehouse `GET /auth/check` (forward auth) with a session cookie, SQLite (issue 16)
 *   K  the same with an API key (`auth:check`) as the bearer token (issue 16)
 *   C0, F0 (with BENCH_BASELINE_SERVER=<another build's dist/main.js>) auth.me on that build, for an
 *      A/B of two builds in one run; BENCH_BASELINE_FLAGS="<node flags>" starts C0 with those Node
 *      flags instead of the start script's (this build unless BENCH_BASELINE_SERVER is set): an A/B
 *      of two start commands
 * Each round runs every target once, in an order rotated per round; the figures are the medians
 * over the rounds. Every answer must be 2xx: a target with errors is reported as such.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTestDatabase, testDialects, type TestDatabase } from '@gatehouse/db/testing';
import { freePort, startChild, TSX, type Child } from './lib/child.js';
import { createFirstUser, mutation, startGatehouse } from './lib/gatehouse.js';
import { at, load, median, type LoadResult } from './lib/load.js';

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));

export interface HttpBenchOptions {
  rounds: number;
  /** Seconds per measurement. */
  duration: number;
  connections: number;
  log: (line: string) => void;
  /** Only these target keys (A/B runs of a few targets); all when absent. */
  targets?: string[];
}

interface Target {
  key: string;
  label: string;
  child: Child;
  url: string;
  headers: Record<string, string>;
  results: LoadResult[];
  /** Server CPU milliseconds per answered request, per round. */
  cpuMs: number[];
}

export interface HttpBenchResult {
  markdown: string;
  summary: Record<string, { rps: number; p50: number; p99: number; cpuMs: number }>;
}

async function betterAuthTarget(key: string, cookieCache: boolean, cleanups: (() => Promise<void>)[]): Promise<Target> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-ba-'));
  const port = await freePort();
  const child = await startChild({
    name: key,
    args: [...TSX, here('./servers/better-auth.ts')],
    env: { PORT: String(port), DB_FILE: join(dir, 'ba.db'), COOKIE_CACHE: cookieCache ? 'on' : 'off' },
  });
  cleanups.push(async () => {
    await child.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const response = await fetch(`${child.url}/api/auth/sign-up/email`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: child.url },
    body: JSON.stringify({ email: 'bench@bench.local', password: 'bench-User-pass-3141', name: 'Bench' }),
  });
  if (!response.ok) throw new Error(`${key}: sign-up failed: ${response.status} ${await response.text()}`);
  const cookie = response.headers
    .getSetCookie()
    .map((c) => c.split(';')[0] ?? '')
    .join('; ');
  const check = await fetch(`${child.url}/api/auth/get-session`, { headers: { cookie } });
  const session = (await check.json()) as { user?: { email?: string } } | null;
  if (session?.user?.email !== 'bench@bench.local') throw new Error(`${key}: get-session did not return the user`);
  return {
    key,
    label: `better-auth get-session, cookie cache ${cookieCache ? 'on' : 'off'}`,
    child,
    url: `${child.url}/api/auth/get-session`,
    headers: { cookie },
    results: [],
    cpuMs: [],
  };
}

async function gatehouseTarget(
  key: string,
  label: string,
  env: Record<string, string>,
  cleanups: (() => Promise<void>)[],
  main?: string,
  flags?: readonly string[],
): Promise<Target> {
  const child = await startGatehouse(key, env, main, flags);
  cleanups.push(() => child.stop());
  const { token } = await createFirstUser(child.url);
  const check = await fetch(`${child.url}/trpc/auth.me`, { headers: { authorization: `Bearer ${token}` } });
  if (!check.ok) throw new Error(`${key}: auth.me failed: ${check.status} ${await check.text()}`);
  return {
    key,
    label,
    child,
    url: `${child.url}/trpc/auth.me`,
    headers: { authorization: `Bearer ${token}` },
    results: [],
    cpuMs: [],
  };
}

/** #16: `GET /auth/check` on its own Gatehouse, with the first user's session cookie or an API key. */
async function forwardAuthTarget(
  key: string,
  label: string,
  credential: 'cookie' | 'api-key',
  cleanups: (() => Promise<void>)[],
  main?: string,
): Promise<Target> {
  const child = await startGatehouse(key, {}, main);
  cleanups.push(() => child.stop());
  const { token } = await createFirstUser(child.url);
  let headers: Record<string, string> = { cookie: `gatehouse_session=${token}` };
  if (credential === 'api-key') {
    const created = await mutation<{ key: string }>(
      child.url,
      'apiKey.create',
      { name: 'bench', scopes: ['auth:check'] },
      token,
    );
    headers = { authorization: `Bearer ${created.key}` };
  }
  const url = `${child.url}/auth/check`;
  const check = await fetch(url, { headers });
  if (check.status !== 200) throw new Error(`${key}: /auth/check answered ${check.status}`);
  return { key, label, child, url, headers, results: [], cpuMs: [] };
}

const fmt = (n: number, digits = 0) =>
  n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

export async function runHttpBench(options: HttpBenchOptions): Promise<HttpBenchResult> {
  const { log } = options;
  const cleanups: (() => Promise<void>)[] = [];
  let pgDatabase: TestDatabase | null = null;
  try {
    log('http: starting servers');
    const simple = async (
      key: string,
      label: string,
      script: string,
      env: Record<string, string> = {},
    ): Promise<Target> => {
      const child = await startChild({ name: key, args: [...TSX, here(script)], env });
      cleanups.push(() => child.stop());
      return { key, label, child, url: child.url, headers: {}, results: [], cpuMs: [] };
    };
    const targets: Target[] = [];
    const wanted = (key: string) => !options.targets || options.targets.includes(key);
    const targetsPush = targets.push.bind(targets);
    const add = async (key: string, make: () => Promise<Target>) => {
      if (wanted(key)) targetsPush(await make());
    };
    await add('A', () => simple('A', 'raw Fastify route, small JSON', './servers/raw.ts'));
    await add('B', () => simple('B', "bare tRPC ping (Gatehouse's adapter)", './servers/trpc.ts', { ADAPTER: 'lean' }));
    await add('B0', () =>
      simple('B0', "bare tRPC ping (tRPC's stock Fastify adapter)", './servers/trpc.ts', { ADAPTER: 'stock' }),
    );
    await add('C', () => gatehouseTarget('C', 'Gatehouse auth.me, bearer, SQLite', {}, cleanups));
    const baseline = process.env.BENCH_BASELINE_SERVER;
    const baselineFlags = process.env.BENCH_BASELINE_FLAGS?.split(/\s+/).filter(Boolean);
    if (baseline || baselineFlags) {
      const what = [baseline ? 'baseline build' : null, baselineFlags ? `\`node ${baselineFlags.join(' ')}\`` : null];
      await add('C0', () =>
        gatehouseTarget(
          'C0',
          `Gatehouse auth.me, bearer, SQLite — ${what.filter(Boolean).join(', ')}`,
          {},
          cleanups,
          baseline,
          baselineFlags,
        ),
      );
    }
    // The same server answering a public procedure: splits C's cost into the server's plugin
    // stack (security headers, CORS, cookies, request ids, logging) and the session check.
    await add('S', async () => {
      const stack = await gatehouseTarget(
        'S',
        'Gatehouse system.version (full server stack, no session), SQLite',
        {},
        cleanups,
      );
      return { ...stack, url: stack.url.replace('/trpc/auth.me', '/trpc/system.version'), headers: {} };
    });
    // #16: forward auth on the session cache, then with an API key (cached like a session).
    await add('F', () =>
      forwardAuthTarget('F', 'Gatehouse GET /auth/check, session cookie, SQLite', 'cookie', cleanups),
    );
    await add('K', () => forwardAuthTarget('K', 'Gatehouse GET /auth/check, API key, SQLite', 'api-key', cleanups));
    if (baseline) {
      await add('F0', () =>
        forwardAuthTarget(
          'F0',
          'Gatehouse GET /auth/check, session cookie — baseline build',
          'cookie',
          cleanups,
          baseline,
        ),
      );
    }
    // PostgreSQL at TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/test), in a fresh schema.
    if (!wanted('D')) {
      // left out on request
    } else if (testDialects.includes('postgres')) {
      pgDatabase = await createTestDatabase('postgres');
      const url = pgDatabase.url;
      await add('D', () =>
        gatehouseTarget('D', 'Gatehouse auth.me, bearer, PostgreSQL', { DATABASE_URL: url }, cleanups),
      );
    } else {
      log('http: PostgreSQL unreachable: target D left out');
    }
    await add('E-off', () => betterAuthTarget('E-off', false, cleanups));
    await add('E-on', () => betterAuthTarget('E-on', true, cleanups));

    log('http: warm-up');
    for (const target of targets) {
      await load({ url: target.url, headers: target.headers, connections: options.connections, duration: 2 });
    }
    for (let round = 0; round < options.rounds; round++) {
      const order = targets.map((_, i) => at(targets, (i + round) % targets.length));
      for (const target of order) {
        const cpuBefore = target.child.cpuSeconds();
        const result = await load({
          url: target.url,
          headers: target.headers,
          connections: options.connections,
          duration: options.duration,
        });
        const cpuMs = ((target.child.cpuSeconds() - cpuBefore) * 1000) / Math.max(1, result.requests);
        target.results.push(result);
        target.cpuMs.push(cpuMs);
        log(
          `http: round ${round + 1} ${target.key.padEnd(5)} ${fmt(result.rps).padStart(7)} req/s  p50 ${result.p50} ms  p99 ${result.p99} ms  cpu ${cpuMs.toFixed(3)} ms/req${result.non2xx || result.errors ? `  non-2xx ${result.non2xx} errors ${result.errors}` : ''}`,
        );
      }
    }

    const summary: HttpBenchResult['summary'] = {};
    const rows: string[] = [];
    for (const target of targets) {
      const rps = median(target.results.map((r) => r.rps));
      const p50 = median(target.results.map((r) => r.p50));
      const p99 = median(target.results.map((r) => r.p99));
      const cpuMs = median(target.cpuMs);
      const bad = target.results.reduce((n, r) => n + r.non2xx + r.errors, 0);
      summary[target.key] = { rps, p50, p99, cpuMs };
      rows.push(
        `| ${target.key} | ${target.label} | **${fmt(rps)}** | ${target.results.map((r) => fmt(r.rps)).join(' / ')} | ${p50} | ${p99} | **${cpuMs.toFixed(3)}** | ${fmt(1000 / cpuMs)} | ${bad === 0 ? '0' : `**${bad}**`} |`,
      );
    }
    const ratio = (a: string, b: string) => at(summary, a).rps / at(summary, b).rps;
    /** Requests per CPU-second of a over those of b: capacity on a core, whatever else the machine runs. */
    const cpuRatio = (a: string, b: string) => at(summary, b).cpuMs / at(summary, a).cpuMs;
    const ratios: [string, string, string, string][] = [
      ['C/A', 'A', 'C', '(share of the bare-Fastify ceiling)'],
      ['B/B0', 'B0', 'B', "a tRPC call's fixed cost, Gatehouse's adapter vs the stock one: target ≥ 2 (cost ≤ 0.5)"],
      ['C/C0', 'C0', 'C', 'this build and start command vs the baseline (A/B)'],
      ['F/F0', 'F0', 'F', 'forward auth, this build vs the baseline build (A/B)'],
      ['C/B', 'B', 'C', '(issue 8 target ≥ 0.9)'],
      ['S/B', 'B', 'S', "(Gatehouse's server stack on a public procedure vs the bare adapter)"],
      ['C/S', 'S', 'C', '(the session check and the user in the response, on the same stack)'],
      ['C/E (cookie cache off)', 'E-off', 'C', 'target ≥ 6'],
      ['C/E (cookie cache on)', 'E-on', 'C', 'target ≥ 4'],
      ['D/B', 'B', 'D', '(PostgreSQL; its server processes not counted in CPU)'],
      ['D/E (cookie cache off)', 'E-off', 'D', ''],
      // #16 bridges
      ['F/A', 'A', 'F', 'forward auth vs the raw Fastify route: target ≥ 0.5'],
      ['F/E (cookie cache off)', 'E-off', 'F', 'forward auth vs better-auth get-session: target ≥ 15'],
      ['K/F', 'F', 'K', 'an API key vs a session: target ≈ 1 (both cached)'],
    ];
    const markdown = [
      `${options.rounds} interleaved rounds × ${options.duration} s per target (order rotated each round), ${options.connections} connections, no pipelining, after a 2 s warm-up each; medians over the rounds. **CPU ms/req** is the server process's user + system time (all threads, from /proc) divided by the requests it answered: on a machine shared with other work it is the stable figure, and requests per CPU-second is the capacity of one core.`,
      '',
      '| | server | req/s | req/s per round | p50 ms | p99 ms | CPU ms/req | req per CPU-s | non-2xx + errors |',
      '|---|---|---:|---|---:|---:|---:|---:|---:|',
      ...rows,
      '',
      '| ratio | by req/s | by CPU per request | |',
      '|---|---:|---:|---|',
      ...ratios
        .filter(([, b, a]) => summary[a] && summary[b])
        .map(
          ([name, b, a, note]) =>
            `| ${name} | ${ratio(a, b).toFixed(2)} | **${cpuRatio(a, b).toFixed(2)}** | ${note} |`,
        ),
    ].join('\n');
    return { markdown, summary };
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup().catch((error: unknown) => console.error(error));
    await pgDatabase?.drop().catch((error: unknown) => console.error(error));
  }
}
