/**
 * The Redis connection (REDIS_URL) for shared throttling and cache invalidation. When Redis goes
 * away, ioredis reconnects with exponential backoff (100 ms doubling up to 30 s) and the outage
 * and the recovery are logged once each, not once per attempt. Commands issued meanwhile fail
 * after two retries instead of queueing forever.
 */
import { exponentialBackoff, OutageLog, type ReconnectOptions } from '@gatehouse/db';
import type { Redis } from 'ioredis';
import type { Logger } from './logger.js';

interface OpenRedisOptions {
  reconnect?: ReconnectOptions;
}

export async function openRedis(url: string, logger: Logger, options: OpenRedisOptions = {}): Promise<Redis> {
  // Loaded only when configured, so a single instance does not pay for it at start.
  const { Redis } = await import('ioredis');
  const delay = exponentialBackoff(options.reconnect);
  const redis = new Redis(url, { maxRetriesPerRequest: 2, lazyConnect: false, retryStrategy: (times) => delay(times) });
  reportRedisOutages(redis, logger, 'Redis connection (REDIS_URL)');
  return redis;
}

/**
 * Logs a Redis client's outages once and its recoveries once (`what` names it in the messages).
 * Connections `duplicate()`d from an `openRedis` client keep its backoff; give them this too.
 */
export function reportRedisOutages(client: Redis, logger: Logger, what: string): void {
  const outage = new OutageLog(logger, what, { component: 'redis' });
  let lastError: unknown = null;
  // ioredis emits 'error' and then 'close' for a failed attempt; 'close' alone when the
  // server drops the connection. After quit()/disconnect() the status is 'end': no outage.
  client.on('error', (error: unknown) => {
    lastError = error;
  });
  client.on('close', () => {
    if (client.status !== 'reconnecting') return;
    outage.failed(lastError ?? new Error('the server closed the connection'));
    lastError = null;
  });
  client.on('ready', () => outage.recovered());
}
