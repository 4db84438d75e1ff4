import { defineConfig } from 'tsdown';

/**
 * Every character above U+007F written as a `\uXXXX` escape, one per UTF-16 unit (esbuild's
 * default `charset: 'ascii'`; rolldown has no such option). V8 keeps each module's source text for
 * the life of the process (lazy compilation re-reads it) and stores it as a two-byte string as
 * soon as it holds one such character: the bundle's ~2.6 MB of source cost 5.2 MB of heap for a
 * handful of "—", "≥" and "│" (issue 18). The escape means the same thing in a string, a template's
 * cooked text, a regular expression (either mode) and a comment; only a tagged template's `.raw`
 * would differ, and none of the bundled code reads one over such a character.
 */
const asciiOnly = {
  name: 'gatehouse:ascii-only',
  // After the minifier's printer, which would turn the escapes back into characters.
  generateBundle(_options: unknown, bundle: Record<string, { type: string; code?: string }>) {
    for (const chunk of Object.values(bundle)) {
      if (chunk.type === 'chunk' && chunk.code !== undefined)
        chunk.code = chunk.code.replace(
          /[\u0080-\uffff]/g,
          (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
        );
    }
  },
};

// One ESM bundle for `start`. Workspace packages and the pure-JS dependencies that load as many
// small files (kysely ~400 modules, fastify and its plugins, zod, tRPC, jose…) are inlined:
// resolving and compiling them file by file was most of the start time (issue 18: first response
// 1037 ms → 334–404 ms on the 2-core EPYC). Native addons (better-sqlite3, @node-rs/*), pg,
// ioredis and nodemailer stay external and resolve from this package's node_modules, as do
// Fastify's schema compilers and light-my-request, which load only when used (issue 18).
export default defineConfig({
  entry: { main: 'src/main.ts' },
  format: 'esm',
  platform: 'node',
  target: 'node20.19',
  outDir: 'dist',
  clean: true,
  dts: false,
  // The printer's minified mode drops comments (a third of the source V8 would keep in memory);
  // nothing is compressed or renamed and the line breaks stay, so stack traces read as before.
  minify: { compress: false, mangle: false, codegen: { removeWhitespace: false } },
  plugins: [asciiOnly],
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
    // Fastify's schema compilers stay external: they load only with a route schema (schema-compilers.ts).
    /^@fastify\/(?!ajv-compiler|fast-json-stringify-compiler)/,
    /^helmet/,
  ],
});
