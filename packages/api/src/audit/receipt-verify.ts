/**
 * Personal receipts (architecture §19): the C2SP tlog-proof@v1 text of one audit event and its
 * verification. Browser-safe (`@gatehouse/api/receipts`): no Node imports, only WebCrypto
 * (SHA-256 and Ed25519 from `globalThis.crypto.subtle`), so the dashboard, the CLI and any
 * third party run the very same checks.
 *
 *   c2sp.org/tlog-proof@v1
 *   extra <base64 of the event's leaf input: the RFC 8785 JSON the leaf hash is computed from>
 *   index <seq − 1>
 *   <base64 inclusion proof hash, leaf's sibling first, one per line>
 *
 *   <the signed checkpoint note, verbatim, with the witnesses' cosignature lines>
 *
 * The extra data is not trusted by itself: the leaf hash is recomputed from it and must lead to
 * the signed root through the inclusion proof.
 */

const TLOG_PROOF_HEADER = 'c2sp.org/tlog-proof@v1';
const SIG_PREFIX = '\u2014 ';
const ED25519_ALG = 0x01;
const COSIGNATURE_ALG = 0x04;

export interface TlogProof {
  /** Opaque extra data (here: the event's leaf input bytes), when present. */
  readonly extra: Uint8Array | null;
  /** Zero-based index of the entry (seq − 1). */
  readonly index: number;
  readonly proof: readonly Uint8Array[];
  /** The checkpoint note, verbatim (signed note with its signature lines). */
  readonly checkpoint: string;
}

class ReceiptFormatError extends Error {
  override name = 'ReceiptFormatError';
}

// ---- encodings ---------------------------------------------------------------------------------

const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder('utf-8', { fatal: true });

function toBase64(bytes: Uint8Array): string {
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}

/** Strict standard base64 with padding; null for anything else. */
function fromBase64(text: string): Uint8Array | null {
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(text)) return null;
  const binary = atob(text);
  const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  return toBase64(bytes) === text ? bytes : null;
}

function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

function concat(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/**
 * RFC 8785 (JCS) text of a value parsed from JSON: object keys sorted by UTF-16 code units,
 * strings and numbers serialised as ECMAScript's JSON.stringify does (which is what JCS defines).
 * Must agree with leaf.ts's `canonicalJson` (a test holds them together).
 */
export function jcs(value: unknown): string {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new ReceiptFormatError('not representable as JSON');
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(jcs).join(',')}]`;
  if (typeof value === 'object') {
    const entries = Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${jcs((value as Record<string, unknown>)[k])}`);
    return `{${entries.join(',')}}`;
  }
  throw new ReceiptFormatError('not representable as JSON');
}

// ---- the tlog-proof text -----------------------------------------------------------------------

export function formatTlogProof(proof: TlogProof): string {
  if (!Number.isSafeInteger(proof.index) || proof.index < 0) throw new ReceiptFormatError('index out of range');
  const lines = [TLOG_PROOF_HEADER];
  if (proof.extra !== null) lines.push(`extra ${toBase64(proof.extra)}`);
  lines.push(`index ${proof.index}`, ...proof.proof.map(toBase64), '');
  return `${lines.join('\n')}\n${proof.checkpoint}`;
}

function parseTlogProof(text: string): TlogProof {
  const lines = text.split('\n');
  let i = 0;
  if (lines[i++] !== TLOG_PROOF_HEADER) throw new ReceiptFormatError(`not a ${TLOG_PROOF_HEADER} proof`);
  let extra: Uint8Array | null = null;
  if (lines[i]?.startsWith('extra ')) {
    extra = fromBase64((lines[i++] as string).slice('extra '.length));
    if (extra === null) throw new ReceiptFormatError('malformed extra line');
  }
  const indexLine = lines[i++] ?? '';
  const indexMatch = /^index (0|[1-9][0-9]*)$/.exec(indexLine);
  if (indexMatch === null) throw new ReceiptFormatError('malformed index line');
  const index = Number(indexMatch[1]);
  if (!Number.isSafeInteger(index)) throw new ReceiptFormatError('index out of range');
  const proof: Uint8Array[] = [];
  for (; i < lines.length && lines[i] !== ''; i++) {
    const hash = fromBase64(lines[i] as string);
    if (hash === null || hash.length !== 32) throw new ReceiptFormatError('malformed inclusion proof line');
    proof.push(hash);
  }
  if (lines[i] !== '') throw new ReceiptFormatError('no checkpoint after the inclusion proof');
  const checkpoint = lines.slice(i + 1).join('\n');
  if (checkpoint === '') throw new ReceiptFormatError('no checkpoint after the inclusion proof');
  return { extra, index, proof, checkpoint };
}

// ---- keys --------------------------------------------------------------------------------------

interface NoteKey {
  name: string;
  keyId: Uint8Array;
  publicKey: Uint8Array;
  alg: number;
  text: string;
}

async function sha256(...parts: Uint8Array[]): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', concat(...parts)));
}

/** Parses a signed-note verifier key `<name>+<hex key id>+<base64(alg ‖ key)>` and checks its id. */
async function parseNoteKey(text: string, alg: number): Promise<NoteKey> {
  const match = /^([^+\s]+)\+([0-9a-f]{8})\+(\S+)$/.exec(text.trim());
  const key = match === null ? null : fromBase64(match[3] as string);
  if (match === null || key === null || key.length !== 33 || key[0] !== alg)
    throw new ReceiptFormatError(`not an Ed25519 ${alg === ED25519_ALG ? 'log' : 'witness'} verifier key`);
  const name = match[1] as string;
  const publicKey = key.subarray(1);
  const id = (await sha256(utf8.encode(name), new Uint8Array([0x0a, alg]), publicKey)).subarray(0, 4);
  if (toHex(id) !== match[2]) throw new ReceiptFormatError(`the key id of ${name} does not match its key`);
  return { name, keyId: id, publicKey, alg, text: text.trim() };
}

/** SHA-256 of the verifier key text, hex in groups of four: what to compare with a published one. */
export async function keyFingerprint(verifierKey: string): Promise<string> {
  const hex = toHex(await sha256(utf8.encode(verifierKey.trim())));
  return (hex.match(/.{4}/g) ?? []).join(' ');
}

async function ed25519Verify(publicKey: Uint8Array, signature: Uint8Array, message: Uint8Array): Promise<boolean> {
  const key = await crypto.subtle.importKey('raw', concat(publicKey), { name: 'Ed25519' }, false, ['verify']);
  return crypto.subtle.verify({ name: 'Ed25519' }, key, concat(signature), concat(message));
}

// ---- verification ------------------------------------------------------------------------------

export type ReceiptStep = 'event' | 'leaf' | 'inclusion' | 'signature' | 'witnesses';

export interface ReceiptCheck {
  step: ReceiptStep;
  ok: boolean;
  detail: string;
}

export interface ReceiptVerification {
  ok: boolean;
  checks: ReceiptCheck[];
  /** The first failed check's detail, or null. */
  reason: string | null;
  /** The event as parsed from the receipt's leaf input (when it parsed). */
  event: Record<string, unknown> | null;
  seq: number | null;
  leafHash: string | null;
  checkpoint: { origin: string; treeSize: number; rootHash: string } | null;
  /** Witnesses (among the given keys) whose cosignature verified. */
  cosignedBy: string[];
}

export interface VerifyReceiptOptions {
  /** The log's verifier key (`<origin>+<key id>+<base64 key>`). */
  logKey: string;
  /** Witness verifier keys (cosignature/v1); their cosignatures are checked. */
  witnessKeys?: readonly string[];
  /** How many of the witnesses must have cosigned (default: 1 when any key is given). */
  quorum?: number;
  /** The event JSON downloaded next to the proof; must be the proof's leaf input exactly. */
  eventJson?: string;
}

/** RFC 9162 §2.1.3.2: the root an inclusion proof leads to, or null when the proof is malformed. */
async function rootFromInclusionProof(
  index: number,
  size: number,
  leaf: Uint8Array,
  proof: readonly Uint8Array[],
): Promise<Uint8Array | null> {
  if (index >= size) return null;
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  const node = new Uint8Array([0x01]);
  for (const p of proof) {
    if (sn === 0) return null;
    if (fn % 2 === 1 || fn === sn) {
      r = await sha256(node, p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      r = await sha256(node, r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 ? r : null;
}

function parseCheckpoint(body: string): { origin: string; treeSize: number; root: Uint8Array } | null {
  const lines = body.split('\n');
  if (lines.length < 4 || lines.at(-1) !== '') return null;
  const [origin, size, root] = lines as [string, string, string];
  const rootHash = fromBase64(root);
  if (!/^(0|[1-9][0-9]*)$/.test(size) || rootHash === null || rootHash.length !== 32 || origin === '') return null;
  const treeSize = Number(size);
  return Number.isSafeInteger(treeSize) ? { origin, treeSize, root: rootHash } : null;
}

/** The signature lines by `key` (name and key id match), decoded. */
function linesBy(sigLines: readonly string[], key: NoteKey): Uint8Array[] {
  const found: Uint8Array[] = [];
  for (const line of sigLines) {
    if (!line.startsWith(SIG_PREFIX)) continue;
    const [name, blobText, ...rest] = line.slice(SIG_PREFIX.length).split(' ');
    if (name !== key.name || blobText === undefined || rest.length > 0) continue;
    const blob = fromBase64(blobText);
    if (blob !== null && blob.length >= 4 && equal(blob.subarray(0, 4), key.keyId)) found.push(blob);
  }
  return found;
}

/**
 * Verifies a receipt: the event JSON is canonical and its seq is the proof's index + 1, its leaf
 * hash leads through the inclusion proof to the checkpoint's root, the checkpoint is signed by
 * `logKey`, and cosigned by enough of `witnessKeys`. Never throws for bad input: every failure
 * is a failed check with a reason.
 */
export async function verifyReceipt(text: string, options: VerifyReceiptOptions): Promise<ReceiptVerification> {
  const result: ReceiptVerification = {
    ok: false,
    checks: [],
    reason: null,
    event: null,
    seq: null,
    leafHash: null,
    checkpoint: null,
    cosignedBy: [],
  };
  const fail = (step: ReceiptStep, detail: string): ReceiptVerification => {
    result.checks.push({ step, ok: false, detail });
    result.reason = detail;
    return result;
  };
  const pass = (step: ReceiptStep, detail: string) => result.checks.push({ step, ok: true, detail });

  let proof: TlogProof;
  try {
    proof = parseTlogProof(text);
  } catch (error) {
    return fail('event', `the proof is malformed: ${(error as Error).message}`);
  }

  // 1. The event: canonical JSON, the entry at the proof's index.
  let leafInput = proof.extra;
  if (options.eventJson !== undefined) {
    const given = utf8.encode(options.eventJson.replace(/\n$/, ''));
    if (leafInput !== null && !equal(leafInput, given))
      return fail('event', 'the event JSON differs from the one inside the proof');
    leafInput = given;
  }
  if (leafInput === null) return fail('event', 'the proof carries no event (no extra line) and none was given');
  let eventText: string;
  let event: Record<string, unknown>;
  try {
    eventText = utf8Strict.decode(leafInput);
    event = JSON.parse(eventText) as Record<string, unknown>;
  } catch {
    return fail('event', 'the event is not JSON');
  }
  if (event === null || typeof event !== 'object' || Array.isArray(event))
    return fail('event', 'the event is not a JSON object');
  result.event = event;
  if (jcs(event) !== eventText) return fail('event', 'the event JSON is not in canonical (RFC 8785) form');
  if (event.seq !== proof.index + 1)
    return fail('event', `the event's seq (${String(event.seq)}) is not the proof's entry (${proof.index + 1})`);
  result.seq = proof.index + 1;
  pass('event', `event ${result.seq} (${String(event.type)}) is canonical JSON`);

  // 2. Its leaf hash.
  const leaf = await sha256(new Uint8Array([0x00]), leafInput);
  result.leafHash = toHex(leaf);
  pass('leaf', `leaf hash SHA-256(0x00 ‖ event) = ${result.leafHash}`);

  // 3. The checkpoint and the inclusion proof.
  const split = proof.checkpoint.lastIndexOf('\n\n');
  if (split < 0 || !proof.checkpoint.endsWith('\n')) return fail('inclusion', 'the checkpoint is not a signed note');
  const body = proof.checkpoint.slice(0, split + 1);
  const sigLines = proof.checkpoint.slice(split + 2, -1).split('\n');
  const checkpoint = parseCheckpoint(body);
  if (checkpoint === null) return fail('inclusion', 'the checkpoint body is malformed');
  result.checkpoint = { origin: checkpoint.origin, treeSize: checkpoint.treeSize, rootHash: toHex(checkpoint.root) };
  const root = await rootFromInclusionProof(proof.index, checkpoint.treeSize, leaf, proof.proof);
  if (root === null || !equal(root, checkpoint.root))
    return fail(
      'inclusion',
      `the inclusion proof does not lead to the root of the tree of size ${checkpoint.treeSize}`,
    );
  pass('inclusion', `${proof.proof.length} proof hashes lead to the root of the tree of size ${checkpoint.treeSize}`);

  // 4. The log's signature.
  let logKey: NoteKey;
  try {
    logKey = await parseNoteKey(options.logKey, ED25519_ALG);
  } catch (error) {
    return fail('signature', (error as Error).message);
  }
  if (logKey.name !== checkpoint.origin)
    return fail('signature', `the checkpoint's origin ${checkpoint.origin} is not the key's name ${logKey.name}`);
  const signatures = linesBy(sigLines, logKey);
  if (signatures.length === 0) return fail('signature', `the checkpoint carries no signature by ${logKey.name}`);
  const message = utf8.encode(body);
  for (const sig of signatures) {
    if (sig.length !== 4 + 64 || !(await ed25519Verify(logKey.publicKey, sig.subarray(4), message)))
      return fail('signature', `the log's Ed25519 signature does not verify with ${logKey.name}'s key`);
  }
  pass('signature', `Ed25519 signature by ${logKey.name} verifies`);

  // 5. Witnesses.
  const witnessKeys = options.witnessKeys ?? [];
  const quorum = options.quorum ?? (witnessKeys.length > 0 ? 1 : 0);
  for (const keyText of witnessKeys) {
    let key: NoteKey;
    try {
      key = await parseNoteKey(keyText, COSIGNATURE_ALG);
    } catch (error) {
      return fail('witnesses', (error as Error).message);
    }
    for (const blob of linesBy(sigLines, key)) {
      if (blob.length !== 4 + 8 + 64) return fail('witnesses', `malformed cosignature by ${key.name}`);
      const time = new DataView(blob.buffer, blob.byteOffset + 4, 8).getBigUint64(0);
      const signed = utf8.encode(`cosignature/v1\ntime ${time}\n${body}`);
      if (!(await ed25519Verify(key.publicKey, blob.subarray(12), signed)))
        return fail('witnesses', `the cosignature by ${key.name} does not verify`);
      if (!result.cosignedBy.includes(key.name)) result.cosignedBy.push(key.name);
    }
  }
  if (result.cosignedBy.length < quorum)
    return fail(
      'witnesses',
      `${result.cosignedBy.length} of the ${witnessKeys.length} witness(es) cosigned this checkpoint; ${quorum} needed`,
    );
  if (witnessKeys.length > 0)
    pass('witnesses', `cosigned by ${result.cosignedBy.join(', ') || 'no witness'} (${quorum} needed)`);
  result.ok = true;
  return result;
}
