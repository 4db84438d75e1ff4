/**
 * The browser bundle of the client: built here with esbuild as an app would build it, it holds
 * no server module (the router is imported as a type only), and stays small.
 */
import { build } from 'esbuild';
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';

const src = (file: string) => fileURLToPath(new URL(`../src/${file}`, import.meta.url));

/** Paths that only server code has business with. */
const SERVER_MODULES =
  /packages[\\/](api|db)[\\/]|apps[\\/]server|node_modules[\\/](\.pnpm[\\/])?(kysely|fastify|@fastify|better-sqlite3|pg|ioredis|@node-rs|zod|eventsource|canonicalize)[@+\\/]/;

async function bundle(entry: string, external: string[] = []) {
  const result = await build({
    entryPoints: [src(entry)],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    write: false,
    metafile: true,
    external,
    define: { 'process.env.NODE_ENV': '"production"' },
    logLevel: 'silent',
  });
  const [output] = result.outputFiles;
  if (!output) throw new Error('no output');
  return { code: output.contents, inputs: Object.keys(result.metafile.inputs) };
}

describe('browser bundle', () => {
  test('the client holds no server module and is at most 25 KB gzipped', async () => {
    const { code, inputs } = await bundle('index.ts');
    expect(inputs.filter((path) => SERVER_MODULES.test(path))).toEqual([]);
    expect(inputs.some((path) => path.includes('@trpc/client'))).toBe(true);
    expect(inputs.some((path) => path.includes('superjson'))).toBe(true);
    const gzip = gzipSync(code, { level: 9 }).length;
    console.info(`client bundle: ${code.length} bytes minified, ${gzip} bytes gzipped`);
    expect(gzip).toBeLessThanOrEqual(25 * 1024);
    // No Node built-ins were needed either (they would have failed the browser build).
    expect(inputs.some((path) => path.startsWith('node:'))).toBe(false);
  });

  test('the react entry adds only the tRPC/TanStack glue (react and react-query are the app’s)', async () => {
    const { code, inputs } = await bundle('react.tsx', ['react', 'react/jsx-runtime', '@tanstack/react-query']);
    expect(inputs.filter((path) => SERVER_MODULES.test(path))).toEqual([]);
    const gzip = gzipSync(code, { level: 9 }).length;
    console.info(
      `client/react bundle (react, react-query external): ${code.length} bytes minified, ${gzip} bytes gzipped`,
    );
    expect(gzip).toBeLessThanOrEqual(35 * 1024);
  });
});
