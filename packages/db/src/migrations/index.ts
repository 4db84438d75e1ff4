import type { Kysely, Migration } from 'kysely';
import type { DialectName } from '../database.js';
import * as m001 from './001_initial.js';
import * as m002 from './002_audit_tree.js';
import * as m003 from './003_user_identifiers.js';
import * as m004 from './004_throttle_counters.js';
import * as m005 from './005_invalidations.js';
import * as m006 from './006_mail.js';
// issue 15 (MFA)
import * as m007 from './007_mfa.js';
// #16 bridges (API keys, service accounts)
import * as m008 from './008_api_keys.js';
// #17 user import
import * as m009 from './009_external_ids.js';
// #19 audit witnesses
import * as m010 from './010_audit_witnesses.js';
// #19 webhooks
import * as m011 from './011_webhooks.js';
// #19 charts
import * as m013 from './013_audit_activity_index.js';

export interface DialectMigration {
  up(db: Kysely<unknown>, dialect: DialectName): Promise<void>;
}

/**
 * Every migration, in order. Names are permanent: never rename or edit a released migration;
 * add a new one. One set serves both dialects (each receives the dialect for its column types).
 */
export const migrations: ReadonlyArray<readonly [name: string, migration: DialectMigration]> = [
  ['001_initial', m001],
  ['002_audit_tree', m002],
  ['003_user_identifiers', m003],
  ['004_throttle_counters', m004],
  ['005_invalidations', m005],
  ['006_mail', m006],
  // issue 15 (MFA)
  ['007_mfa', m007],
  // #16 bridges
  ['008_api_keys', m008],
  // #17 user import
  ['009_external_ids', m009],
  // #19 audit witnesses
  ['010_audit_witnesses', m010],
  // #19 webhooks
  ['011_webhooks', m011],
  // #19 charts
  ['013_audit_activity_index', m013],
];

export function migrationsFor(dialect: DialectName): Record<string, Migration> {
  return Object.fromEntries(migrations.map(([name, m]) => [name, { up: (db: Kysely<unknown>) => m.up(db, dialect) }]));
}
