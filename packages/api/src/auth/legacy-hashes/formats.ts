/**
 * Parsing every password hash format Gatehouse accepts (docs/migrating.md lists them with the
 * libraries that write them). `parsePasswordHash` is the one gate: import refuses a hash it does
 * not accept (the row number and this reason go in the report), and sign-in verifies only what
 * it accepts, so a stored hash never asks more work than LEGACY_HASH_LIMITS allow.
 */
import { LEGACY_HASH_LIMITS as LIMITS } from './limits.js';
import { fromBase64, fromHex, fromPasslibBase64, parseCount } from './encoding.js';

export type PasswordHashScheme =
  | 'argon2id'
  | 'argon2i'
  | 'argon2d'
  | 'bcrypt'
  | 'passlib-bcrypt-sha256'
  | 'django-bcrypt-sha256'
  | 'passlib-scrypt'
  | 'werkzeug-scrypt'
  | 'passlib-pbkdf2-sha256'
  | 'passlib-pbkdf2-sha512'
  | 'django-pbkdf2-sha256'
  | 'werkzeug-pbkdf2';

export type Pbkdf2Digest = 'sha1' | 'sha256' | 'sha512';

export type ParsedPasswordHash =
  | { scheme: 'argon2id' | 'argon2i' | 'argon2d'; kind: 'argon2'; phc: string }
  | { scheme: 'bcrypt'; kind: 'bcrypt'; hash: string }
  /** `bcrypt` is the inner `$2b$…` string; the password goes in as base64(sha256 or HMAC-SHA256). */
  | { scheme: 'passlib-bcrypt-sha256'; kind: 'bcrypt-sha256'; version: 1 | 2; salt: string; bcrypt: string }
  /** Django's `bcrypt_sha256$<bcrypt>`: the password goes in as hex(sha256(password)). */
  | { scheme: 'django-bcrypt-sha256'; kind: 'bcrypt-hex-sha256'; bcrypt: string }
  | {
      scheme: 'passlib-scrypt' | 'werkzeug-scrypt';
      kind: 'scrypt';
      N: number;
      r: number;
      p: number;
      salt: Buffer;
      expected: Buffer;
    }
  | {
      scheme: 'passlib-pbkdf2-sha256' | 'passlib-pbkdf2-sha512' | 'django-pbkdf2-sha256' | 'werkzeug-pbkdf2';
      kind: 'pbkdf2';
      digest: Pbkdf2Digest;
      iterations: number;
      salt: Buffer;
      expected: Buffer;
    };

/** Why a hash is refused; also the `reason` of an import report row. */
export type HashRejection = 'hash_unknown_format' | 'hash_malformed' | 'hash_too_costly';

export type HashParseResult =
  { ok: true; hash: ParsedPasswordHash } | { ok: false; reason: HashRejection; message: string };

const malformed = (message: string): HashParseResult => ({ ok: false, reason: 'hash_malformed', message });
const tooCostly = (message: string): HashParseResult => ({ ok: false, reason: 'hash_too_costly', message });
const accepted = (hash: ParsedPasswordHash): HashParseResult => ({ ok: true, hash });

/** `a=1,b=2` into a map; null when a part is not `key=value` or a key repeats. */
function keyValues(text: string): Map<string, string> | null {
  const map = new Map<string, string>();
  for (const part of text.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0 || map.has(part.slice(0, eq))) return null;
    map.set(part.slice(0, eq), part.slice(eq + 1));
  }
  return map;
}

// ---- bcrypt -----------------------------------------------------------------------------------

const BCRYPT = /^\$(2[aby])\$(\d{2})\$([./A-Za-z0-9]{22})([./A-Za-z0-9]{31})$/;

function checkBcryptCost(cost: number): HashParseResult | null {
  if (cost < LIMITS.bcrypt.minCost || cost > 31) return malformed(`bcrypt cost ${cost} is outside 4–31`);
  if (cost > LIMITS.bcrypt.maxCost) return tooCostly(`bcrypt cost ${cost} is above ${LIMITS.bcrypt.maxCost}`);
  return null;
}

function parseBcrypt(hash: string): HashParseResult {
  const match = BCRYPT.exec(hash);
  if (!match) return malformed('a bcrypt hash is $2b$<cost>$ and 53 characters of bcrypt base64');
  return checkBcryptCost(Number(match[2])) ?? accepted({ scheme: 'bcrypt', kind: 'bcrypt', hash });
}

/** passlib: v2 `$bcrypt-sha256$v=2,t=2b,r=12$<salt>$<digest>`, v1 `$bcrypt-sha256$2b,12$<salt>$<digest>`. */
function parseBcryptSha256(hash: string): HashParseResult {
  const parts = hash.split('$');
  if (parts.length !== 5) return malformed('a bcrypt-sha256 hash has four $-separated parts');
  const [, , settings = '', salt = '', digest = ''] = parts;
  let version: 1 | 2;
  let ident: string | undefined;
  let rounds: string | undefined;
  if (settings.startsWith('v=')) {
    const map = keyValues(settings);
    if (!map || map.size !== 3 || map.get('v') !== '2') return malformed('bcrypt-sha256 settings must be v=2,t=…,r=…');
    version = 2;
    ident = map.get('t');
    rounds = map.get('r');
  } else {
    version = 1;
    [ident, rounds] = settings.split(',');
  }
  const cost = parseCount(rounds);
  if (ident === undefined || !/^2[ab]$/.test(ident) || cost === null)
    return malformed('bcrypt-sha256 needs a 2a/2b ident and a cost');
  if (!/^[./A-Za-z0-9]{22}$/.test(salt) || !/^[./A-Za-z0-9]{31}$/.test(digest)) {
    return malformed('bcrypt-sha256 salt and digest are 22 and 31 characters of bcrypt base64');
  }
  return (
    checkBcryptCost(cost) ??
    accepted({
      scheme: 'passlib-bcrypt-sha256',
      kind: 'bcrypt-sha256',
      version,
      salt,
      bcrypt: `$${ident}$${String(cost).padStart(2, '0')}$${salt}${digest}`,
    })
  );
}

// ---- argon2 -----------------------------------------------------------------------------------

const ARGON2 = /^\$(argon2(?:id|i|d))\$v=(\d+)\$([a-z=0-9,]+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/;

function parseArgon2(hash: string): HashParseResult {
  const match = ARGON2.exec(hash);
  if (!match) return malformed('an argon2 hash is $argon2id$v=19$m=…,t=…,p=…$<salt>$<hash> (PHC format)');
  const [, variant, version, params = '', salt = '', digest = ''] = match;
  if (version !== '19' && version !== '16') return malformed(`argon2 version ${version} is unknown`);
  const map = keyValues(params);
  const m = parseCount(map?.get('m'));
  const t = parseCount(map?.get('t'));
  const p = parseCount(map?.get('p'));
  if (!map || map.size !== 3 || m === null || t === null || p === null || t < 1 || p < 1 || m < 8 * p) {
    return malformed('argon2 parameters must be m=<KiB>,t=<passes>,p=<lanes> with m ≥ 8·p');
  }
  const saltBytes = fromBase64(salt);
  const digestBytes = fromBase64(digest);
  if (!saltBytes || saltBytes.length < 8 || !digestBytes || digestBytes.length < 4) {
    return malformed('argon2 salt (≥ 8 bytes) and hash (≥ 4 bytes) must be unpadded base64');
  }
  const a = LIMITS.argon2;
  if (m > a.maxMemoryKiB) return tooCostly(`argon2 memory ${m} KiB is above ${a.maxMemoryKiB} KiB`);
  if (t > a.maxTimeCost || m * t > a.maxWork) return tooCostly(`argon2 work m·t = ${m * t} is above ${a.maxWork}`);
  if (p > a.maxParallelism) return tooCostly(`argon2 parallelism ${p} is above ${a.maxParallelism}`);
  return accepted({ scheme: variant as 'argon2id' | 'argon2i' | 'argon2d', kind: 'argon2', phc: hash });
}

// ---- scrypt -----------------------------------------------------------------------------------

function checkScrypt(N: number, r: number, p: number): HashParseResult | null {
  if (N < 2 || (N & (N - 1)) !== 0 || r < 1 || p < 1)
    return malformed('scrypt needs N a power of two ≥ 2, r ≥ 1, p ≥ 1');
  const s = LIMITS.scrypt;
  if (128 * N * r > s.maxMemoryBytes)
    return tooCostly(`scrypt memory 128·N·r = ${128 * N * r} bytes is above ${s.maxMemoryBytes}`);
  if (p > s.maxParallelism || N * r * p > s.maxWork)
    return tooCostly(`scrypt work N·r·p = ${N * r * p} is above ${s.maxWork}`);
  return null;
}

/** passlib: `$scrypt$ln=16,r=8,p=1$<salt>$<32-byte key>`, both unpadded standard base64 (not ab64). */
function parsePasslibScrypt(hash: string): HashParseResult {
  const parts = hash.split('$');
  if (parts.length !== 5) return malformed('a passlib scrypt hash is $scrypt$ln=…,r=…,p=…$<salt>$<key>');
  const map = keyValues(parts[2] ?? '');
  const ln = parseCount(map?.get('ln'));
  const r = parseCount(map?.get('r'));
  const p = parseCount(map?.get('p'));
  if (!map || map.size !== 3 || ln === null || r === null || p === null || ln < 1 || ln > 30) {
    return malformed('passlib scrypt parameters must be ln=<log2 N>,r=…,p=…');
  }
  const salt = fromBase64(parts[3] ?? '');
  const expected = fromBase64(parts[4] ?? '');
  if (!salt || salt.length === 0 || !expected || expected.length < 16)
    return malformed('passlib scrypt salt and key must be base64');
  const N = 2 ** ln;
  return checkScrypt(N, r, p) ?? accepted({ scheme: 'passlib-scrypt', kind: 'scrypt', N, r, p, salt, expected });
}

/** werkzeug ≥ 3: `scrypt:32768:8:1$<salt text>$<hex 64-byte key>` (bare `scrypt$…` means 32768:8:1). */
function parseWerkzeugScrypt(hash: string): HashParseResult {
  const parts = hash.split('$');
  if (parts.length !== 3) return malformed('a werkzeug scrypt hash is scrypt:N:r:p$<salt>$<hex key>');
  const method = (parts[0] ?? '').split(':');
  const [N, r, p] = method.length === 1 ? [32768, 8, 1] : method.slice(1).map(parseCount);
  if (method.length !== 1 && method.length !== 4) return malformed('werkzeug scrypt takes N:r:p');
  if (N == null || r == null || p == null) return malformed('werkzeug scrypt N, r and p must be integers');
  const salt = parts[1] ?? '';
  const expected = fromHex(parts[2] ?? '');
  if (salt === '' || !expected) return malformed('werkzeug scrypt needs a salt and a hex key');
  return (
    checkScrypt(N, r, p) ??
    accepted({ scheme: 'werkzeug-scrypt', kind: 'scrypt', N, r, p, salt: Buffer.from(salt, 'utf8'), expected })
  );
}

// ---- PBKDF2 -----------------------------------------------------------------------------------

const DIGEST_BYTES: Record<Pbkdf2Digest, number> = { sha1: 20, sha256: 32, sha512: 64 };

function checkIterations(digest: Pbkdf2Digest, iterations: number | null): HashParseResult | null {
  if (iterations === null || iterations < 1) return malformed('PBKDF2 iterations must be a positive integer');
  const max = LIMITS.pbkdf2.maxIterations[digest];
  if (iterations > max) return tooCostly(`PBKDF2-${digest} iterations ${iterations} are above ${max}`);
  return null;
}

/** passlib: `$pbkdf2-sha256$29000$<ab64 salt>$<ab64 key>` (sha512 likewise). */
function parsePasslibPbkdf2(hash: string, digest: 'sha256' | 'sha512'): HashParseResult {
  const parts = hash.split('$');
  if (parts.length !== 5)
    return malformed(`a passlib pbkdf2-${digest} hash is $pbkdf2-${digest}$<rounds>$<salt>$<key>`);
  const iterations = parseCount(parts[2]);
  const salt = fromPasslibBase64(parts[3] ?? '');
  const expected = fromPasslibBase64(parts[4] ?? '');
  if (!salt || !expected || expected.length !== DIGEST_BYTES[digest]) {
    return malformed(
      `passlib pbkdf2-${digest} salt and key must be passlib base64 (key of ${DIGEST_BYTES[digest]} bytes)`,
    );
  }
  const scheme = digest === 'sha256' ? 'passlib-pbkdf2-sha256' : 'passlib-pbkdf2-sha512';
  return (
    checkIterations(digest, iterations) ??
    accepted({ scheme, kind: 'pbkdf2', digest, iterations: iterations ?? 0, salt, expected })
  );
}

/** Django: `pbkdf2_sha256$<iterations>$<salt text>$<base64 key>`. */
function parseDjangoPbkdf2(hash: string): HashParseResult {
  const parts = hash.split('$');
  if (parts.length !== 4) return malformed('a Django hash is pbkdf2_sha256$<iterations>$<salt>$<base64 key>');
  const iterations = parseCount(parts[1]);
  const salt = parts[2] ?? '';
  const expected = fromBase64(parts[3] ?? '');
  if (salt === '' || !expected || expected.length !== 32)
    return malformed('Django PBKDF2 needs a salt and a 32-byte base64 key');
  return (
    checkIterations('sha256', iterations) ??
    accepted({
      scheme: 'django-pbkdf2-sha256',
      kind: 'pbkdf2',
      digest: 'sha256',
      iterations: iterations ?? 0,
      salt: Buffer.from(salt, 'utf8'),
      expected,
    })
  );
}

/** werkzeug: `pbkdf2:sha256:600000$<salt text>$<hex key>` (sha1/sha512 too). */
function parseWerkzeugPbkdf2(hash: string): HashParseResult {
  const parts = hash.split('$');
  if (parts.length !== 3) return malformed('a werkzeug hash is pbkdf2:<digest>:<iterations>$<salt>$<hex key>');
  const method = (parts[0] ?? '').split(':');
  if (method.length !== 3) {
    // Without iterations werkzeug uses its own version's default: not knowable from the hash.
    return malformed('werkzeug PBKDF2 hashes must name their iterations (pbkdf2:sha256:<iterations>)');
  }
  const digest = method[1];
  if (digest !== 'sha1' && digest !== 'sha256' && digest !== 'sha512')
    return malformed(`werkzeug PBKDF2 digest ${digest} is not supported`);
  const iterations = parseCount(method[2]);
  const salt = parts[1] ?? '';
  const expected = fromHex(parts[2] ?? '');
  if (salt === '' || !expected || expected.length !== DIGEST_BYTES[digest]) {
    return malformed(`werkzeug PBKDF2 needs a salt and a ${DIGEST_BYTES[digest]}-byte hex key`);
  }
  return (
    checkIterations(digest, iterations) ??
    accepted({
      scheme: 'werkzeug-pbkdf2',
      kind: 'pbkdf2',
      digest,
      iterations: iterations ?? 0,
      salt: Buffer.from(salt, 'utf8'),
      expected,
    })
  );
}

// ---- the gate ---------------------------------------------------------------------------------

/** Longer than any format here; a longer string is refused before any parsing. */
const MAX_HASH_LENGTH = 512;

/**
 * Which scheme `hash` is, with its parameters — or why it is refused: `hash_unknown_format`
 * (no scheme recognised), `hash_malformed` (recognised, but not a valid string of it) or
 * `hash_too_costly` (valid, but asks more than LEGACY_HASH_LIMITS).
 */
export function parsePasswordHash(hash: string): HashParseResult {
  if (hash.length > MAX_HASH_LENGTH) return malformed(`longer than ${MAX_HASH_LENGTH} characters`);
  if (/^\$2[aby]\$/.test(hash)) return parseBcrypt(hash);
  if (hash.startsWith('$bcrypt-sha256$')) return parseBcryptSha256(hash);
  if (/^\$argon2(?:id|i|d)\$/.test(hash)) return parseArgon2(hash);
  if (hash.startsWith('$scrypt$')) return parsePasslibScrypt(hash);
  if (hash.startsWith('$pbkdf2-sha256$')) return parsePasslibPbkdf2(hash, 'sha256');
  if (hash.startsWith('$pbkdf2-sha512$')) return parsePasslibPbkdf2(hash, 'sha512');
  if (hash.startsWith('pbkdf2_sha256$')) return parseDjangoPbkdf2(hash);
  // Django's other hashers: its prefix, then a bcrypt or PHC argon2 string.
  if (hash.startsWith('argon2$argon2')) return parseArgon2(hash.slice('argon2'.length));
  if (hash.startsWith('bcrypt$$2')) return parseBcrypt(hash.slice('bcrypt$'.length));
  if (hash.startsWith('bcrypt_sha256$$2')) {
    const inner = parseBcrypt(hash.slice('bcrypt_sha256$'.length));
    return inner.ok && inner.hash.kind === 'bcrypt'
      ? accepted({ scheme: 'django-bcrypt-sha256', kind: 'bcrypt-hex-sha256', bcrypt: inner.hash.hash })
      : inner;
  }
  if (hash.startsWith('pbkdf2:')) return parseWerkzeugPbkdf2(hash);
  if (hash.startsWith('scrypt:') || hash.startsWith('scrypt$')) return parseWerkzeugScrypt(hash);
  return {
    ok: false,
    reason: 'hash_unknown_format',
    message: 'not a bcrypt, bcrypt-sha256, argon2, scrypt or PBKDF2 hash Gatehouse knows (docs/migrating.md)',
  };
}
