export * from './schema.js';
export * from './database.js';
export * from './errors.js';
export { listen, notify, type Listener, type ListenOptions } from './listen.js';
export { exponentialBackoff, OutageLog, type Logger, type ReconnectOptions } from './logger.js';
export { BETTER_SQLITE3_MODULE, BetterSqlite3 } from './sqlite.js';
export { migrateToLatest, type MigrateResult } from './migrate.js';
export { sql, type Kysely, type Transaction, type Selectable, type Insertable, type Updateable } from 'kysely';
