import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../clock.js';
import { DEVICE_COOKIE_TTL_MS, DeviceCookies, deriveDeviceCookieKey, ephemeralDeviceCookieKey } from './device.js';

const DAY = 24 * 3_600_000;

function setup() {
  const clock = new ManualClock('2026-04-01T09:00:00.000Z');
  return { clock, devices: new DeviceCookies(ephemeralDeviceCookieKey(), clock) };
}

describe('device cookies', () => {
  it('verify the cookie issued for the same user, with a fresh random device id each time', () => {
    const { clock, devices } = setup();
    const issued = devices.issue('user-1');
    expect(issued.expiresAt.getTime()).toBe(clock.now().getTime() + DEVICE_COOKIE_TTL_MS);
    const device = devices.verify(issued.value, 'user-1');
    expect(device).toEqual({ id: expect.stringMatching(/^[\w-]{22}$/), userId: 'user-1' });
    expect(devices.verify(devices.issue('user-1').value, 'user-1')?.id).not.toBe(device?.id);
  });

  it('give nothing for another user’s cookie', () => {
    const { devices } = setup();
    expect(devices.verify(devices.issue('user-1').value, 'user-2')).toBeNull();
    expect(devices.verify(devices.issue('user-1').value, null)).toBeNull();
  });

  it('give nothing once expired, nor for an issue time far in the future', () => {
    const { clock, devices } = setup();
    const issued = devices.issue('user-1');
    clock.advance(DEVICE_COOKIE_TTL_MS - 1);
    expect(devices.verify(issued.value, 'user-1')).not.toBeNull();
    clock.advance(1);
    expect(devices.verify(issued.value, 'user-1')).toBeNull();
    // An instance whose clock runs a minute ahead is fine; a day ahead is not.
    const ahead = new DeviceCookies(Buffer.alloc(32, 7), new ManualClock(new Date(clock.now().getTime() + 60_000)));
    const behind = new DeviceCookies(Buffer.alloc(32, 7), clock);
    expect(behind.verify(ahead.issue('user-1').value, 'user-1')).not.toBeNull();
    const dayAhead = new DeviceCookies(Buffer.alloc(32, 7), new ManualClock(new Date(clock.now().getTime() + DAY)));
    expect(behind.verify(dayAhead.issue('user-1').value, 'user-1')).toBeNull();
  });

  it('give nothing for a forged, tampered or malformed cookie', () => {
    const { devices } = setup();
    const value = devices.issue('user-1').value;
    const [version, user, id, issued, mac] = value.split('.') as [string, string, string, string, string];
    const otherUser = Buffer.from('user-2').toString('base64url');
    const forgedByOtherKey = new DeviceCookies(ephemeralDeviceCookieKey(), new ManualClock()).issue('user-1').value;
    for (const bad of [
      forgedByOtherKey,
      [version, otherUser, id, issued, mac].join('.'),
      [version, user, 'AAAAAAAAAAAAAAAAAAAAAA', issued, mac].join('.'),
      [version, user, id, String(Number(issued) + 1), mac].join('.'),
      [version, user, id, issued, `${mac.slice(0, -1)}${mac.endsWith('A') ? 'B' : 'A'}`].join('.'),
      [version, user, id, issued].join('.'),
      `${value}.extra`,
      '',
      'garbage',
      'x'.repeat(10_000),
    ]) {
      expect(devices.verify(bad, 'user-1')).toBeNull();
    }
    expect(devices.verify(null, 'user-1')).toBeNull();
  });

  it('derive the same key from the same audit signing key, and different keys from different ones', () => {
    const key = generateKeyPairSync('ed25519').privateKey;
    const a = deriveDeviceCookieKey(key);
    expect(a).toHaveLength(32);
    expect(deriveDeviceCookieKey(key).equals(a)).toBe(true);
    expect(deriveDeviceCookieKey(generateKeyPairSync('ed25519').privateKey).equals(a)).toBe(false);
    // Instances sharing AUDIT_KEY_FILE accept each other's device cookies.
    const clock = new ManualClock();
    const cookie = new DeviceCookies(a, clock).issue('user-1').value;
    expect(new DeviceCookies(deriveDeviceCookieKey(key), clock).verify(cookie, 'user-1')).not.toBeNull();
  });

  it('refuse a short key', () => {
    expect(() => new DeviceCookies(Buffer.alloc(16), new ManualClock())).toThrow(/32 bytes/);
  });
});
