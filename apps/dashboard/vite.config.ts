import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

/** Where `pnpm dev` finds the API (the server's own dev process). */
const apiTarget = process.env.GATEHOUSE_API_URL ?? 'http://127.0.0.1:3000';
/** The server's PUBLIC_ORIGIN: browser mutations must carry it as their Origin (CSRF check). */
const apiOrigin = process.env.GATEHOUSE_PUBLIC_ORIGIN ?? 'http://localhost:3000';

export default defineConfig({
  plugins: [react()],
  // One copy of each of these, whichever package imports them (the client's react subpath too).
  resolve: { dedupe: ['react', 'react-dom', '@tanstack/react-query', '@trpc/client', '@trpc/tanstack-react-query'] },
  server: {
    port: 5173,
    strictPort: true,
    proxy: {
      '/trpc': {
        target: apiTarget,
        configure(proxy) {
          // Same-origin in production; in dev the page's origin is Vite's. Requests that come
          // from this dev page are presented with the server's own origin, anything else is
          // forwarded untouched and still refused by the server's CSRF check.
          proxy.on('proxyReq', (proxyReq, req) => {
            const origin = req.headers.origin;
            const host = req.headers.host;
            if (origin !== undefined && host !== undefined && new URL(origin).host === host) {
              proxyReq.setHeader('origin', apiOrigin);
            }
          });
        },
      },
    },
  },
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: false, target: 'es2022' },
});
