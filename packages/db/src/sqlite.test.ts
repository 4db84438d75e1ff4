import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { BetterSqlite3 } from './sqlite.js';

// A GC entry point without restarting the worker under --expose-gc.
setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

describe('the better-sqlite3 build', () => {
  it('is the one this Node can load (Node-API 10 picks version 13)', () => {
    const db = new BetterSqlite3(':memory:');
    const row = db.prepare('select sqlite_version() as version').get() as { version: string };
    db.close();
    expect(row.version).toMatch(/^3\.\d+\.\d+$/);
  });

  // better-sqlite3 12 on Node 24 aborts the whole process here (an assertion inside Node when a
  // finalized statement removes its cleanup hook): a failure shows up as a crashed worker.
  it('survives the GC finalizing statements and databases that were never closed', async () => {
    const db = new BetterSqlite3(':memory:');
    db.exec('create table t (x integer)');
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 2_000; i++) db.prepare(`select ${round * 2_000 + i} as v from t`).all();
      for (let i = 0; i < 50; i++) new BetterSqlite3(':memory:').prepare('select 1').get();
      collectGarbage();
      await new Promise((resolve) => setImmediate(resolve));
    }
    collectGarbage();
    expect(db.prepare('select count(*) as n from t').get()).toEqual({ n: 0 });
    db.close();
  });
});
