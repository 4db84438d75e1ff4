import { describe, expect, it } from 'vitest';
import { exponentialBackoff, OutageLog, type Logger } from './logger.js';

describe('exponentialBackoff', () => {
  it('doubles from the initial delay up to the cap, less at most a quarter of jitter', () => {
    const delay = exponentialBackoff({ initialDelayMs: 100, maxDelayMs: 1000 });
    for (let round = 0; round < 50; round++) {
      [100, 200, 400, 800, 1000, 1000, 1000].forEach((nominal, i) => {
        const ms = delay(i + 1);
        expect(ms).toBeLessThanOrEqual(nominal);
        expect(ms).toBeGreaterThanOrEqual(nominal * 0.75);
      });
    }
    expect(delay(10_000)).toBeLessThanOrEqual(1000);
  });
});

describe('OutageLog', () => {
  it('logs the first failure of an outage and its end, once each, per outage', () => {
    const lines: [string, string, object][] = [];
    const logger: Logger = {
      error: (obj, msg) => lines.push(['error', msg, obj]),
      warn: (obj, msg) => lines.push(['warn', msg, obj]),
      info: (obj, msg) => lines.push(['info', msg, obj]),
    };
    const outage = new OutageLog(logger, 'Thing', { name: 'x' });
    outage.recovered(); // not down: nothing to say
    const first = new Error('refused');
    outage.failed(first);
    outage.failed(new Error('refused again'));
    outage.failed(new Error('and again'));
    expect(outage.down).toBe(true);
    outage.recovered();
    outage.recovered();
    outage.failed(new Error('second outage'));
    expect(lines.map(([level, msg]) => [level, msg])).toEqual([
      ['error', 'Thing lost; reconnecting with backoff'],
      ['info', 'Thing restored'],
      ['error', 'Thing lost; reconnecting with backoff'],
    ]);
    expect(lines[0]?.[2]).toEqual({ name: 'x', err: first });
    expect(lines[1]?.[2]).toMatchObject({ name: 'x', failedAttempts: 3, downtimeMs: expect.any(Number) });
  });
});
