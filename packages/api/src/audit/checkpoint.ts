/**
 * Signed checkpoints: a C2SP tlog-checkpoint body inside a C2SP signed note, signed with Ed25519.
 *
 *   <origin>\n<tree size>\n<base64 root>\n      ← the signed text
 *   \n
 *   — <key name> <base64(4-byte key id ‖ 64-byte signature)>\n
 *
 * key id = SHA-256(name ‖ 0x0A ‖ 0x01 ‖ 32-byte public key)[0:4]
 * verifier key = <name>+<8 hex key id>+<base64(0x01 ‖ public key)>
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { HASH_SIZE } from './merkle.js';

const ED25519_ALG = 0x01;
const SIG_PREFIX = '\u2014 '; // "— "

class CheckpointError extends Error {
  override name = 'CheckpointError';
}

export interface Checkpoint {
  readonly origin: string;
  readonly treeSize: number;
  readonly rootHash: Buffer;
  /** C2SP extension lines after the root (non-empty, no newline); verifiers may ignore them. */
  readonly extensions?: readonly string[];
}

export interface Verifier {
  readonly name: string;
  readonly keyId: Buffer;
  readonly publicKey: KeyObject;
  /** The verifier key string, `<name>+<hex key id>+<base64(0x01 ‖ key)>`. */
  readonly text: string;
}

export interface Signer extends Verifier {
  readonly privateKey: KeyObject;
}

/** Key names may not contain Unicode white space or '+' (C2SP signed-note). */
function assertKeyName(name: string): void {
  if (name.length === 0 || /[\s+]/u.test(name))
    throw new CheckpointError(`invalid key name/origin ${JSON.stringify(name)}`);
}

function rawPublicKey(key: KeyObject): Buffer {
  const jwk = key.export({ format: 'jwk' });
  if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string')
    throw new CheckpointError('not an Ed25519 key');
  return Buffer.from(jwk.x, 'base64url');
}

/**
 * A signed-note key id: SHA-256(name ‖ 0x0A ‖ algorithm byte ‖ public key)[0:4]. The algorithm
 * byte is 0x01 for a note's Ed25519 signature and 0x04 for a witness's cosignature (C2SP).
 */
export function keyId(name: string, publicKey: Uint8Array, alg: number = ED25519_ALG): Buffer {
  return createHash('sha256')
    .update(name, 'utf8')
    .update(Buffer.from([0x0a, alg]))
    .update(publicKey)
    .digest()
    .subarray(0, 4);
}

/** A signed-note verifier key: `<name>+<hex key id>+base64(algorithm byte ‖ public key)`. */
export function verifierKeyText(name: string, id: Buffer, publicKey: Uint8Array, alg: number = ED25519_ALG): string {
  return `${name}+${id.toString('hex')}+${Buffer.concat([Buffer.from([alg]), publicKey]).toString('base64')}`;
}

function makeVerifier(name: string, publicKey: KeyObject): Verifier {
  assertKeyName(name);
  const raw = rawPublicKey(publicKey);
  const id = keyId(name, raw);
  return { name, keyId: id, publicKey, text: verifierKeyText(name, id, raw) };
}

export function signerFromPrivateKey(name: string, privateKey: KeyObject): Signer {
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new CheckpointError('audit signing key must be Ed25519');
  return { ...makeVerifier(name, createPublicKey(privateKey)), privateKey };
}

/** Strict standard base64 (with padding): Buffer.from(…, 'base64') alone silently skips junk. */
function decodeBase64(text: string): Buffer | null {
  const bytes = Buffer.from(text, 'base64');
  return bytes.toString('base64') === text ? bytes : null;
}

export function parseVerifierKey(text: string): Verifier {
  // Split on the first two '+' only: the base64 key may itself contain '+'.
  const match = /^([^+]+)\+([^+]*)\+(.*)$/s.exec(text.trim());
  if (match === null) throw new CheckpointError('verifier key must be <name>+<key id>+<base64 key>');
  const [, name, idHex, keyB64] = match as unknown as [string, string, string, string];
  assertKeyName(name);
  const key = decodeBase64(keyB64);
  if (!/^[0-9a-f]{8}$/.test(idHex) || key === null || key.length !== 33 || key[0] !== ED25519_ALG) {
    throw new CheckpointError('verifier key is not an Ed25519 signed-note key');
  }
  const raw = key.subarray(1);
  if (keyId(name, raw).toString('hex') !== idHex) throw new CheckpointError('verifier key id does not match its key');
  const publicKey = createPublicKey({
    key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') },
    format: 'jwk',
  });
  return makeVerifier(name, publicKey);
}

// ---------------------------------------------------------------------------------------------

export function checkpointBody(cp: Checkpoint): string {
  assertKeyName(cp.origin);
  if (!Number.isSafeInteger(cp.treeSize) || cp.treeSize < 0)
    throw new CheckpointError('tree size must be a non-negative integer');
  if (cp.rootHash.length !== HASH_SIZE) throw new CheckpointError('root hash must be 32 bytes');
  const extensions = cp.extensions ?? [];
  if (extensions.some((line) => line === '' || line.includes('\n')))
    throw new CheckpointError('extension lines must be non-empty single lines');
  return [cp.origin, String(cp.treeSize), cp.rootHash.toString('base64'), ...extensions, ''].join('\n');
}

export function parseCheckpointBody(body: string): Checkpoint {
  const lines = body.split('\n');
  // At least origin, size, root and the empty string after the final newline; extension lines
  // (non-empty) may follow the root and are ignored.
  if (lines.length < 4 || lines.at(-1) !== '' || lines.slice(0, -1).some((l) => l === '')) {
    throw new CheckpointError('malformed checkpoint body');
  }
  const [origin, sizeText, rootText, ...rest] = lines as [string, string, string, ...string[]];
  if (!/^(0|[1-9][0-9]*)$/.test(sizeText)) throw new CheckpointError('malformed checkpoint tree size');
  const treeSize = Number(sizeText);
  if (!Number.isSafeInteger(treeSize)) throw new CheckpointError('checkpoint tree size out of range');
  const rootHash = decodeBase64(rootText);
  if (rootHash === null || rootHash.length !== HASH_SIZE) throw new CheckpointError('malformed checkpoint root hash');
  assertKeyName(origin);
  const extensions = rest.slice(0, -1);
  return { origin, treeSize, rootHash, ...(extensions.length > 0 ? { extensions } : {}) };
}

/** Signs any note text (non-empty, ending in a newline) and returns the signed note. */
export function signNote(text: string, signer: Signer): string {
  if (text.length === 0 || !text.endsWith('\n') || text.includes('\n\n'))
    throw new CheckpointError('note text must be non-empty lines ending in a newline');
  const signature = sign(null, Buffer.from(text, 'utf8'), signer.privateKey);
  const blob = Buffer.concat([signer.keyId, signature]).toString('base64');
  return `${text}\n${SIG_PREFIX}${signer.name} ${blob}\n`;
}

/** Signs the checkpoint and returns the full signed note text. */
export function signCheckpoint(cp: Checkpoint, signer: Signer): string {
  if (cp.origin !== signer.name) throw new CheckpointError('checkpoint origin must equal the signing key name');
  return signNote(checkpointBody(cp), signer);
}

/** The signed text and our key's signatures over it, after strict parsing of the note. */
function splitNote(note: string, verifier: Verifier): { text: string; signatures: Buffer[] } {
  const split = note.lastIndexOf('\n\n');
  if (split < 0) throw new CheckpointError('signed note has no signature block');
  const text = note.slice(0, split + 1);
  const sigBlock = note.slice(split + 2);
  if (!sigBlock.endsWith('\n')) throw new CheckpointError('signed note must end with a newline');
  const signatures: Buffer[] = [];
  for (const line of sigBlock.slice(0, -1).split('\n')) {
    if (!line.startsWith(SIG_PREFIX)) throw new CheckpointError('malformed signature line');
    const [name, blobText, ...rest] = line.slice(SIG_PREFIX.length).split(' ');
    const blob = blobText === undefined ? null : decodeBase64(blobText);
    if (name === undefined || blob === null || rest.length > 0 || blob.length < 5)
      throw new CheckpointError('malformed signature line');
    // Cosignatures by other keys are allowed and ignored.
    if (name !== verifier.name || !blob.subarray(0, 4).equals(verifier.keyId)) continue;
    if (blob.length !== 4 + 64) throw new CheckpointError('invalid checkpoint signature');
    signatures.push(blob.subarray(4));
  }
  if (signatures.length === 0) throw new CheckpointError(`checkpoint is not signed by ${verifier.name}`);
  return { text, signatures };
}

/** Opens any signed note: its text, when `verifier` signed it (C2SP signed-note). */
export function openSignedNote(note: string, verifier: Verifier): string {
  const { text, signatures } = splitNote(note, verifier);
  for (const sig of signatures) {
    if (!verify(null, Buffer.from(text, 'utf8'), verifier.publicKey, sig))
      throw new CheckpointError('invalid checkpoint signature');
  }
  return text;
}

function openNote(note: string, verifier: Verifier): { body: Buffer; checkpoint: Checkpoint; signatures: Buffer[] } {
  const { text, signatures } = splitNote(note, verifier);
  const checkpoint = parseCheckpointBody(text);
  if (checkpoint.origin !== verifier.name)
    throw new CheckpointError('checkpoint origin does not match the verifier key');
  return { body: Buffer.from(text, 'utf8'), checkpoint, signatures };
}

/**
 * Opens a signed note and returns its checkpoint if it carries a valid signature by `verifier`.
 * Signatures by other keys are ignored (a note may be cosigned); any malformed line is an error.
 */
export function verifyCheckpointNote(note: string, verifier: Verifier): Checkpoint {
  const { body, checkpoint, signatures } = openNote(note, verifier);
  for (const sig of signatures) {
    if (!verify(null, body, verifier.publicKey, sig)) throw new CheckpointError('invalid checkpoint signature');
  }
  return checkpoint;
}

/** Same as verifyCheckpointNote, with the Ed25519 work on libuv's thread pool (for bulk checks). */
export async function verifyCheckpointNoteAsync(note: string, verifier: Verifier): Promise<Checkpoint> {
  const { body, checkpoint, signatures } = openNote(note, verifier);
  for (const sig of signatures) {
    const ok = await new Promise<boolean>((resolve, reject) =>
      verify(null, body, verifier.publicKey, sig, (error, result) => (error ? reject(error) : resolve(result))),
    );
    if (!ok) throw new CheckpointError('invalid checkpoint signature');
  }
  return checkpoint;
}

// ---------------------------------------------------------------------------------------------

/**
 * Loads the Ed25519 signing key (PKCS#8 PEM), creating it with mode 0600 on first start. A key
 * file readable by group or others is refused: whoever reads it can forge checkpoints.
 */
export function loadOrCreateSigningKey(file: string, name: string): Signer {
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    const { privateKey } = generateKeyPairSync('ed25519');
    const created = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    try {
      // 'wx': never overwrite a key another instance created meanwhile.
      writeFileSync(file, created, { mode: 0o600, flag: 'wx' });
      pem = created;
    } catch (writeError) {
      if ((writeError as NodeJS.ErrnoException).code !== 'EEXIST') throw writeError;
      pem = readFileSync(file, 'utf8');
    }
  }
  if (process.platform !== 'win32' && (statSync(file).mode & 0o077) !== 0) {
    throw new CheckpointError(`AUDIT_KEY_FILE ${file} is accessible by group/others; chmod 600 it`);
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch {
    throw new CheckpointError(`AUDIT_KEY_FILE ${file} is not a PEM private key`);
  }
  return signerFromPrivateKey(name, key);
}

/** Origin line default of architecture §8: `gatehouse/<PUBLIC_ORIGIN host>`. */
export function defaultOrigin(publicOrigin: string): string {
  return `gatehouse/${new URL(publicOrigin).host}`;
}
