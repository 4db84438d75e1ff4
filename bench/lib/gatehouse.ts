/**
 * Gatehouse as the benchmarks see it: the built server (apps/server/dist/main.js) in a child
 * process, called over plain HTTP with the tRPC wire format (superjson), as every client would.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import superjson from 'superjson';
import { startChild, type Child } from './child.js';

export const SERVER_MAIN = fileURLToPath(new URL('../../apps/server/dist/main.js', import.meta.url));

/**
 * The Node flags the shipped `pnpm start` passes (root package.json's `start` script, the words
 * between `node` and `apps/server/dist/main.js`): every Gatehouse the benchmarks start runs with
 * them, on its command line as `pnpm start` does (some V8 flags are refused in NODE_OPTIONS), so
 * the figures are those of the product as started (issue 18).
 */
export function startFlags(): string[] {
  const root = JSON.parse(readFileSync(fileURLToPath(new URL('../../package.json', import.meta.url)), 'utf8')) as {
    scripts: { start: string };
  };
  const match = /(?:^|&&\s*)node((?:\s+--[\w-]+(?:=\S+)?)*)\s+apps\/server\/dist\/main\.js/.exec(root.scripts.start);
  if (!match)
    throw new Error(`the start script does not run apps/server/dist/main.js with node: ${root.scripts.start}`);
  return (match[1] ?? '').split(/\s+/).filter(Boolean);
}

export function assertBuilt(): void {
  if (!existsSync(SERVER_MAIN)) {
    throw new Error(
      `${SERVER_MAIN} is missing: run \`pnpm --filter @gatehouse/server build\` (or \`pnpm build\`) first`,
    );
  }
}

export interface GatehouseChild extends Child {
  dir: string;
}

/**
 * Starts the built server on port 0. Without DATABASE_URL it gets a fresh SQLite file in a temp
 * dir. LOG_LEVEL defaults to warn (the other servers log nothing per request either).
 */
export async function startGatehouse(
  name: string,
  env: Record<string, string> = {},
  main: string = SERVER_MAIN,
  flags: readonly string[] = startFlags(),
): Promise<GatehouseChild> {
  if (main === SERVER_MAIN) assertBuilt();
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-'));
  const child = await startChild({
    name,
    args: [...flags, main],
    env: {
      PORT: '0',
      HOST: '127.0.0.1',
      DATABASE_URL: `file:${join(dir, 'gatehouse.db')}`,
      AUDIT_KEY_FILE: join(dir, 'audit.key'),
      LOG_LEVEL: 'warn',
      // Nothing of the bench's own process (a loader, say) reaches the server.
      NODE_OPTIONS: '',
      ...env,
    },
  });
  const stop = () => child.stop();
  return {
    ...child,
    dir,
    async stop() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

class TrpcCallError extends Error {
  constructor(
    readonly path: string,
    readonly status: number,
    readonly body: string,
  ) {
    super(`${path}: HTTP ${status} ${body.slice(0, 300)}`);
  }
}

interface Envelope {
  result?: { data: Parameters<typeof superjson.deserialize>[0] };
}

async function call<T>(url: string, path: string, init: RequestInit): Promise<T> {
  const response = await fetch(`${url}/trpc/${path}`, init);
  const text = await response.text();
  if (!response.ok) throw new TrpcCallError(path, response.status, text);
  const envelope = JSON.parse(text) as Envelope;
  if (!envelope.result) throw new TrpcCallError(path, response.status, text);
  return superjson.deserialize<T>(envelope.result.data);
}

function authHeaders(token: string | undefined): Record<string, string> {
  return token ? { authorization: `Bearer ${token}` } : {};
}

export function mutation<T>(url: string, path: string, input: unknown, token?: string): Promise<T> {
  return call<T>(url, path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...authHeaders(token) },
    body: JSON.stringify(superjson.serialize(input)),
  });
}

/** The JSON body autocannon sends for a mutation. */
export function mutationBody(input: unknown): string {
  return JSON.stringify(superjson.serialize(input));
}

export interface SignedIn {
  status: 'signed-in';
  token: string;
  user: { id: string; email: string };
}

const ADMIN = { email: 'admin@bench.local', name: 'Bench Admin', password: 'bench-Admin-pass-3141' };

/** Creates the first (admin) user through the API and returns its bearer token. */
export async function createFirstUser(url: string): Promise<SignedIn> {
  const result = await mutation<SignedIn | { status: string }>(url, 'auth.createFirstUser', ADMIN);
  if (result.status !== 'signed-in') throw new Error(`auth.createFirstUser: ${result.status}`);
  return result as SignedIn;
}
