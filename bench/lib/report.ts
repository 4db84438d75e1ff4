/** Machine and version facts for docs/benchmarks.md, and the section writer. */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, loadavg, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { BETTER_SQLITE3_MODULE } from '@gatehouse/db';

const BENCHMARKS_MD = fileURLToPath(new URL('../../docs/benchmarks.md', import.meta.url));

function cpuModel(): string {
  try {
    const out = execFileSync('lscpu', { encoding: 'utf8' });
    const model = /^Model name:\s*(.+)$/m.exec(out)?.[1]?.trim();
    if (model) return model;
  } catch {
    // lscpu is not everywhere; /proc/cpuinfo or os.cpus() are.
  }
  return cpus()[0]?.model ?? 'unknown CPU';
}

const requireFromBench = createRequire(new URL('../package.json', import.meta.url));
const requireFromServer = createRequire(new URL('../../apps/server/package.json', import.meta.url));

/** `packageName` differs from `name` for an npm alias (better-sqlite3-napi is better-sqlite3@13). */
function versionOf(name: string, from: NodeJS.Require = requireFromBench, packageName = name): string {
  // Some packages do not export ./package.json: find it beside the resolved entry instead.
  try {
    return (from(`${name}/package.json`) as { version: string }).version;
  } catch {
    let dir = from.resolve(name);
    for (let i = 0; i < 6; i++) {
      dir = dir.slice(0, dir.lastIndexOf('/'));
      const candidate = `${dir}/package.json`;
      if (existsSync(candidate)) {
        const pkg = JSON.parse(readFileSync(candidate, 'utf8')) as { name?: string; version?: string };
        if (pkg.name === packageName && pkg.version) return pkg.version;
      }
    }
    return '?';
  }
}

/** 1-minute load average now, to tell a quiet machine's figures from a busy one's. */
export function loadAverage(): string {
  const [oneMinute = 0] = loadavg();
  return oneMinute.toFixed(1);
}

export function environmentLine(extra: string[] = []): string {
  const ram = (totalmem() / 1024 ** 3).toFixed(0);
  const versions = [
    `Node ${process.version}`,
    `fastify ${versionOf('fastify', requireFromServer)}`,
    `@trpc/server ${versionOf('@trpc/server', requireFromServer)}`,
    // The build this Node loads: 13 on Node-API 10 (Node 24), 12 on Node 20 (packages/db/src/sqlite.ts).
    `better-sqlite3 ${versionOf(BETTER_SQLITE3_MODULE, requireFromServer, 'better-sqlite3')}`,
    `pg ${versionOf('pg', requireFromServer)}`,
    `@node-rs/argon2 ${versionOf('@node-rs/argon2', requireFromServer)}`,
    `better-auth ${versionOf('better-auth')}`,
    `autocannon ${versionOf('autocannon')}`,
    ...extra,
  ];
  return `Machine: ${cpuModel()}, ${cpus().length} cores, ${ram} GiB RAM, ${process.platform}. ${versions.join(', ')}. Date: ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC.`;
}

/**
 * Replaces the text between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->` in
 * docs/benchmarks.md (appending the block when absent). Everything else in the file, such as
 * other engineers' sections, stays as it is.
 */
export function writeSection(name: string, title: string, body: string): void {
  const start = `<!-- bench:${name} -->`;
  const end = `<!-- /bench:${name} -->`;
  const block = `${start}\n## ${title}\n\n${body.trim()}\n${end}`;
  const current = existsSync(BENCHMARKS_MD)
    ? readFileSync(BENCHMARKS_MD, 'utf8')
    : '# Benchmarks\n\nRun them with `pnpm bench` after `pnpm install` and `pnpm build`.\n';
  const from = current.indexOf(start);
  const to = current.indexOf(end);
  const next =
    from >= 0 && to > from
      ? `${current.slice(0, from)}${block}${current.slice(to + end.length)}`
      : `${current.trimEnd()}\n\n${block}\n`;
  writeFileSync(BENCHMARKS_MD, next);
}
