import { fileURLToPath } from 'node:url';
import { ConfigError, loadConfig } from './config.js';

function fail(message: string): never {
  process.stderr.write(`gatehouse: ${message}\n`);
  process.exit(1);
}

let config;
try {
  config = loadConfig(process.env);
} catch (error) {
  if (error instanceof ConfigError) fail(error.message);
  throw error;
}
// The dashboard build sits beside this app in the repository (apps/dashboard/dist).
config.dashboardDir ??= fileURLToPath(new URL('../../dashboard/dist', import.meta.url));

// Loaded after the configuration is known good, so a bad variable fails fast and alone.
const { buildServer } = await import('./server.js');
const { app } = await buildServer(config).catch((error: unknown) =>
  fail(`could not start: ${error instanceof Error ? error.message : String(error)}`),
);
// Graceful shutdown: stop accepting, let in-flight requests finish, close the database. The
// handlers go in before the server listens or prints its address: whoever starts it may send
// SIGTERM as soon as it reads that line, and a signal with no handler yet kills the process
// outright (CI saw exactly that on Node 24).
let closing = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    if (closing) return;
    closing = true;
    app.log.info(`${signal}: shutting down`);
    const forced = setTimeout(() => fail('shutdown took longer than 10 s'), 10_000);
    forced.unref();
    app.close().then(
      () => process.exit(0),
      (error: unknown) => fail(`shutdown failed: ${error instanceof Error ? error.message : String(error)}`),
    );
  });
}

const address = await app
  .listen({ port: config.port, host: config.host })
  .catch((error: unknown) =>
    fail(
      `could not listen on ${config.host}:${config.port}: ${error instanceof Error ? error.message : String(error)}`,
    ),
  );
app.log.info(`Gatehouse listening on ${address}`);
if (config.port === 0) process.stdout.write(`Gatehouse listening on ${address}\n`);
