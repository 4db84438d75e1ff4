export { buildServer, type BuildServerOptions, type GatehouseServer } from './server.js';
export { loadConfig, type ServerConfig } from './config.js';
