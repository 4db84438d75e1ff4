import { defineConfig } from 'tsdown';

// One ESM bundle for `start`: workspace packages are inlined (they ship TypeScript sources),
// npm dependencies stay external and resolve from this package's node_modules.
export default defineConfig({
  entry: { main: 'src/main.ts' },
  format: 'esm',
  platform: 'node',
  target: 'node20.19',
  outDir: 'dist',
  clean: true,
  dts: false,
  noExternal: [/^@gatehouse\//],
});
