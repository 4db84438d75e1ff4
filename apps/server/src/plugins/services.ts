import fp from 'fastify-plugin';
import { createServices, type Clock, type Services } from '@gatehouse/api';
import { createDb, migrateToLatest, type Db } from '@gatehouse/db';

declare module 'fastify' {
  interface FastifyInstance {
    /** The open database (migrated). Closed by `app.close()`, after the services. */
    db: Db;
    /** Everything the procedures depend on, logging background work through `app.log`. */
    services: Services;
  }
}

interface ServicesPluginOptions {
  databaseUrl: string;
  databasePoolSize: number;
  api: Services['config'];
  clock: Clock;
}

/**
 * The database and the services as a plugin that owns their lifetime: opened (and migrated) at
 * registration, closed by the app's `onClose`. Whatever fails on the way (migration, services)
 * closes what was already open before the error leaves, so a failed start leaks no connection.
 */
export const servicesPlugin = fp<ServicesPluginOptions>(
  async (app, options) => {
    const db = createDb(options.databaseUrl, { poolSize: options.databasePoolSize });
    let services: Services;
    try {
      await migrateToLatest(db);
      services = await createServices({ db, config: options.api, clock: options.clock, logger: app.log });
    } catch (error) {
      await db.close();
      throw error;
    }
    app.decorate('db', db);
    app.decorate('services', services);
    app.addHook('onClose', async () => {
      try {
        await services.close();
      } finally {
        await db.close();
      }
    });
  },
  { name: 'gatehouse-services', fastify: '5.x' },
);
