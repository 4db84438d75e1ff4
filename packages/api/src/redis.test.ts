import { startTcpProxy } from '@gatehouse/db/testing';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Logger } from './logger.js';
import { openRedis } from './redis.js';
import { connectTestRedis, TEST_REDIS_URL, uniqueTestPrefix } from './testing.js';

async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function recordingLogger(): { logger: Logger; lines: { level: string; msg: string; obj: Record<string, unknown> }[] } {
  const lines: { level: string; msg: string; obj: Record<string, unknown> }[] = [];
  const at = (level: string) => (obj: object, msg: string) =>
    lines.push({ level, msg, obj: obj as Record<string, unknown> });
  return { logger: { error: at('error'), warn: at('warn'), info: at('info') }, lines };
}

describe('openRedis', () => {
  let admin: Redis | null = null;
  beforeAll(async () => {
    admin = await connectTestRedis();
  });
  afterAll(async () => {
    await admin?.quit();
  });
  const closers: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
  });

  async function open(url: string, logger: Logger): Promise<Redis> {
    const redis = await openRedis(url, logger, { reconnect: { initialDelayMs: 20, maxDelayMs: 100 } });
    closers.push(() => redis.quit().catch(() => redis.disconnect()));
    return redis;
  }

  it('reconnects after the server drops it (CLIENT KILL), logging the outage and the recovery once', async (context) => {
    if (!admin) return context.skip();
    const { logger, lines } = recordingLogger();
    const redis = await open(TEST_REDIS_URL, logger);
    await waitFor(() => redis.status === 'ready');
    const id = await redis.client('ID');
    await admin.client('KILL', 'ID', String(id));
    await waitFor(async () => redis.status === 'ready' && (await redis.client('ID')) !== id);
    expect(lines.map((l) => [l.level, l.msg])).toEqual([
      ['error', 'Redis connection (REDIS_URL) lost; reconnecting with backoff'],
      ['info', 'Redis connection (REDIS_URL) restored'],
    ]);
  });

  it('logs a longer outage once however many reconnects fail, then works again', async (context) => {
    if (!admin) return context.skip();
    const target = new URL(TEST_REDIS_URL);
    const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 6379) });
    closers.push(() => proxy.close());
    target.port = String(proxy.port);
    const { logger, lines } = recordingLogger();
    const redis = await open(target.toString(), logger);
    await waitFor(() => redis.status === 'ready');
    const key = `${uniqueTestPrefix('redis')}k`;

    await proxy.cut();
    await new Promise((r) => setTimeout(r, 300)); // several refused reconnects (20, 40, 80 ms…)
    // Commands fail while it is down rather than wait forever.
    await expect(redis.set(key, '1')).rejects.toThrow();
    expect(lines.map((l) => l.level)).toEqual(['error']);
    expect(lines[0]?.obj.err).toBeInstanceOf(Error);

    await proxy.restore();
    await waitFor(() => redis.status === 'ready');
    await redis.set(key, '2', 'PX', 10_000);
    expect(await redis.get(key)).toBe('2');
    expect(lines.map((l) => l.level)).toEqual(['error', 'info']);
    expect(lines[1]?.obj.failedAttempts).toBeGreaterThan(1);
  });

  it('says nothing when it is closed on purpose', async (context) => {
    if (!admin) return context.skip();
    const { logger, lines } = recordingLogger();
    const redis = await openRedis(TEST_REDIS_URL, logger);
    await waitFor(() => redis.status === 'ready');
    await redis.quit();
    await new Promise((r) => setTimeout(r, 50));
    expect(lines).toEqual([]);
  });
});
