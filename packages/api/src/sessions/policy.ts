/**
 * The session expiry policy (architecture §4, the Lucia guide's "inactivity timeout"): pure functions of
 * the session's facts, the time and the configuration. No database, no cache, no clock.
 *
 * - A session lives SESSION_TTL, or SESSION_REMEMBER_TTL when "remember me" was ticked.
 * - Activity slides the expiry: once less than half of that lifetime is left, it moves to
 *   now + lifetime (so the row is written at most once per half-life).
 * - Never beyond SESSION_ABSOLUTE_TTL after creation, however active.
 * - `last_seen_at` is recorded at most once per `lastSeenIntervalMs`.
 */
import type { ApiConfig } from '../config.js';

export interface SessionPolicy {
  readonly sessionTtlMs: number;
  readonly sessionRememberTtlMs: number;
  readonly sessionAbsoluteTtlMs: number;
  /** `last_seen_at` is written at most this often per session. */
  readonly lastSeenIntervalMs: number;
}

/** The facts of a session the policy decides on. */
export interface SessionTimes {
  readonly createdAt: Date;
  readonly expiresAt: Date;
  readonly lastSeenAt: Date;
  readonly rememberMe: boolean;
}

const DEFAULT_LAST_SEEN_INTERVAL_MS = 60_000;

export function sessionPolicy(
  config: Pick<ApiConfig, 'sessionTtlMs' | 'sessionRememberTtlMs' | 'sessionAbsoluteTtlMs'>,
  lastSeenIntervalMs = DEFAULT_LAST_SEEN_INTERVAL_MS,
): SessionPolicy {
  return {
    sessionTtlMs: config.sessionTtlMs,
    sessionRememberTtlMs: config.sessionRememberTtlMs,
    sessionAbsoluteTtlMs: config.sessionAbsoluteTtlMs,
    lastSeenIntervalMs,
  };
}

/** The lifetime one period of activity buys. */
export function lifetime(policy: SessionPolicy, rememberMe: boolean): number {
  return rememberMe ? policy.sessionRememberTtlMs : policy.sessionTtlMs;
}

/** The instant after which no activity keeps the session alive. */
export function absoluteEnd(policy: SessionPolicy, createdAt: Date): Date {
  return new Date(createdAt.getTime() + policy.sessionAbsoluteTtlMs);
}

/** The expiry of a session opened now. */
export function initialExpiry(policy: SessionPolicy, rememberMe: boolean, now: Date): Date {
  return new Date(Math.min(now.getTime() + lifetime(policy, rememberMe), absoluteEnd(policy, now).getTime()));
}

export function isAlive(policy: SessionPolicy, session: SessionTimes, now: Date): boolean {
  const t = now.getTime();
  return t < session.expiresAt.getTime() && t < absoluteEnd(policy, session.createdAt).getTime();
}

/**
 * The new expiry when activity now should slide it: less than half the lifetime is left and the
 * absolute cap still lets it move. Null when the expiry stays.
 */
export function renewedExpiry(policy: SessionPolicy, session: SessionTimes, now: Date): Date | null {
  const span = lifetime(policy, session.rememberMe);
  const left = session.expiresAt.getTime() - now.getTime();
  if (left >= span / 2) return null;
  const next = Math.min(now.getTime() + span, absoluteEnd(policy, session.createdAt).getTime());
  return next > session.expiresAt.getTime() ? new Date(next) : null;
}

export function lastSeenDue(policy: SessionPolicy, session: SessionTimes, now: Date): boolean {
  return now.getTime() - session.lastSeenAt.getTime() >= policy.lastSeenIntervalMs;
}

/** What one validation at `now` does to a session. */
type Verdict =
  | { readonly alive: false }
  | {
      readonly alive: true;
      /** Set when the expiry slides (the row must be written; a cookie must be re-set). */
      readonly renewTo: Date | null;
      /** True when the row must be written (`last_seen_at`, and the expiry when renewed). */
      readonly touch: boolean;
    };

export function judge(policy: SessionPolicy, session: SessionTimes, now: Date): Verdict {
  if (!isAlive(policy, session, now)) return { alive: false };
  const renewTo = renewedExpiry(policy, session, now);
  return { alive: true, renewTo, touch: renewTo !== null || lastSeenDue(policy, session, now) };
}

/** The bounds of a live session at `now`, as a store query needs them. */
export function liveWindow(policy: SessionPolicy, now: Date): { expiresAfter: Date; createdAfter: Date } {
  return { expiresAfter: now, createdAfter: new Date(now.getTime() - policy.sessionAbsoluteTtlMs) };
}
