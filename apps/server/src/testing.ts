import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Clock } from '@gatehouse/api';
import { loadConfig, type ServerConfig } from './config.js';
import { buildServer, type BuildServerOptions, type GatehouseServer } from './server.js';

export interface RunningServer extends GatehouseServer {
  url: string;
  config: ServerConfig;
  /** Closes the server; removes its temp directory when it made one. */
  stop(): Promise<void>;
}

/**
 * Starts a real server on 127.0.0.1, port 0. Without DATABASE_URL in `env` it gets a fresh
 * SQLite file (and audit key) in a temp directory. PUBLIC_ORIGIN defaults to its own URL.
 */
export async function startTestServer(
  env: Record<string, string> = {},
  options: {
    clock?: Clock;
    /** Extra routes or hooks, added before listening. */ configure?: (app: FastifyInstance) => void;
    /** Default: silent. Pass `{ level, stream }` to read the JSON log lines. */
    logger?: BuildServerOptions['logger'];
  } = {},
): Promise<RunningServer> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-server-'));
  const config = loadConfig({
    DATABASE_URL: `file:${join(dir, 'gatehouse.db')}`,
    AUDIT_KEY_FILE: join(dir, 'audit.key'),
    PORT: '0',
    ...env,
  });
  const server = await buildServer(config, {
    logger: options.logger ?? false,
    ...(options.clock ? { clock: options.clock } : {}),
  });
  options.configure?.(server.app);
  const address = await server.app.listen({ port: 0, host: '127.0.0.1' });
  if (!env.PUBLIC_ORIGIN) {
    // Same-origin by default, as when the dashboard is served by this server.
    (server.services.config as { publicOrigin: string }).publicOrigin = address;
    config.api.publicOrigin = address;
  }
  return {
    ...server,
    url: address,
    config,
    stop: async () => {
      await server.app.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
