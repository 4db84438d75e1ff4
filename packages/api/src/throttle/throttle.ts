/**
 * Sign-in throttling (architecture §5, ASVS 5.0 6.1.1 / 6.3.1): attempts are counted per account and
 * client IP together, per client IP, and per account; once a counter reaches its limit inside
 * its window, further attempts answer TOO_MANY_REQUESTS until the window ends.
 *
 * - account + IP (default 5): stops guessing at one account from one address, without locking
 *   the account's owner out from everywhere else (malicious lockout).
 * - IP (default 50): stops one address from trying many accounts (credential stuffing).
 * - account (default 20): stops guessing at one account spread over many addresses.
 * - device (default 5): a browser with a valid device cookie for the account (device.ts) is
 *   counted on its own counter only, so no lockout of the account by others reaches it.
 *
 * Counters are checked narrowest first, and an attempt refused by one counter is counted on
 * none: it neither adds to a wider counter (so one address puts at most 5 on the account's
 * counter, and can never lock the owner out on its own) nor creates any counter key (so a flood
 * of refused attempts costs no memory and evicts nobody). An attempt that may go ahead is
 * counted before its password is checked (an atomic increment per counter), so a burst of
 * concurrent attempts cannot slip past a limit while the first ones are still being verified;
 * should a burst overshoot, the overshooting attempt takes its counts back and is refused.
 *
 * A successful sign-in resets the account's counters and gives the IP its attempt back (the
 * IP's earlier failures stay: one good password must not unlock guessing at other accounts); a
 * success through a device cookie resets that device's counter only. A window opens at its
 * first attempt and never moves, so hammering a throttled counter does not extend the wait.
 */
import { sha256 } from '@oslojs/crypto/sha2';
import { encodeHexLowerCase } from '@oslojs/encoding';
import type { Clock } from '../clock.js';
import { DeviceCookies, ephemeralDeviceCookieKey, type TrustedDevice } from './device.js';
import type { CounterStore } from './store.js';

export interface ThrottleOptions {
  /** Failures per account from one client IP within one window before that pair is throttled. */
  accountIpLimit: number;
  /** Failures per account (from any IP) within one window before it is throttled. */
  accountLimit: number;
  /** Failures per client IP within one window before it is throttled. */
  ipLimit: number;
  /** Failures per device cookie within one window before that device is throttled. */
  deviceLimit: number;
  windowMs: number;
}

const defaultThrottleOptions: Readonly<ThrottleOptions> = Object.freeze({
  accountIpLimit: 5,
  accountLimit: 20,
  ipLimit: 50,
  deviceLimit: 5,
  windowMs: 15 * 60_000,
});

export interface ThrottleVerdict {
  scope: 'account_ip' | 'account' | 'ip' | 'device';
  retryAfterSeconds: number;
}

export interface AttemptOptions {
  /**
   * The caller's device cookie, as `throttle.devices.verify(cookie, user.id)` accepted it for the
   * account being signed in to. Then only the device's own counter applies.
   */
  device?: TrustedDevice | null | undefined;
}

/** What the sign-in and change-password services use (Services.throttle). */
export interface LoginThrottle {
  readonly options: Readonly<ThrottleOptions>;
  /** Issues and verifies device cookies (the same key on every instance sharing the audit key). */
  readonly devices: DeviceCookies;
  /**
   * Counts one attempt, before the password is checked. Null when the attempt may go ahead;
   * else which counter is at its limit and how long to wait (then the attempt must be refused
   * without checking anything; it has been counted nowhere).
   */
  attempt(account: string, ip: string | null, options?: AttemptOptions): Promise<ThrottleVerdict | null>;
  /** After a success: the account's counters start afresh and the IP gets this attempt back. */
  succeeded(account: string, ip: string | null, options?: AttemptOptions): Promise<void>;
}

// Counter keys never hold the identifier itself (an email) in clear.
const accountKey = (account: string) =>
  `a:${encodeHexLowerCase(sha256(new TextEncoder().encode(account.toLowerCase())))}`;
const ipKey = (ip: string) => `i:${ip}`;
const pairKey = (account: string, ip: string) => `p:${ip}:${accountKey(account).slice(2)}`;
const deviceKey = (device: TrustedDevice) => `d:${device.id}`;

interface Counter {
  key: string;
  limit: number;
  scope: ThrottleVerdict['scope'];
}

export function createLoginThrottle(
  store: CounterStore,
  clock: Clock,
  options: Partial<ThrottleOptions> = {},
  devices: DeviceCookies = new DeviceCookies(ephemeralDeviceCookieKey(), clock),
): LoginThrottle {
  const opts: ThrottleOptions = { ...defaultThrottleOptions, ...options };
  const { windowMs } = opts;
  const verdict = (scope: ThrottleVerdict['scope'], resetAtMs: number, nowMs: number): ThrottleVerdict => ({
    scope,
    retryAfterSeconds: Math.max(1, Math.ceil((resetAtMs - nowMs) / 1000)),
  });

  /** The counters an attempt is subject to, narrowest first. */
  function countersFor(account: string, ip: string | null, device: TrustedDevice | null | undefined): Counter[] {
    if (device) return [{ key: deviceKey(device), limit: opts.deviceLimit, scope: 'device' }];
    return [
      ...(ip ? [{ key: pairKey(account, ip), limit: opts.accountIpLimit, scope: 'account_ip' } as const] : []),
      ...(ip ? [{ key: ipKey(ip), limit: opts.ipLimit, scope: 'ip' } as const] : []),
      { key: accountKey(account), limit: opts.accountLimit, scope: 'account' },
    ];
  }

  return {
    options: Object.freeze({ ...opts }),
    devices,
    async attempt(account, ip, attemptOptions = {}) {
      const now = clock.now().getTime();
      const counters = countersFor(account, ip, attemptOptions.device);
      // Look first: a refused attempt counts nowhere and creates no key.
      const states = await Promise.all(counters.map((c) => store.peek(c.key, now, windowMs)));
      for (const [i, counter] of counters.entries()) {
        const state = states[i];
        if (state && state.count >= counter.limit) return verdict(counter.scope, state.resetAtMs, now);
      }
      // Then count, narrowest first; a concurrent burst that overshoots a limit takes back its
      // counts (the wider counters were never reached).
      const counted: Counter[] = [];
      for (const counter of counters) {
        const state = await store.hit(counter.key, now, windowMs, counter.limit);
        counted.push(counter);
        if (state.count > counter.limit) {
          await Promise.all(counted.map((c) => store.undo(c.key, now, windowMs)));
          return verdict(counter.scope, state.resetAtMs, now);
        }
      }
      return null;
    },
    async succeeded(account, ip, attemptOptions = {}) {
      const now = clock.now().getTime();
      const { device } = attemptOptions;
      if (device) return store.reset(deviceKey(device));
      await Promise.all([
        store.reset(accountKey(account)),
        ip ? store.reset(pairKey(account, ip)) : Promise.resolve(),
        ip ? store.undo(ipKey(ip), now, windowMs) : Promise.resolve(),
      ]);
    },
  };
}
