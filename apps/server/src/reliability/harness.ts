/**
 * Shared pieces of the reliability tests (issue 8): the built server in a child process (so it
 * can be killed with SIGKILL and its memory read), tRPC calls over plain HTTP, and the
 * after-the-fact checks (database consistency, audit log verification).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import superjson from 'superjson';
import { createDb, sql } from '@gatehouse/db';

const BUILT_SERVER = fileURLToPath(new URL('../../dist/main.js', import.meta.url));

export interface ServerProcess {
  url: string;
  pid: number;
  child: ChildProcess;
  /** Resident set size in bytes (Linux /proc). */
  rss(): number;
  /** SIGKILL: no shutdown hook runs. */
  kill9(): Promise<void>;
  /** SIGTERM and wait (graceful shutdown). */
  stop(): Promise<void>;
  stderr(): string;
}

/**
 * Starts apps/server/dist/main.js (built by `pnpm test` before vitest runs) on port 0 with a
 * SQLite file (and audit key) in `dir` unless `env` names others.
 */
export async function spawnServer(dir: string, env: Record<string, string> = {}): Promise<ServerProcess> {
  if (!existsSync(BUILT_SERVER))
    throw new Error(`${BUILT_SERVER} is missing: run "pnpm build" (pnpm test builds it first)`);
  const child = spawn(process.execPath, [BUILT_SERVER], {
    env: {
      PATH: process.env.PATH ?? '',
      NODE_ENV: 'production',
      PORT: '0',
      HOST: '127.0.0.1',
      DATABASE_URL: `file:${join(dir, 'gatehouse.db')}`,
      AUDIT_KEY_FILE: join(dir, 'audit.key'),
      LOG_LEVEL: 'warn',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-20_000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`server gave no address within 30 s; stderr: ${stderr}`)), 30_000);
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /Gatehouse listening on (http:\/\/\S+)/.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`server exited (${code ?? signal}) before listening; stderr: ${stderr}`));
    });
  });
  return {
    url,
    pid: child.pid!,
    child,
    rss() {
      const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
      return Number(/^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1] ?? Number.NaN) * 1024;
    },
    async kill9() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const forced = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(forced);
    },
    stderr: () => stderr,
  };
}

export interface CallResult<T = unknown> {
  status: number;
  /** The deserialized result on success. */
  data: T | undefined;
  /** The tRPC error code on failure (e.g. TOO_MANY_REQUESTS). */
  code: string | undefined;
  text: string;
}

interface Envelope {
  result?: { data: Parameters<typeof superjson.deserialize>[0] };
  error?: { json?: { data?: { code?: string } } };
}

/** One tRPC call over HTTP, as the client SDK makes it (superjson on the wire). */
export async function trpc<T = unknown>(
  url: string,
  type: 'query' | 'mutation',
  path: string,
  input?: unknown,
  token?: string,
  headers: Record<string, string> = {},
): Promise<CallResult<T>> {
  const auth: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  const response =
    type === 'query'
      ? await fetch(
          `${url}/trpc/${path}${input === undefined ? '' : `?input=${encodeURIComponent(JSON.stringify(superjson.serialize(input)))}`}`,
          { headers: { ...auth, ...headers } },
        )
      : await fetch(`${url}/trpc/${path}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...auth, ...headers },
          body: JSON.stringify(superjson.serialize(input)),
        });
  const text = await response.text();
  let envelope: Envelope = {};
  try {
    envelope = JSON.parse(text) as Envelope;
  } catch {
    // Not JSON: left to the caller's assertions on status and text.
  }
  return {
    status: response.status,
    data: envelope.result ? superjson.deserialize<T>(envelope.result.data) : undefined,
    code: envelope.error?.json?.data?.code,
    text,
  };
}

/** Like `trpc`, but throws unless the call succeeded. */
export async function ok<T>(
  url: string,
  type: 'query' | 'mutation',
  path: string,
  input?: unknown,
  token?: string,
): Promise<T> {
  const result = await trpc<T>(url, type, path, input, token);
  if (result.status !== 200) throw new Error(`${path}: HTTP ${result.status} ${result.text.slice(0, 500)}`);
  return result.data as T;
}

export const ADMIN = {
  email: 'admin@reliability.test',
  name: 'Reliability Admin',
  password: 'reliability-Admin-pass-2718',
};

export interface SignedIn {
  token: string;
  user: { id: string; email: string };
}

export async function createFirstAdmin(url: string): Promise<SignedIn> {
  return ok<SignedIn>(url, 'mutation', 'auth.createFirstUser', ADMIN);
}

export interface AuditVerifyResult {
  ok: boolean;
  checked: number;
  treeSize: number;
  firstInvalidSeq: number | null;
  reason: string | null;
}

export function verifyAudit(url: string, adminToken: string): Promise<AuditVerifyResult> {
  return ok<AuditVerifyResult>(url, 'query', 'audit.verify', undefined, adminToken);
}

export interface DatabaseReport {
  users: number;
  sessions: number;
  auditEvents: number;
  /** Problems found; empty when consistent. */
  problems: string[];
}

/**
 * Consistency of a database after the fact, read directly (not through the server): SQLite's
 * own integrity and foreign-key checks, no session without its user, and audit `seq` gap-free
 * from 1.
 */
export async function checkDatabase(databaseUrl: string): Promise<DatabaseReport> {
  const db = createDb(databaseUrl, { poolSize: 2 });
  const problems: string[] = [];
  try {
    if (db.dialect === 'sqlite') {
      const integrity = await sql<{ integrity_check: string }>`pragma integrity_check`.execute(db.kysely);
      const verdict = integrity.rows.map((r) => r.integrity_check).join('; ');
      if (verdict !== 'ok') problems.push(`integrity_check: ${verdict}`);
      const fk = await sql<Record<string, unknown>>`pragma foreign_key_check`.execute(db.kysely);
      if (fk.rows.length > 0) problems.push(`foreign_key_check: ${JSON.stringify(fk.rows.slice(0, 5))}`);
    }
    const orphans = await db.kysely
      .selectFrom('sessions')
      .leftJoin('users', 'users.id', 'sessions.user_id')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('users.id', 'is', null)
      .executeTakeFirstOrThrow();
    if (Number(orphans.n) > 0) problems.push(`${orphans.n} sessions without a user`);
    const audit = await db.kysely
      .selectFrom('audit_events')
      .select((eb) => [eb.fn.countAll<number>().as('n'), eb.fn.min('seq').as('min'), eb.fn.max('seq').as('max')])
      .executeTakeFirstOrThrow();
    const n = Number(audit.n);
    if (n > 0 && (Number(audit.min) !== 1 || Number(audit.max) !== n)) {
      problems.push(`audit seq not gap-free: ${n} events, seq ${audit.min}..${audit.max}`);
    }
    const users = await db.kysely
      .selectFrom('users')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    const sessions = await db.kysely
      .selectFrom('sessions')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    return { users: Number(users.n), sessions: Number(sessions.n), auditEvents: n, problems };
  } finally {
    await db.close();
  }
}
