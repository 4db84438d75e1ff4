/**
 * Sign-in against the Argon2id ceiling, and `auth.me` latency while a sign-in storm runs.
 *
 * For each thread-pool size (UV_THREADPOOL_SIZE: Node's default 4, then 2 and 1):
 *  1. the ceiling: Argon2id verifications per second with Gatehouse's parameters in a process of
 *     its own with that pool (servers/argon2-ceiling.ts);
 *  2. sign-in throughput: `auth.signIn` as fast as it answers, rotating over 16 users (so the
 *     per-user session cap evicts as in real life), on SQLite;
 *  3. `auth.me` p99 at a fixed 200 req/s, first idle, then while the sign-in storm runs;
 *  4. the floor: the same storm against servers/argon2-http.ts, a bare Fastify route that only
 *     verifies the password and sets a session cookie (no database, no audit), in the same
 *     process setting, so what any HTTP sign-in costs beyond Argon2id is measured beside ours;
 *  5. with BENCH_BASELINE_SERVER (another build's dist/main.js): the same sign-in storm on that
 *     build, started right after this one (an A/B of two builds' CPU per sign-in).
 */
import { startChild, TSX, type Child } from './lib/child.js';
import {
  createFirstUser,
  mutation,
  mutationBody,
  startFlags,
  startGatehouse,
  type GatehouseChild,
} from './lib/gatehouse.js';
import { at, load } from './lib/load.js';
import autocannon from 'autocannon';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const USERS = 16;
const IDENTIFIERS = Array.from({ length: USERS }, (_, i) => `user${i}@bench.local`);
const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const PASSWORD = 'bench-User-pass-3141';

export interface SignInBenchOptions {
  quick: boolean;
  log: (line: string) => void;
}

interface Ceiling {
  rate: number;
  cpuMs: number;
}

async function ceiling(poolSize: number, seconds: number): Promise<Ceiling> {
  const child = await startChild({
    name: 'argon2-ceiling',
    args: [...TSX, fileURLToPath(new URL('./servers/argon2-ceiling.ts', import.meta.url))],
    env: {
      UV_THREADPOOL_SIZE: String(poolSize),
      DURATION: String(seconds),
      CONCURRENCY: String(Math.max(8, poolSize * 2)),
    },
    // The ceiling prints RESULT instead of READY: wait for it with the same reader.
    readyPattern: /RESULT (\S+ \S+)/,
    timeoutMs: (seconds + 30) * 1000,
  });
  await child.stop();
  const [rate, cpuMs] = child.url.split(' ').map(Number);
  return { rate: rate ?? NaN, cpuMs: cpuMs ?? NaN };
}

interface Floor {
  rps: number;
  /** CPU ms (all threads) per sign-in of the bare route. */
  cpuMs: number;
  statuses: string;
}

/** The same storm against the bare Argon2id route, same pool size and the start command's V8 flags. */
async function floor(poolSize: number, seconds: number): Promise<Floor> {
  const child = await startChild({
    name: 'argon2-http',
    args: [...startFlags(), ...TSX, fileURLToPath(new URL('./servers/argon2-http.ts', import.meta.url))],
    env: { UV_THREADPOOL_SIZE: String(poolSize), IDENTIFIERS: IDENTIFIERS.join(','), PASSWORD, NODE_OPTIONS: '' },
  });
  try {
    const { result, cpuMs } = await measuredStorm(child, IDENTIFIERS, seconds, '/sign-in');
    const statuses = Object.entries(result.statusCodeStats ?? {})
      .map(([code, stat]) => `${code}: ${stat.count ?? 0}`)
      .join(', ');
    return { rps: result.requests.average, cpuMs, statuses };
  } finally {
    await child.stop();
  }
}

export interface StormResult {
  signInRps: number;
  /** Server CPU ms (all threads) per sign-in, measured alone. */
  signInCpuMs: number;
  /** Sign-ins per second while auth.me runs beside them. */
  signInStormRps: number;
  signInStatuses: Record<string, number>;
  meIdleP99: number;
  meStormP99: number;
  meStormP50: number;
  meIdleP50: number;
  meErrors: number;
}

async function prepare(server: GatehouseChild): Promise<{ token: string; identifiers: string[] }> {
  const { token } = await createFirstUser(server.url);
  for (const [i, email] of IDENTIFIERS.entries()) {
    await mutation(server.url, 'user.create', { email, name: `User ${i}`, password: PASSWORD }, token);
  }
  return { token, identifiers: IDENTIFIERS };
}

function signInStorm(url: string, identifiers: string[], seconds: number, path = '/trpc/auth.signIn') {
  let next = 0;
  return autocannon({
    url: `${url}${path}`,
    connections: 8,
    duration: seconds,
    requests: [
      {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        setupRequest: (request) => ({
          ...request,
          body: mutationBody({ identifier: at(identifiers, next++ % identifiers.length), password: PASSWORD }),
        }),
      },
    ],
  });
}

/**
 * 2 s of sign-ins to warm up, then the measured storm: its result and the server's CPU ms (all
 * threads) per sign-in. Every server (this build, the baseline build, the floor) is measured so.
 */
async function measuredStorm(
  server: Pick<Child, 'url' | 'cpuSeconds'>,
  identifiers: string[],
  seconds: number,
  path?: string,
): Promise<{ result: autocannon.Result; cpuMs: number }> {
  await signInStorm(server.url, identifiers, 2, path);
  const cpuBefore = server.cpuSeconds();
  const result = await signInStorm(server.url, identifiers, seconds, path);
  return { result, cpuMs: ((server.cpuSeconds() - cpuBefore) * 1000) / Math.max(1, result.requests.total) };
}

async function storm(server: GatehouseChild, seconds: number): Promise<StormResult> {
  const { token, identifiers } = await prepare(server);
  const me = {
    url: `${server.url}/trpc/auth.me`,
    headers: { authorization: `Bearer ${token}` },
    connections: 10,
    overallRate: 200,
    duration: seconds,
  };
  await load({ ...me, duration: 2 });
  // Sign-in throughput on its own, then auth.me idle, then both at once.
  const { result: signIns, cpuMs: signInCpuMs } = await measuredStorm(server, identifiers, seconds);
  const idle = await load(me);
  const [stormed, busy] = await Promise.all([signInStorm(server.url, identifiers, seconds), load(me)]);
  const signInStatuses: Record<string, number> = {};
  for (const result of [signIns, stormed]) {
    for (const [code, stat] of Object.entries(result.statusCodeStats ?? {}))
      signInStatuses[code] = (signInStatuses[code] ?? 0) + (stat.count ?? 0);
  }
  return {
    signInRps: signIns.requests.average,
    signInCpuMs,
    signInStormRps: stormed.requests.average,
    signInStatuses,
    meIdleP50: idle.p50,
    meIdleP99: idle.p99,
    meStormP50: busy.p50,
    meStormP99: busy.p99,
    meErrors: idle.non2xx + idle.errors + busy.non2xx + busy.errors,
  };
}

export async function runSignInBench(options: SignInBenchOptions): Promise<string> {
  const seconds = options.quick ? 4 : 10;
  const pools = options.quick ? [4] : [4, 2, 1];
  const rows: string[] = [];
  const baselines: string[] = [];
  const baselineMain = process.env.BENCH_BASELINE_SERVER;
  for (const pool of pools) {
    // The ceiling is measured before and after the server runs (the mean is used), so a change in
    // the machine's background load during the run shows up instead of skewing the ratio.
    const before = await ceiling(pool, options.quick ? 3 : 5);
    const server = await startGatehouse(`gatehouse-pool-${pool}`, { UV_THREADPOOL_SIZE: String(pool) });
    let r: StormResult;
    try {
      r = await storm(server, seconds);
    } finally {
      await server.stop();
    }
    let baselineCpuMs: number | null = null;
    if (baselineMain) {
      const base = await startGatehouse(
        `gatehouse-baseline-pool-${pool}`,
        { UV_THREADPOOL_SIZE: String(pool) },
        baselineMain,
      );
      try {
        await prepare(base);
        baselineCpuMs = (await measuredStorm(base, IDENTIFIERS, seconds)).cpuMs;
      } finally {
        await base.stop();
      }
    }
    const after = await ceiling(pool, options.quick ? 3 : 5);
    const bare = await floor(pool, seconds);
    const ceil = (before.rate + after.rate) / 2;
    const ceilCpu = (before.cpuMs + after.cpuMs) / 2;
    const ratio = r.signInRps / ceil;
    const cpuRatio = ceilCpu / r.signInCpuMs;
    const floorRatio = ceilCpu / bare.cpuMs;
    const vsFloor = bare.cpuMs / r.signInCpuMs;
    const meRatio = r.meStormP99 / Math.max(1, r.meIdleP99);
    const statuses = Object.entries(r.signInStatuses)
      .map(([code, n]) => `${code}: ${n}`)
      .join(', ');
    options.log(
      `signin: pool ${pool}: ceiling ${before.rate.toFixed(1)} / ${after.rate.toFixed(1)} verifies/s (${ceilCpu.toFixed(1)} CPU ms each); ${r.signInRps.toFixed(1)} sign-ins/s (${r.signInCpuMs.toFixed(1)} CPU ms each; ${statuses}), ratio ${ratio.toFixed(2)} / by CPU ${cpuRatio.toFixed(2)}; floor ${bare.rps.toFixed(1)}/s, ${bare.cpuMs.toFixed(1)} CPU ms (${bare.statuses}), floor by CPU ${floorRatio.toFixed(2)}, sign-in ÷ floor ${vsFloor.toFixed(2)}; me p99 idle ${r.meIdleP99} ms, storm ${r.meStormP99} ms`,
    );
    if (baselineCpuMs !== null) {
      options.log(
        `signin: pool ${pool}: baseline build ${baselineCpuMs.toFixed(1)} CPU ms per sign-in, this build ${r.signInCpuMs.toFixed(1)}`,
      );
      baselines.push(
        `| ${pool} | ${baselineCpuMs.toFixed(2)} | ${r.signInCpuMs.toFixed(2)} | **${(r.signInCpuMs / baselineCpuMs).toFixed(2)}** | ${(ceilCpu / baselineCpuMs).toFixed(2)} / ${cpuRatio.toFixed(2)} |`,
      );
    }
    rows.push(
      `| ${pool}${pool === 4 ? ' (Node default)' : ''} | ${ceil.toFixed(1)} (${before.rate.toFixed(1)} / ${after.rate.toFixed(1)}) | ${r.signInRps.toFixed(1)} | ${ratio.toFixed(2)} | ${ceilCpu.toFixed(1)} / ${r.signInCpuMs.toFixed(1)} | **${cpuRatio.toFixed(2)}** | ${bare.cpuMs.toFixed(1)} | ${floorRatio.toFixed(2)} | **${vsFloor.toFixed(2)}** | ${r.meIdleP50} / ${r.meIdleP99} | ${r.meStormP50} / ${r.meStormP99} (sign-ins ${r.signInStormRps.toFixed(1)}/s) | **${meRatio.toFixed(1)}×** | ${statuses}${r.meErrors ? `; me errors ${r.meErrors}` : ''} |`,
    );
  }
  return [
    `Argon2id m=19456 KiB, t=2, p=1 (@node-rs/argon2, libuv thread pool). Ceiling: verifications/s with ≥ 8 in flight in a separate process with the same pool size, measured before and after the server runs (mean used). Ratio by CPU: CPU time of one bare verification ÷ the server's CPU time per sign-in (all threads) — robust to other load on the machine. Floor: the same storm against a bare Fastify route that verifies the password and sets a session cookie, nothing else (\`servers/argon2-http.ts\`, same pool and V8 flags); its ratio by CPU is the most any HTTP sign-in reaches here, and sign-in ÷ floor is Gatehouse's CPU per sign-in against that route's. Sign-in: \`auth.signIn\` over HTTP with 8 connections, ${USERS} users in rotation, SQLite, ${seconds} s. \`auth.me\`: 10 connections at a fixed 200 req/s for ${seconds} s, idle and then during the sign-in storm (the load generator shares the 2 cores).`,
    '',
    '| UV_THREADPOOL_SIZE | ceiling verifies/s (before / after) | sign-ins/s | ratio by rate | CPU ms per verify / per sign-in | ratio by CPU (target ≥ 0.9) | floor CPU ms per sign-in | floor ratio by CPU | sign-in ÷ floor by CPU | me p50 / p99 idle ms | me p50 / p99 storm ms | p99 storm ÷ idle (target ≤ 3×) | sign-in status codes |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|',
    ...rows,
    ...(baselines.length > 0
      ? [
          '',
          `A/B: the same sign-in storm on the baseline build (\`${relative(REPO_ROOT, baselineMain ?? '')}\`, BENCH_BASELINE_SERVER), started after this build's server with the same pool.`,
          '',
          '| UV_THREADPOOL_SIZE | baseline CPU ms per sign-in (S0) | this build (S) | S/S0 | ratio by CPU, baseline / this build |',
          '|---:|---:|---:|---:|---:|',
          ...baselines,
        ]
      : []),
  ].join('\n');
}
