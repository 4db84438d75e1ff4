/**
 * The server's entry point (`pnpm start` runs its build, dist/main.js). Before anything else
 * loads it turns on Node's module compile cache (Node ≥ 22.1; Node 20 has none): V8 keeps the
 * bundle's compiled code on disk, so a restart skips most of compiling it (issue 18, start to
 * first response). The cache lives beside the build, in a directory of the installing user
 * rather than the shared temporary directory, so nobody else can plant code in it; where the
 * build is read-only nothing is cached and the server starts as without it.
 * NODE_COMPILE_CACHE=<dir> chooses another directory, NODE_DISABLE_COMPILE_CACHE=1 turns it off.
 */
import module from 'node:module';
import { fileURLToPath } from 'node:url';

const { enableCompileCache } = module as { enableCompileCache?: (directory?: string) => unknown };
if (process.env.NODE_COMPILE_CACHE === undefined)
  enableCompileCache?.(fileURLToPath(new URL('../.compile-cache', import.meta.url)));

await import('./start.js');
