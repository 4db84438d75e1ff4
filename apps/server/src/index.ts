export { buildServer, type BuildServerOptions, type GatehouseServer } from './server.js';
export { loadConfig, parseDuration, ConfigError, type ServerConfig } from './config.js';
export { sessionCookieName } from './plugins/trpc.js';
