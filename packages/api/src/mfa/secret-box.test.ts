import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SecretBox, defaultMfaKeyFile, loadOrCreateMfaKey } from './secret-box.js';

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-mfa-key-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('MFA_KEY_FILE', () => {
  it('defaults to mfa-secret.key beside AUDIT_KEY_FILE', () => {
    expect(defaultMfaKeyFile('/var/lib/gatehouse/audit-signing.key')).toBe('/var/lib/gatehouse/mfa-secret.key');
  });

  it('is created once with mode 0600 and reloaded unchanged', () => {
    const file = join(dir, 'nested', 'mfa.key');
    const key = loadOrCreateMfaKey(file);
    expect(key).toHaveLength(32);
    if (process.platform !== 'win32') expect(statSync(file).mode & 0o777).toBe(0o600);
    const text = readFileSync(file, 'utf8');
    expect(loadOrCreateMfaKey(file)).toEqual(key);
    expect(readFileSync(file, 'utf8')).toBe(text);
  });

  it.skipIf(process.platform === 'win32')('is refused when group or others can read it', () => {
    const file = join(dir, 'open.key');
    loadOrCreateMfaKey(file);
    chmodSync(file, 0o644);
    expect(() => loadOrCreateMfaKey(file)).toThrow(/chmod 600/);
  });
});

describe('SecretBox', () => {
  const box = new SecretBox(new Uint8Array(32).fill(1));
  const secret = new TextEncoder().encode('twenty byte secret!!');

  it('seals with a fresh IV each time and opens only for the same context and key', () => {
    const a = box.seal(secret, 'user-a');
    expect(a).not.toBe(box.seal(secret, 'user-a'));
    expect(box.open(a, 'user-a')).toEqual(secret);
    expect(box.open(a, 'user-b')).toBeNull();
    expect(new SecretBox(new Uint8Array(32).fill(2)).open(a, 'user-a')).toBeNull();
    expect(box.open(`${a.slice(0, -4)}AAAA`, 'user-a')).toBeNull();
    expect(box.open('garbage', 'user-a')).toBeNull();
  });
});
