import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import module from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const built = fileURLToPath(new URL('../dist/main.js', import.meta.url));
const compileCache = fileURLToPath(new URL('../.compile-cache', import.meta.url));
const hasCompileCache = typeof (module as { enableCompileCache?: unknown }).enableCompileCache === 'function';
const dashboardIndex = fileURLToPath(new URL('../../dashboard/dist/index.html', import.meta.url));

/** The Node flags of the root `start` script (`node <flags> apps/server/dist/main.js`). */
function startScriptFlags(): string[] {
  const root = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
    scripts: { start: string };
  };
  const match = /node((?:\s+--[\w-]+(?:=\S+)?)*)\s+apps\/server\/dist\/main\.js/.exec(root.scripts.start);
  if (!match) throw new Error(`the start script does not run apps/server/dist/main.js: ${root.scripts.start}`);
  return (match[1] ?? '').split(/\s+/).filter(Boolean);
}

interface BuiltServer {
  child: ChildProcessWithoutNullStreams;
  url: string;
}

/** Starts the bundle as `pnpm start` does, in `cwd`, and resolves once it prints its address. */
async function startBuilt(cwd: string): Promise<BuiltServer> {
  const child = spawn(process.execPath, [...startScriptFlags(), built], {
    cwd,
    env: { PATH: process.env.PATH ?? '', PORT: '0', LOG_LEVEL: 'warn' },
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`no address within 20 s; stderr: ${stderr}`)), 20_000);
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /Gatehouse listening on (http:\/\/\S+)/.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
    child.once('exit', (code) => reject(new Error(`exited with ${code}: ${stderr}`)));
  });
  return { child, url };
}

/** SIGTERM, and the exit code it ends with. */
async function stop(child: ChildProcessWithoutNullStreams): Promise<number | null> {
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  return exited;
}

/**
 * What `pnpm start` runs: the bundled server, as a separate process with only environment
 * variables and the start script's Node flags. `pnpm test` builds it first; this proves the
 * bundle resolves its dependencies and that this Node accepts those flags.
 */
describe('the production build (pnpm start)', () => {
  let dir: string;
  let child: ChildProcessWithoutNullStreams;
  let url: string;

  beforeAll(async () => {
    if (!existsSync(built)) throw new Error(`${built} is missing: run "pnpm build" (pnpm test builds it first)`);
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-start-'));
    ({ child, url } = await startBuilt(dir));
  });

  afterAll(async () => {
    if (child && child.exitCode === null) await stop(child);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('serves /health and /ready on a fresh SQLite file under ./data', async () => {
    expect(await (await fetch(`${url}/health`)).json()).toEqual({ status: 'ok' });
    expect(await (await fetch(`${url}/ready`)).json()).toEqual({ status: 'ready' });
    expect(existsSync(join(dir, 'data', 'gatehouse.db'))).toBe(true);
  });

  // Node 20 has no module compile cache; from 22.1 main.js keeps one beside the build, which Node
  // writes when the process exits: a second server, started and stopped, leaves its entries.
  it.skipIf(!hasCompileCache)('keeps the compiled bundle in a compile cache beside the build', async () => {
    const other = mkdtempSync(join(tmpdir(), 'gatehouse-start-cache-'));
    try {
      const second = await startBuilt(other);
      expect(await stop(second.child)).toBe(0);
      const entries = readdirSync(compileCache, { recursive: true, withFileTypes: true }).filter((e) => e.isFile());
      expect(entries.length).toBeGreaterThan(0);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });

  it('serves the dashboard page at /', async () => {
    expect(existsSync(dashboardIndex)).toBe(true);
    const res = await fetch(`${url}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/html');
    expect(await res.text()).toContain('<div id="root">');
  });

  it('creates the audit signing key with mode 0600', async () => {
    const { statSync } = await import('node:fs');
    const key = join(dir, 'data', 'audit-signing.key');
    expect(existsSync(key)).toBe(true);
    expect(statSync(key).mode & 0o777).toBe(0o600);
  });

  it('exits cleanly on SIGTERM', async () => {
    expect(await stop(child)).toBe(0);
  });
});
