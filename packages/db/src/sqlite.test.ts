import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BETTER_SQLITE3_MODULE, BetterSqlite3, openSqlite } from './sqlite.js';

describe('the better-sqlite3 build', () => {
  it('is the one this Node can load: version 13 on Node-API 10 (Node 24), else 12 (Node 20)', () => {
    const db = new BetterSqlite3(':memory:');
    const row = db.prepare('select sqlite_version() as version').get() as { version: string };
    db.close();
    expect(row.version).toMatch(/^3\.\d+\.\d+$/);
    expect(BETTER_SQLITE3_MODULE).toBe(Number(process.versions.napi) >= 10 ? 'better-sqlite3-napi' : 'better-sqlite3');
  });

  // better-sqlite3 12 on Node 24 aborts the process once the GC, running between event-loop
  // turns, finalizes a statement (an assertion inside Node). A forced gc() from JS does not
  // trigger it, so a child process makes garbage the ordinary way, as a busy server does.
  it('survives the GC finalizing statements nobody closed, over several event-loop turns', () => {
    const script = `
      const Database = require('module').createRequire(${JSON.stringify(import.meta.filename)})(${JSON.stringify(BETTER_SQLITE3_MODULE)});
      const db = new Database(':memory:');
      db.exec('create table t (x integer)');
      let turns = 0;
      (function burst() {
        for (let i = 0; i < 20000; i++) db.prepare('select ' + (i % 5000) + ' as v from t').all();
        for (let i = 0; i < 50; i++) new Database(':memory:').prepare('select 1').get();
        if (++turns < 3) setTimeout(burst, 10);
        else process.stdout.write('finished');
      })();
    `;
    const child = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 30_000 });
    expect(child.stderr).not.toContain('Assertion failed');
    expect({ status: child.status, signal: child.signal, stdout: child.stdout }).toEqual({
      status: 0,
      signal: null,
      stdout: 'finished',
    });
  });
});

describe('a new SQLite database', () => {
  it.skipIf(process.platform === 'win32')("is readable by the server's user only, with its WAL and directory", () => {
    const root = mkdtempSync(join(tmpdir(), 'gatehouse-sqlite-mode-'));
    try {
      const file = join(root, 'data', 'gatehouse.db');
      const { raw } = openSqlite(file);
      raw.exec('create table t (x integer); insert into t values (1)');
      const mode = (path: string) => statSync(path).mode & 0o777;
      expect(mode(join(root, 'data'))).toBe(0o700);
      expect(mode(file)).toBe(0o600);
      expect(mode(`${file}-wal`)).toBe(0o600);
      raw.close();
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
