/**
 * Builds the publishable SDK into dist/: ESM JavaScript and declarations from src/ (tsc), then
 * replaces dist/types.d.ts — the one module that refers to `@gatehouse/api` — with the generated,
 * self-contained declaration of the API (router-types.ts). Fails if any emitted file still
 * names a server package.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateRouterTypes } from './router-types.js';

const packageDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(packageDir, 'dist');
const require = createRequire(import.meta.url);

/** Module names that must never appear in the published files. */
export const FORBIDDEN_IMPORTS =
  /['"](@gatehouse\/(api|db|server)|kysely|fastify|@fastify\/[\w-]+|better-sqlite3|pg|ioredis|@node-rs\/[\w-]+)(\/[^'"]*)?['"]/;

rmSync(dist, { recursive: true, force: true });
execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', join(packageDir, 'tsconfig.build.json')], {
  stdio: 'inherit',
});
writeFileSync(join(dist, 'types.d.ts'), generateRouterTypes());
writeFileSync(join(dist, 'types.js'), 'export {};\n');

for (const file of readdirSync(dist)) {
  const match = FORBIDDEN_IMPORTS.exec(readFileSync(join(dist, file), 'utf8'));
  if (match) throw new Error(`dist/${file} refers to ${match[1]}: server code must not reach the SDK`);
}
process.stdout.write(`built ${readdirSync(dist).length} files into dist/\n`);
