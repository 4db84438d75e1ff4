/**
 * Key files kept outside the database (the MFA key, the JWT signing keys): created on first start
 * with mode 0600 in a 0700 directory, never overwritten, and refused when group or others can read
 * them — whoever reads one can decrypt TOTP secrets or mint tokens.
 */
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

class SecretFileError extends Error {
  override readonly name = 'SecretFileError';
}

/** The file's text, or null when it does not exist yet. `variable` names it in errors (MFA_KEY_FILE…). */
export function readSecretFile(file: string, variable: string): string | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  if (process.platform !== 'win32' && (statSync(file).mode & 0o077) !== 0) {
    throw new SecretFileError(`${variable} ${file} is accessible by group/others; chmod 600 it`);
  }
  return text;
}

/**
 * Writes a new secret file with `text` and returns it — unless another instance created the file
 * meanwhile ('wx' never overwrites): then that file's text is returned, so both use one key.
 */
export function createSecretFile(file: string, variable: string, text: string): string {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  try {
    writeFileSync(file, text, { mode: 0o600, flag: 'wx' });
    return text;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return readSecretFile(file, variable) ?? text;
  }
}
