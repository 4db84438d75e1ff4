import { defineConfig } from 'tsdown';

// One ESM bundle for the `gatehouse` bin: workspace packages (TypeScript sources) and pure-JS
// libraries are inlined; native modules and drivers stay external and resolve at run time.
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
