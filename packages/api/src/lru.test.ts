import { describe, expect, it } from 'vitest';
import { Lru } from './lru.js';

describe('the bounded cache', () => {
  it('forgets the least recently used entry first when full', () => {
    const lru = new Lru<string, number>({ maxEntries: 2, maxAgeMs: 1000 });
    lru.set('a', 1, 0, lru.epoch);
    lru.set('b', 2, 0, lru.epoch);
    expect(lru.get('a', 0)).toBe(1); // a is now the most recently used
    lru.set('c', 3, 0, lru.epoch);
    expect(lru.size).toBe(2);
    expect(lru.get('b', 0)).toBeUndefined();
    expect(lru.get('a', 0)).toBe(1);
    expect(lru.get('c', 0)).toBe(3);
  });

  it('never returns an entry as old as maxAgeMs', () => {
    const lru = new Lru<string, number>({ maxEntries: 10, maxAgeMs: 1000 });
    lru.set('a', 1, 5000, lru.epoch);
    expect(lru.get('a', 5999)).toBe(1);
    expect(lru.get('a', 6000)).toBeUndefined();
    expect(lru.size).toBe(0);
  });

  it('refuses a fill read before a removal (it may be what was just removed)', () => {
    const lru = new Lru<string, { user: string }>({ maxEntries: 10, maxAgeMs: 1000 });
    const before = lru.epoch;
    lru.deleteWhere((v) => v.user === 'u1');
    lru.set('s1', { user: 'u1' }, 0, before);
    expect(lru.get('s1', 0)).toBeUndefined();
    lru.set('s1', { user: 'u1' }, 0, lru.epoch);
    lru.set('s2', { user: 'u2' }, 0, lru.epoch);
    lru.deleteWhere((v) => v.user === 'u1');
    expect([lru.get('s1', 0), lru.get('s2', 0)]).toEqual([undefined, { user: 'u2' }]);
  });

  it('holds nothing with a bound of zero', () => {
    const lru = new Lru<string, number>({ maxEntries: 0, maxAgeMs: 1000 });
    lru.set('a', 1, 0, lru.epoch);
    expect(lru.size).toBe(0);
  });
});
