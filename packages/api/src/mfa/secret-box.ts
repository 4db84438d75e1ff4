/**
 * Encryption of TOTP secrets at rest (issue 15): AES-256-GCM with a key kept outside the
 * database, in MFA_KEY_FILE (default `mfa-secret.key` beside AUDIT_KEY_FILE), created with mode
 * 0600 at first start like the audit key. A stolen database alone yields no TOTP secret; a lost
 * key file makes every TOTP factor unreadable (back it up with the database, see docs/security.md).
 *
 * Each sealed value is bound to its row (the additional data names the user), so a ciphertext
 * copied onto another account does not decrypt.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { decodeBase64, encodeBase64 } from '@oslojs/encoding';
import { createSecretFile, readSecretFile } from '../secret-file.js';

const VERSION = 'v1';

export class SecretBox {
  readonly #key: Buffer;

  constructor(key: Uint8Array) {
    if (key.length !== 32) throw new Error('the MFA key must be 32 bytes');
    this.#key = Buffer.from(key);
  }

  /** `v1.<iv>.<ciphertext‖tag>` (base64), bound to `context`. */
  seal(plaintext: Uint8Array, context: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv);
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const body = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
    return `${VERSION}.${encodeBase64(iv)}.${encodeBase64(body)}`;
  }

  /** The plaintext, or null when the value was not sealed by this key for this context. */
  open(sealed: string, context: string): Uint8Array | null {
    const [version, ivText, bodyText] = sealed.split('.');
    if (version !== VERSION || !ivText || !bodyText) return null;
    try {
      const iv = decodeBase64(ivText);
      const body = decodeBase64(bodyText);
      if (body.length < 16) return null;
      const decipher = createDecipheriv('aes-256-gcm', this.#key, iv);
      decipher.setAAD(Buffer.from(context, 'utf8'));
      decipher.setAuthTag(body.subarray(body.length - 16));
      return new Uint8Array(Buffer.concat([decipher.update(body.subarray(0, body.length - 16)), decipher.final()]));
    } catch {
      return null;
    }
  }
}

/** MFA_KEY_FILE's default: `mfa-secret.key` in AUDIT_KEY_FILE's directory. */
export function defaultMfaKeyFile(auditKeyFile: string): string {
  return join(dirname(auditKeyFile), 'mfa-secret.key');
}

/**
 * Loads the 32-byte key (base64 text), creating it with mode 0600 on first start. A file
 * readable by group or others is refused: whoever reads it, with the database, reads every
 * TOTP secret.
 */
export function loadOrCreateMfaKey(file: string): Uint8Array {
  const text =
    readSecretFile(file, 'MFA_KEY_FILE') ??
    createSecretFile(file, 'MFA_KEY_FILE', `${encodeBase64(randomBytes(32))}\n`);
  let key: Uint8Array;
  try {
    key = decodeBase64(text.trim());
  } catch {
    throw new Error(`MFA_KEY_FILE ${file} is not a base64 key`);
  }
  if (key.length !== 32) throw new Error(`MFA_KEY_FILE ${file} does not hold a 32-byte key`);
  return key;
}
