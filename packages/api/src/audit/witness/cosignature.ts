/**
 * C2SP tlog-cosignature (cosignature/v1) with Ed25519, and the witness's signed-note key.
 *
 *   signed message = "cosignature/v1\ntime <t>\n" ‖ checkpoint body      (t: POSIX seconds)
 *   signature line = "— <name> " ‖ base64(key id[4] ‖ t as uint64 big-endian[8] ‖ Ed25519 sig[64])
 *   key id         = SHA-256(name ‖ 0x0A ‖ 0x04 ‖ public key[32])[0:4]
 *   verifier key   = <name>+<hex key id>+base64(0x04 ‖ public key)
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { keyId, verifierKeyText } from '../checkpoint.js';

const COSIGNATURE_ALG = 0x04;
const SIG_PREFIX = '\u2014 ';

export class CosignatureError extends Error {
  override name = 'CosignatureError';
}

export interface WitnessVerifier {
  readonly name: string;
  readonly keyId: Buffer;
  readonly publicKey: KeyObject;
  /** `<name>+<hex key id>+<base64(0x04 ‖ key)>` */
  readonly text: string;
}

export interface WitnessSigner extends WitnessVerifier {
  readonly privateKey: KeyObject;
}

export interface Cosignature {
  readonly name: string;
  /** Seconds since the POSIX epoch. */
  readonly time: number;
  /** The whole signature line, without its newline. */
  readonly line: string;
}

function assertName(name: string): void {
  if (name.length === 0 || /[\s+]/u.test(name))
    throw new CosignatureError(`invalid witness name ${JSON.stringify(name)}`);
}

function rawKey(key: KeyObject): Buffer {
  const jwk = key.export({ format: 'jwk' });
  if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string')
    throw new CosignatureError('not an Ed25519 key');
  return Buffer.from(jwk.x, 'base64url');
}

const cosignatureKeyId = (name: string, publicKey: Uint8Array): Buffer => keyId(name, publicKey, COSIGNATURE_ALG);

function makeVerifier(name: string, publicKey: KeyObject): WitnessVerifier {
  assertName(name);
  const raw = rawKey(publicKey);
  const id = cosignatureKeyId(name, raw);
  return { name, keyId: id, publicKey, text: verifierKeyText(name, id, raw, COSIGNATURE_ALG) };
}

export function witnessSignerFromKey(name: string, privateKey: KeyObject): WitnessSigner {
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new CosignatureError('the witness key must be Ed25519');
  return { ...makeVerifier(name, createPublicKey(privateKey)), privateKey };
}

const strictBase64 = (text: string): Buffer | null => {
  const bytes = Buffer.from(text, 'base64');
  return bytes.toString('base64') === text ? bytes : null;
};

/** Parses a witness verifier key (`<name>+<key id>+<base64(0x04 ‖ key)>`). */
export function parseWitnessKey(text: string): WitnessVerifier {
  const match = /^([^+]+)\+([^+]*)\+(.*)$/s.exec(text.trim());
  if (match === null) throw new CosignatureError('witness key must be <name>+<key id>+<base64 key>');
  const [, name, idHex, keyB64] = match as unknown as [string, string, string, string];
  assertName(name);
  const key = strictBase64(keyB64);
  if (!/^[0-9a-f]{8}$/.test(idHex) || key === null || key.length !== 33 || key[0] !== COSIGNATURE_ALG)
    throw new CosignatureError(`witness key ${name} is not a cosignature/v1 (type 0x04) Ed25519 key`);
  const raw = key.subarray(1);
  if (cosignatureKeyId(name, raw).toString('hex') !== idHex)
    throw new CosignatureError(`witness key ${name}: key id does not match its key`);
  const publicKey = createPublicKey({
    key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') },
    format: 'jwk',
  });
  return makeVerifier(name, publicKey);
}

function message(body: string, time: number): Buffer {
  return Buffer.from(`cosignature/v1\ntime ${time}\n${body}`, 'utf8');
}

/** Cosigns a checkpoint body (the note text up to and including its last newline). */
export function cosign(body: string, time: number, signer: WitnessSigner): Cosignature {
  if (!Number.isSafeInteger(time) || time < 0)
    throw new CosignatureError('cosignature time must be a non-negative integer');
  const sig = sign(null, message(body, time), signer.privateKey);
  const ts = Buffer.alloc(8);
  ts.writeBigUInt64BE(BigInt(time));
  const line = `${SIG_PREFIX}${signer.name} ${Buffer.concat([signer.keyId, ts, sig]).toString('base64')}`;
  return { name: signer.name, time, line };
}

/**
 * The cosignature by `witness` among a note's signature lines (or one line), verified over
 * `body`; null when the witness did not sign it. A line by this key that does not verify throws.
 */
export function findCosignature(body: string, lines: readonly string[], witness: WitnessVerifier): Cosignature | null {
  for (const line of lines) {
    if (!line.startsWith(SIG_PREFIX)) continue;
    const [name, blobText, ...rest] = line.slice(SIG_PREFIX.length).split(' ');
    if (name !== witness.name || blobText === undefined || rest.length > 0) continue;
    const blob = strictBase64(blobText);
    if (blob === null || blob.length < 4 || !blob.subarray(0, 4).equals(witness.keyId)) continue;
    if (blob.length !== 4 + 8 + 64) throw new CosignatureError(`malformed cosignature by ${witness.name}`);
    const time = blob.readBigUInt64BE(4);
    if (time > BigInt(Number.MAX_SAFE_INTEGER))
      throw new CosignatureError(`cosignature by ${witness.name}: time out of range`);
    if (!verify(null, message(body, Number(time)), witness.publicKey, blob.subarray(12)))
      throw new CosignatureError(`invalid cosignature by ${witness.name}`);
    return { name, time: Number(time), line };
  }
  return null;
}

/** Splits a signed note into its text (the checkpoint body) and its signature lines. */
export function splitSignedNote(note: string): { body: string; lines: string[] } {
  const split = note.lastIndexOf('\n\n');
  if (split < 0 || !note.endsWith('\n')) throw new CosignatureError('not a signed note');
  return { body: note.slice(0, split + 1), lines: note.slice(split + 2, -1).split('\n') };
}

/** Loads the witness's Ed25519 key (PKCS#8 PEM, mode 0600), creating it on first start. */
export function loadOrCreateWitnessKey(file: string, name: string): WitnessSigner {
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    const { privateKey } = generateKeyPairSync('ed25519');
    pem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    writeFileSync(file, pem, { mode: 0o600, flag: 'wx' });
  }
  if (process.platform !== 'win32' && (statSync(file).mode & 0o077) !== 0)
    throw new CosignatureError(`witness key file ${file} is accessible by group/others; chmod 600 it`);
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch {
    throw new CosignatureError(`witness key file ${file} is not a PEM private key`);
  }
  return witnessSignerFromKey(name, key);
}
