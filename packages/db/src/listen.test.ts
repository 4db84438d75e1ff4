import { afterEach, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { createDb, type Db } from './database.js';
import { listen, notify, type Listener } from './listen.js';
import type { Logger } from './logger.js';
import { createMigratedTestDb, startTcpProxy, testDialects, type TcpProxy } from './testing.js';

async function waitFor(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

interface LogLine {
  level: 'error' | 'warn' | 'info';
  msg: string;
  obj: Record<string, unknown>;
}

function recordingLogger(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const at = (level: LogLine['level']) => (obj: object, msg: string) =>
    lines.push({ level, msg, obj: obj as Record<string, unknown> });
  return { logger: { error: at('error'), warn: at('warn'), info: at('info') }, lines };
}

const channel = () => `test_${Date.now()}_${Math.floor(Math.random() * 1e6)}`;

describe.runIf(testDialects.includes('postgres'))('LISTEN/NOTIFY on PostgreSQL', () => {
  const closers: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
  });

  async function setup(): Promise<Db> {
    const { db, cleanup } = await createMigratedTestDb('postgres');
    closers.push(cleanup);
    return db;
  }

  async function listenTo(db: Db, name: string, received: string[], logger: Logger): Promise<Listener> {
    const listener = await listen(db, name, {
      logger,
      reconnect: { initialDelayMs: 20, maxDelayMs: 200 },
      onMessage: (payload) => received.push(payload),
    });
    closers.push(() => listener.close());
    return listener;
  }

  it('delivers a NOTIFY, and one inside a transaction only when it commits', async () => {
    const db = await setup();
    const name = channel();
    const received: string[] = [];
    const listener = await listenTo(db, name, received, recordingLogger().logger);
    expect(listener.listening).toBe(true);

    await notify(db, name, 'hello');
    await waitFor(() => received.length === 1);
    await db.kysely
      .transaction()
      .execute(async (trx) => {
        await notify(db, name, 'rolled back', trx);
        throw new Error('rollback');
      })
      .catch(() => {});
    await db.kysely.transaction().execute((trx) => notify(db, name, 'committed', trx));
    await waitFor(() => received.length === 2);
    expect(received).toEqual(['hello', 'committed']);
  });

  it('reconnects after its backend is terminated: logs once down, once up, and messages flow again', async () => {
    const db = await setup();
    const name = channel();
    const received: string[] = [];
    const { logger, lines } = recordingLogger();
    let listening = 0;
    let lost = 0;
    const listener = await listen(db, name, {
      logger,
      reconnect: { initialDelayMs: 20, maxDelayMs: 200 },
      onMessage: (payload) => received.push(payload),
      onListening: () => listening++,
      onLost: () => lost++,
    });
    closers.push(() => listener.close());
    const pid = listener.backendPid;
    expect(pid).toEqual(expect.any(Number));

    await sql`select pg_terminate_backend(${pid})`.execute(db.kysely);
    await waitFor(() => lost === 1);
    await waitFor(() => listener.listening);
    expect(listener.backendPid).not.toBe(pid);
    expect(listening).toBe(2);

    await notify(db, name, 'after the reconnect');
    await waitFor(() => received.length === 1);
    expect(received).toEqual(['after the reconnect']);
    expect(lines.map((l) => [l.level, l.msg])).toEqual([
      ['error', 'PostgreSQL LISTEN connection lost; reconnecting with backoff'],
      ['info', 'PostgreSQL LISTEN connection restored'],
    ]);
    expect(lines[0]?.obj).toMatchObject({ channel: name, err: expect.any(Error) });
  });

  it('logs a longer outage once, however many attempts fail, and its recovery once', async () => {
    const db = await setup();
    const url = new URL(db.url);
    const proxy: TcpProxy = await startTcpProxy({ host: url.hostname, port: Number(url.port || 5432) });
    closers.push(() => proxy.close());
    url.port = String(proxy.port);
    const viaProxy = createDb(url.toString(), { poolSize: 1 });
    closers.push(() => viaProxy.close());
    const name = channel();
    const received: string[] = [];
    const { logger, lines } = recordingLogger();
    const listener = await listenTo(viaProxy, name, received, logger);
    expect(listener.listening).toBe(true);

    await proxy.cut();
    await waitFor(() => !listener.listening);
    await new Promise((r) => setTimeout(r, 400)); // several refused attempts (20, 40, 80, … ms)
    expect(lines.map((l) => l.level)).toEqual(['error']);
    await proxy.restore();
    await waitFor(() => listener.listening);

    await notify(db, name, 'back');
    await waitFor(() => received.length === 1);
    expect(lines.map((l) => l.level)).toEqual(['error', 'info']);
    expect(lines[1]?.obj.failedAttempts).toBeGreaterThan(2);
  });

  it('starts while PostgreSQL is unreachable and listens once it answers', async () => {
    const db = await setup();
    const url = new URL(db.url);
    const proxy = await startTcpProxy({ host: url.hostname, port: Number(url.port || 5432) });
    closers.push(() => proxy.close());
    await proxy.cut();
    url.port = String(proxy.port);
    const viaProxy = createDb(url.toString(), { poolSize: 1 });
    closers.push(() => viaProxy.close());
    const name = channel();
    const received: string[] = [];
    const { logger, lines } = recordingLogger();
    const listener = await listenTo(viaProxy, name, received, logger);
    expect(listener.listening).toBe(false);
    expect(lines.map((l) => l.level)).toEqual(['error']);

    await proxy.restore();
    await waitFor(() => listener.listening);
    await notify(db, name, 'hello');
    await waitFor(() => received.length === 1);
    expect(lines.map((l) => l.level)).toEqual(['error', 'info']);
  });
});

describe('LISTEN/NOTIFY on SQLite', () => {
  it('is not available: one server process has nobody to hear from', async () => {
    const { db, cleanup } = await createMigratedTestDb('sqlite');
    try {
      await expect(listen(db, 'x', { logger: recordingLogger().logger, onMessage() {} })).rejects.toThrow(
        /needs PostgreSQL/,
      );
      await expect(notify(db, 'x', 'y')).rejects.toThrow(/needs PostgreSQL/);
    } finally {
      await cleanup();
    }
  });
});
