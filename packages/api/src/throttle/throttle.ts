/**
 * Sign-in throttling (design §5, ASVS 5.0 6.1.1 / 6.3.1): failures are counted per account and
 * client IP together, per account, and per client IP; once a counter reaches its limit inside
 * its window, further attempts answer TOO_MANY_REQUESTS until the window ends.
 *
 * - account + IP (default 5): stops guessing at one account from one address, without locking
 *   the account's owner out from everywhere else (malicious lockout).
 * - account (default 20): stops guessing at one account spread over many addresses.
 * - IP (default 50): stops one address from trying many accounts (credential stuffing).
 *
 * Every attempt is counted before its password is checked (an atomic increment per counter), so
 * a burst of concurrent attempts cannot slip past a limit while the first ones are still being
 * verified. A successful sign-in resets the account's counters and gives the IP its attempt back
 * (the IP's earlier failures stay: one good password must not unlock guessing at other
 * accounts). A window opens at its first attempt and never moves, so hammering a throttled
 * counter does not extend the wait.
 */
import { sha256 } from '@oslojs/crypto/sha2';
import { encodeHexLowerCase } from '@oslojs/encoding';
import type { Clock } from '../clock.js';
import type { CounterStore } from './store.js';

export interface ThrottleOptions {
  /** Failures per account from one client IP within one window before that pair is throttled. */
  accountIpLimit: number;
  /** Failures per account (from any IP) within one window before it is throttled. */
  accountLimit: number;
  /** Failures per client IP within one window before it is throttled. */
  ipLimit: number;
  windowMs: number;
}

export const defaultThrottleOptions: Readonly<ThrottleOptions> = Object.freeze({
  accountIpLimit: 5,
  accountLimit: 20,
  ipLimit: 50,
  windowMs: 15 * 60_000,
});

export interface ThrottleVerdict {
  scope: 'account_ip' | 'account' | 'ip';
  retryAfterSeconds: number;
}

/** What the sign-in and change-password services use (Services.throttle). */
export interface LoginThrottle {
  readonly options: Readonly<ThrottleOptions>;
  /**
   * Counts one attempt on the account + IP, account and IP counters, before the password is
   * checked. Null when the attempt may go ahead; else which counter is over its limit and how
   * long to wait (then the attempt must be refused without checking anything).
   */
  attempt(account: string, ip: string | null): Promise<ThrottleVerdict | null>;
  /** After a success: the account's counters start afresh and the IP gets this attempt back. */
  succeeded(account: string, ip: string | null): Promise<void>;
}

// Counter keys never hold the identifier itself (an email) in clear.
const accountKey = (account: string) =>
  `a:${encodeHexLowerCase(sha256(new TextEncoder().encode(account.toLowerCase())))}`;
const ipKey = (ip: string) => `i:${ip}`;
const pairKey = (account: string, ip: string) => `p:${ip}:${accountKey(account).slice(2)}`;

export function createLoginThrottle(
  store: CounterStore,
  clock: Clock,
  options: Partial<ThrottleOptions> = {},
): LoginThrottle {
  const opts: ThrottleOptions = { ...defaultThrottleOptions, ...options };
  const retryAfter = (resetAtMs: number, nowMs: number) => Math.max(1, Math.ceil((resetAtMs - nowMs) / 1000));
  return {
    options: Object.freeze({ ...opts }),
    async attempt(account, ip) {
      const now = clock.now().getTime();
      const [p, a, i] = await Promise.all([
        ip ? store.hit(pairKey(account, ip), now, opts.windowMs) : Promise.resolve(null),
        store.hit(accountKey(account), now, opts.windowMs),
        ip ? store.hit(ipKey(ip), now, opts.windowMs) : Promise.resolve(null),
      ]);
      if (p && p.count > opts.accountIpLimit)
        return { scope: 'account_ip', retryAfterSeconds: retryAfter(p.resetAtMs, now) };
      if (a.count > opts.accountLimit) return { scope: 'account', retryAfterSeconds: retryAfter(a.resetAtMs, now) };
      if (i && i.count > opts.ipLimit) return { scope: 'ip', retryAfterSeconds: retryAfter(i.resetAtMs, now) };
      return null;
    },
    async succeeded(account, ip) {
      const now = clock.now().getTime();
      await Promise.all([
        store.reset(accountKey(account)),
        ip ? store.reset(pairKey(account, ip)) : Promise.resolve(),
        ip ? store.undo(ipKey(ip), now, opts.windowMs) : Promise.resolve(),
      ]);
    },
  };
}
