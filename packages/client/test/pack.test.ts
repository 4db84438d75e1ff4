/**
 * Packaging: builds and packs the SDK like a release, installs the tarball into a project
 * outside the workspace with nothing but the package's declared dependencies (from the npm
 * registry), and type-checks a consumer that calls several procedures — and one wrong call.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';

const packageDir = fileURLToPath(new URL('..', import.meta.url));
const require = createRequire(import.meta.url);
const tsc = require.resolve('typescript/bin/tsc');

const CONSUMER = `
import { createGatehouseClient, isGatehouseError, type ErrorReason, type RouterOutputs, type User } from '@gatehouse/client';

const gh = createGatehouseClient({ url: 'http://localhost:3000', token: 'token' });

export async function main(): Promise<void> {
  const page = await gh.user.list.query({ limit: 5, role: 'admin' });
  const users: User[] = page.items;
  const total: number = page.total;
  const created: User = await gh.user.create.mutate({ email: 'a@example.com', name: 'Ada', password: 'correct horse battery' });
  const checkpoint = await gh.audit.checkpoint.query();
  const signedAt: Date = checkpoint.signedAt;
  const verified: RouterOutputs['audit']['verify'] = await gh.audit.verify.query();
  const version: string = (await gh.system.version.query()).version;
  // @ts-expect-error role must be 'admin' or 'member'
  await gh.user.create.mutate({ email: 'b@example.com', name: 'B', password: 'correct horse battery', role: 'root' });
  // @ts-expect-error total is a number, not a string (fails if outputs were any)
  const wrong: string = page.total;
  try {
    await gh.user.delete.mutate({ id: created.id });
  } catch (err) {
    if (isGatehouseError(err, 'CONFLICT')) {
      const code: 'CONFLICT' = err.data.code;
      const status: number = err.data.httpStatus;
      console.log(code, status);
    }
    if (isGatehouseError(err, 'CONFLICT', 'last_admin')) {
      const reason: 'last_admin' = err.data.reason;
      console.log(reason);
    }
    if (isGatehouseError(err)) {
      const reason: ErrorReason = err.data.reason;
      // @ts-expect-error a reason is one of the listed literals, not any string
      const other: 'not_a_reason' = reason;
      console.log(other);
    }
    // @ts-expect-error not a reason
    isGatehouseError(err, 'CONFLICT', 'The last active admin cannot be deleted');
  }
  console.log(users, total, signedAt, verified.ok, version, wrong);
}

// #16: the verifier entry type-checks from the tarball too.
import { createVerifier, type GatehouseUser } from '@gatehouse/client/server';
export async function verify(token: string): Promise<string> {
  const user: GatehouseUser = await createVerifier({ issuer: 'http://localhost:3000' }).verify(token);
  // @ts-expect-error role is 'admin' | 'member'
  const role: 'root' = user.role;
  return user.id + role;
}
`;

let work: string;
let tarball: string;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'gatehouse-pack-'));
  execFileSync('pnpm', ['run', 'build'], { cwd: packageDir, stdio: 'pipe' });
  execFileSync('pnpm', ['pack', '--pack-destination', work], { cwd: packageDir, stdio: 'pipe' });
  const file = readdirSync(work).find((f) => f.endsWith('.tgz'));
  if (!file) throw new Error('pnpm pack wrote no tarball');
  tarball = join(work, file);
}, 300_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('packed SDK', () => {
  test('installs outside the workspace and type-checks a consumer end to end', () => {
    const app = join(work, 'consumer');
    execFileSync('mkdir', ['-p', app]);
    writeFileSync(
      join(app, 'package.json'),
      JSON.stringify({
        name: 'consumer',
        private: true,
        type: 'module',
        dependencies: { '@gatehouse/client': `file:${tarball}` },
      }),
    );
    execFileSync('npm', ['install', '--no-audit', '--no-fund', '--ignore-scripts', '--loglevel=error'], {
      cwd: app,
      stdio: 'pipe',
      timeout: 300_000,
    });

    const installed = join(app, 'node_modules', '@gatehouse', 'client');
    const manifest = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')) as {
      exports: Record<string, { types: string; import: string }>;
      dependencies: Record<string, string>;
    };
    expect(manifest.exports['.']).toEqual({ types: './dist/index.d.ts', import: './dist/index.js' });
    expect(Object.keys(manifest.dependencies).sort()).toEqual(['@trpc/client', '@trpc/server', 'jose', 'superjson']);
    // #16: the token verifier for Node services (its only extra dependency is jose).
    expect(manifest.exports['./server']).toEqual({ types: './dist/server.d.ts', import: './dist/server.js' });
    // Nothing but the declared dependencies was installed: no workspace package, no server library.
    const modules = readdirSync(join(app, 'node_modules'));
    for (const forbidden of ['kysely', 'fastify', 'better-sqlite3', 'pg', 'zod'])
      expect(modules).not.toContain(forbidden);
    expect(readdirSync(join(app, 'node_modules', '@gatehouse'))).toEqual(['client']);

    // The declarations are self-contained: no import of a server package anywhere.
    for (const file of readdirSync(join(installed, 'dist')).filter((f) => f.endsWith('.d.ts'))) {
      const text = readFileSync(join(installed, 'dist', file), 'utf8');
      expect(text, file).not.toMatch(/from ['"](@gatehouse\/|kysely|fastify|zod)/);
      expect(text, file).not.toMatch(/import\(['"](@gatehouse\/|kysely|fastify)/);
    }

    writeFileSync(join(app, 'consumer.ts'), CONSUMER);
    writeFileSync(
      join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          lib: ['ES2023', 'DOM'],
          strict: true,
          noEmit: true,
          // tRPC's own declarations need @types/node and the esnext.disposable lib when checked;
          // like every tRPC consumer we skip checking libraries. Our types stay checked: an `any`
          // from a broken declaration would make the @ts-expect-error lines fail.
          skipLibCheck: true,
          types: [],
        },
        files: ['consumer.ts'],
      }),
    );
    let output = '';
    try {
      execFileSync(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: app, stdio: 'pipe' });
    } catch (error) {
      output = String((error as { stdout?: Buffer }).stdout ?? error);
    }
    expect(output).toBe('');

    // The JavaScript runs too: the client is created and its proxy is there.
    const run = execFileSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        "import { createGatehouseClient } from '@gatehouse/client'; const gh = createGatehouseClient({ url: 'http://127.0.0.1:9' }); console.log(typeof gh.user.list.query);",
      ],
      { cwd: app, encoding: 'utf8' },
    );
    expect(run.trim()).toBe('function');
  }, 400_000);
});
