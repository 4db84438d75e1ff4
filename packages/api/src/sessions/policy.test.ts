import { describe, expect, it } from 'vitest';
import {
  absoluteEnd,
  initialExpiry,
  isAlive,
  judge,
  lastSeenDue,
  lifetime,
  liveWindow,
  renewedExpiry,
  sessionPolicy,
  type SessionTimes,
} from './policy.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

const policy = sessionPolicy({ sessionTtlMs: DAY, sessionRememberTtlMs: 30 * DAY, sessionAbsoluteTtlMs: 90 * DAY });
const opened = new Date('2026-02-01T12:00:00.000Z');
const at = (ms: number) => new Date(opened.getTime() + ms);

function session(overrides: Partial<SessionTimes> = {}): SessionTimes {
  const rememberMe = overrides.rememberMe ?? false;
  return {
    createdAt: opened,
    expiresAt: initialExpiry(policy, rememberMe, opened),
    lastSeenAt: opened,
    rememberMe,
    ...overrides,
  };
}

describe('the session expiry policy', () => {
  it('gives a new session SESSION_TTL, or SESSION_REMEMBER_TTL with remember-me', () => {
    expect(lifetime(policy, false)).toBe(DAY);
    expect(lifetime(policy, true)).toBe(30 * DAY);
    expect(initialExpiry(policy, false, opened)).toEqual(at(DAY));
    expect(initialExpiry(policy, true, opened)).toEqual(at(30 * DAY));
  });

  it('never opens a session past the absolute cap, even when the TTL is longer', () => {
    const short = sessionPolicy({ sessionTtlMs: DAY, sessionRememberTtlMs: 30 * DAY, sessionAbsoluteTtlMs: 7 * DAY });
    expect(initialExpiry(short, true, opened)).toEqual(at(7 * DAY));
    expect(absoluteEnd(short, opened)).toEqual(at(7 * DAY));
  });

  it('is alive strictly before its expiry and strictly before the absolute cap', () => {
    const s = session();
    expect(isAlive(policy, s, at(DAY - 1))).toBe(true);
    expect(isAlive(policy, s, at(DAY))).toBe(false);
    const long = session({ expiresAt: at(200 * DAY) }); // a row written under an older, longer cap
    expect(isAlive(policy, long, at(90 * DAY - 1))).toBe(true);
    expect(isAlive(policy, long, at(90 * DAY))).toBe(false);
    expect(judge(policy, s, at(DAY))).toEqual({ alive: false });
  });

  it('keeps the expiry while at least half of the lifetime is left', () => {
    const s = session();
    expect(renewedExpiry(policy, s, at(12 * HOUR))).toBeNull();
    expect(judge(policy, s, at(MINUTE / 2))).toEqual({ alive: true, renewTo: null, touch: false });
  });

  it('slides the expiry to now + lifetime once less than half is left', () => {
    const s = session();
    const now = at(12 * HOUR + 1);
    expect(renewedExpiry(policy, s, now)).toEqual(new Date(now.getTime() + DAY));
    expect(judge(policy, s, now)).toEqual({ alive: true, renewTo: new Date(now.getTime() + DAY), touch: true });
    const remembered = session({ rememberMe: true });
    expect(renewedExpiry(policy, remembered, at(14 * DAY))).toBeNull();
    expect(renewedExpiry(policy, remembered, at(16 * DAY))).toEqual(at(46 * DAY));
  });

  it('slides no further than the absolute cap, and not at all once the cap is the expiry', () => {
    const nearCap = session({ rememberMe: true, expiresAt: at(80 * DAY) });
    expect(renewedExpiry(policy, nearCap, at(70 * DAY))).toEqual(at(90 * DAY));
    const atCap = session({ rememberMe: true, expiresAt: at(90 * DAY) });
    expect(renewedExpiry(policy, atCap, at(89 * DAY))).toBeNull();
    expect(judge(policy, atCap, at(90 * DAY - 1))).toMatchObject({ alive: true, renewTo: null });
  });

  it('asks for a last_seen_at write at most once per interval', () => {
    const s = session();
    expect(lastSeenDue(policy, s, at(MINUTE - 1))).toBe(false);
    expect(lastSeenDue(policy, s, at(MINUTE))).toBe(true);
    expect(judge(policy, s, at(MINUTE))).toEqual({ alive: true, renewTo: null, touch: true });
    const lazy = sessionPolicy(
      { sessionTtlMs: DAY, sessionRememberTtlMs: 30 * DAY, sessionAbsoluteTtlMs: 90 * DAY },
      10 * MINUTE,
    );
    expect(lastSeenDue(lazy, s, at(5 * MINUTE))).toBe(false);
  });

  it('describes the live window a store query filters on', () => {
    expect(liveWindow(policy, at(DAY))).toEqual({ expiresAfter: at(DAY), createdAfter: at(DAY - 90 * DAY) });
  });
});
