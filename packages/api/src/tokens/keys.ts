/**
 * The JWT signing keys (issue 16): Ed25519 (`EdDSA`), kept outside the database in JWT_KEY_FILE —
 * a JSON file `{ "keys": [ <private JWK with kid>, … ] }`, newest first, at most two: the current
 * key signs, the previous one stays in the JWKS so tokens it signed keep verifying until they
 * expire. Created with mode 0600 (its directory 0700) on first start; a file readable by group or
 * others is refused (whoever reads it can mint tokens for anyone).
 *
 * `gatehouse jwt rotate-key` rotates the file (atomically); running servers notice within
 * `reloadIntervalMs` (a stat of the file's mtime) and switch to the new key.
 */
import { statSync } from 'node:fs';
import { exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';
import { writeFileAtomic } from '../audit/key-history.js';
import { createSecretFile, readSecretFile } from '../secret-file.js';

class JwtKeyError extends Error {
  override readonly name = 'JwtKeyError';
}

interface StoredKey extends JWK {
  kid: string;
  /** ISO 8601: when the key was made (the JWKS lists it, newest first). */
  created: string;
}

export interface SigningKey {
  kid: string;
  key: CryptoKey;
}

async function newStoredKey(now: Date): Promise<StoredKey> {
  const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  const jwk = await exportJWK(privateKey);
  const kid = `${now.toISOString().slice(0, 10)}-${crypto.randomUUID().slice(0, 8)}`;
  return { ...jwk, kid, alg: 'EdDSA', use: 'sig', created: now.toISOString() };
}

function parseFile(text: string, file: string): StoredKey[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new JwtKeyError(`JWT_KEY_FILE ${file} is not JSON`);
  }
  const keys = (parsed as { keys?: unknown }).keys;
  if (!Array.isArray(keys) || keys.length === 0) throw new JwtKeyError(`JWT_KEY_FILE ${file} has no keys`);
  for (const key of keys as StoredKey[]) {
    if (key.kty !== 'OKP' || key.crv !== 'Ed25519' || typeof key.d !== 'string' || typeof key.kid !== 'string') {
      throw new JwtKeyError(`JWT_KEY_FILE ${file} holds a key that is not an Ed25519 private JWK`);
    }
  }
  return keys as StoredKey[];
}

function format(keys: readonly StoredKey[]): string {
  return `${JSON.stringify({ keys }, null, 2)}\n`;
}

/** Reads the key file, creating it (one key) on first start. */
async function readOrCreate(file: string, now: Date): Promise<StoredKey[]> {
  const text =
    readSecretFile(file, 'JWT_KEY_FILE') ?? createSecretFile(file, 'JWT_KEY_FILE', format([await newStoredKey(now)]));
  return parseFile(text, file);
}

/**
 * Makes a new current key; the old current key becomes the previous one (older keys are dropped:
 * tokens live minutes, so one previous key covers every token still alive). Returns the new kid.
 */
export async function rotateJwtKeyFile(file: string, now = new Date()): Promise<{ kid: string; previous: string }> {
  const keys = await readOrCreate(file, now);
  const next = await newStoredKey(now);
  const previous = keys[0] as StoredKey;
  writeFileAtomic(file, format([next, previous]));
  return { kid: next.kid, previous: previous.kid };
}

function publicJwk(key: StoredKey): JWK {
  return { kty: key.kty, crv: key.crv, x: key.x, kid: key.kid, alg: 'EdDSA', use: 'sig' };
}

interface Loaded {
  current: SigningKey;
  jwks: { keys: JWK[] };
}

async function load(keys: readonly StoredKey[]): Promise<Loaded> {
  const first = keys[0] as StoredKey;
  const { created: _created, ...jwk } = first;
  const key = (await importJWK(jwk, 'EdDSA')) as CryptoKey;
  return { current: { kid: first.kid, key }, jwks: { keys: keys.slice(0, 2).map(publicJwk) } };
}

/**
 * The keys as the token service uses them. From a file they are read on first use (`ready()`;
 * the server calls it at start, so a bad file stops the start, while CLI commands that never mint
 * a token never create the file).
 */
export class JwtKeys {
  #loaded: Promise<Loaded> | null;
  readonly #file: string | null;
  readonly #reloadIntervalMs: number;
  #checkedAt = 0;
  #mtimeMs = 0;

  private constructor(loaded: Promise<Loaded> | null, file: string | null, reloadIntervalMs: number) {
    this.#loaded = loaded;
    this.#file = file;
    this.#reloadIntervalMs = reloadIntervalMs;
  }

  /** From JWT_KEY_FILE, created on first use. */
  static fromFile(file: string, options: { reloadIntervalMs?: number } = {}): JwtKeys {
    return new JwtKeys(null, file, options.reloadIntervalMs ?? 2_000);
  }

  /** A key held in memory only (tests). */
  static async inMemory(): Promise<JwtKeys> {
    return new JwtKeys(Promise.resolve(await load([await newStoredKey(new Date())])), null, 0);
  }

  /** Loads (or creates) the key file now; throws JwtKeyError for a bad one. */
  async ready(): Promise<void> {
    await this.#get();
  }

  /** The key that signs now (re-read after a rotation of the file, checked at most every interval). */
  async current(): Promise<SigningKey> {
    return (await this.#get()).current;
  }

  /** The public keys, current first then previous (`/.well-known/jwks.json`). */
  async jwks(): Promise<{ keys: JWK[] }> {
    return (await this.#get()).jwks;
  }

  #get(): Promise<Loaded> {
    const file = this.#file;
    if (file === null) return this.#loaded as Promise<Loaded>;
    const now = Date.now();
    if (this.#loaded !== null && now - this.#checkedAt < this.#reloadIntervalMs) return this.#loaded;
    this.#checkedAt = now;
    if (this.#loaded !== null && statSync(file).mtimeMs === this.#mtimeMs) return this.#loaded;
    const loading = readOrCreate(file, new Date()).then(async (keys) => {
      this.#mtimeMs = statSync(file).mtimeMs;
      return load(keys);
    });
    // A failed load is retried on the next call rather than cached.
    loading.catch(() => {
      if (this.#loaded === loading) this.#loaded = null;
    });
    this.#loaded = loading;
    return loading;
  }
}
