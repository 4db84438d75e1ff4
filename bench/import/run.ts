/**
 * `gatehouse import users` benchmark (issue #17): imports N users (default 100,000) from a CSV
 * with their hashes kept — made once by the real Python libraries (bcrypt, passlib argon2 and
 * pbkdf2, Django, werkzeug) and repeated, never recomputed — into a fresh SQLite file and a fresh
 * PostgreSQL database, through the CLI as an operator runs it (one process, --json).
 *
 *   pnpm --filter @gatehouse/bench exec tsx import/run.ts [--users 100000] [--batch 500]
 *
 * Times the whole command (start, migrations, checking every row, writing every batch with its
 * audit events) and a --dry-run of the same file. Prints a Markdown table for docs/benchmarks.md.
 * PostgreSQL: TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/test) must be reachable.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';

const { values: args } = parseArgs({
  options: { users: { type: 'string', default: '100000' }, batch: { type: 'string', default: '500' } },
});
const USERS = Number(args.users);
const BATCH = args.batch ?? '500';
const PG_URL = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const CLI = fileURLToPath(new URL('../../apps/cli/bin/gatehouse.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-import-'));

const hashes = JSON.parse(
  execFileSync(
    '/usr/bin/python3',
    [
      '-c',
      `
import json, bcrypt, passlib.hash as ph, werkzeug.security as ws
from django.conf import settings
settings.configure(PASSWORD_HASHERS=["django.contrib.auth.hashers.PBKDF2PasswordHasher"])
from django.contrib.auth.hashers import make_password
p = "bench password"
print(json.dumps([bcrypt.hashpw(p.encode(), bcrypt.gensalt(12)).decode(), ph.argon2.hash(p),
  ph.bcrypt_sha256.hash(p), ph.pbkdf2_sha256.hash(p), make_password(p), ws.generate_password_hash(p)]))`,
    ],
    { encoding: 'utf8' },
  ),
) as string[];

function csv(): string {
  const lines = ['id,email,full_name,hashed_password,is_admin,is_active,created_at'];
  for (let i = 1; i <= USERS; i++) {
    const hash = hashes[i % hashes.length] ?? '';
    lines.push(`${i},user${i}@example.com,User ${i},"${hash}",${i % 100 === 0 ? 1 : 0},1,2020-01-01 00:00:00`);
  }
  return `${lines.join('\n')}\n`;
}

function gatehouse(argv: string[], env: Record<string, string>): Promise<{ ms: number; stdout: string }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...argv], {
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve({ ms: performance.now() - started, stdout }) : reject(new Error(`exit ${code}`)),
    );
  });
}

async function admin(statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}

const file = join(dir, 'users.csv');
writeFileSync(file, csv());
const rows: string[][] = [];
const pgName = `gh_bench_import_${Date.now().toString(36)}`;
try {
  await admin(`create database "${pgName}"`);
  const pgUrl = new URL(PG_URL);
  pgUrl.pathname = `/${pgName}`;
  const targets: [string, string][] = [
    ['SQLite', `file:${join(dir, 'gatehouse.db')}`],
    ['PostgreSQL', pgUrl.toString()],
  ];
  for (const [name, url] of targets) {
    const env = { DATABASE_URL: url, AUDIT_KEY_FILE: join(dir, `${name}.key`) };
    const dry = await gatehouse(['--json', 'import', 'users', file, '--dry-run'], env);
    const run = await gatehouse(['--json', 'import', 'users', file, '--batch-size', BATCH], env);
    const report = JSON.parse(run.stdout) as { created: number };
    if (report.created !== USERS) throw new Error(`${name}: created ${report.created} of ${USERS}`);
    const rerun = await gatehouse(['--json', 'import', 'users', file, '--on-conflict', 'skip'], env);
    const perSecond = (ms: number) => Math.round(USERS / (ms / 1000)).toLocaleString('en-US');
    rows.push([
      name,
      USERS.toLocaleString('en-US'),
      `${(run.ms / 1000).toFixed(1)} s`,
      perSecond(run.ms),
      `${(dry.ms / 1000).toFixed(1)} s (${perSecond(dry.ms)}/s)`,
      `${(rerun.ms / 1000).toFixed(1)} s`,
    ]);
    console.error(`${name}: ${rows.at(-1)?.join(' | ')}`);
  }
} finally {
  await admin(`drop database if exists "${pgName}" with (force)`).catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
}

console.log(
  `Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}; batches of ${BATCH}; one user.imported audit event per user.\n`,
);
console.log('| Database | Users | Import (whole command) | Users/s | Dry run | Re-run, all skipped |');
console.log('|---|---:|---:|---:|---:|---:|');
for (const row of rows) console.log(`| ${row.join(' | ')} |`);
