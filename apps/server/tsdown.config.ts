import { defineConfig } from 'tsdown';

// One ESM bundle for `start`. Workspace packages and the pure-JS dependencies that load as many
// small files (kysely ~400 modules, fastify and its plugins, zod, tRPC, jose…) are inlined:
// resolving and compiling them file by file was most of the start time (issue 18: first response
// 1037 ms → 334–404 ms on the 2-core EPYC). Native addons (better-sqlite3, @node-rs/*), pg,
// ioredis and nodemailer stay external and resolve from this package's node_modules.
export default defineConfig({
  entry: { main: 'src/main.ts' },
  format: 'esm',
  platform: 'node',
  target: 'node20.19',
  outDir: 'dist',
  clean: true,
  dts: false,
  noExternal: [
    /^@gatehouse\//,
    /^kysely/,
    /^zod/,
    /^superjson/,
    /^jose/,
    /^@trpc\//,
    /^@oslojs\//,
    /^canonicalize/,
    /^fastify/,
    /^@fastify\//,
    /^helmet/,
  ],
});
