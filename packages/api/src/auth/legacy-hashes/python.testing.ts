/**
 * Test support: password hashes made by the real third-party libraries, at test time, through
 * /usr/bin/python3 (Debian's python3-passlib, -bcrypt, -django, -werkzeug and -argon2).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * werkzeug 2.2 (Debian 12) has no scrypt; werkzeug ≥ 3 writes `scrypt:N:r:p$salt$hex`, computed
 * as below (werkzeug/security.py `_hash_internal`, copied from werkzeug 3.1 — hashlib does the work).
 */
const PYTHON = String.raw`
import json, sys, hashlib, secrets
from django.conf import settings
settings.configure(PASSWORD_HASHERS=["django.contrib.auth.hashers.PBKDF2PasswordHasher", "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher", "django.contrib.auth.hashers.BCryptPasswordHasher"])
from django.contrib.auth.hashers import make_password
import passlib.hash as ph, bcrypt, argon2, werkzeug.security as ws

def werkzeug3_scrypt(password, n=2**15, r=8, p=1):
    salt = ws.gen_salt(16)
    key = hashlib.scrypt(password.encode(), salt=salt.encode(), n=n, r=r, p=p, maxmem=132 * n * r * p).hex()
    return "scrypt:%d:%d:%d$%s$%s" % (n, r, p, salt, key)

def make(scheme, password):
    if scheme == "bcrypt": return bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode()
    if scheme == "bcrypt-2a": return bcrypt.hashpw(password.encode(), bcrypt.gensalt(4, prefix=b"2a")).decode()
    if scheme == "passlib-bcrypt-sha256-v2": return ph.bcrypt_sha256.using(rounds=4).hash(password)
    if scheme == "passlib-bcrypt-sha256-v1": return ph.bcrypt_sha256.using(rounds=4, version=1).hash(password)
    if scheme == "passlib-argon2id": return ph.argon2.using(type="id").hash(password)
    if scheme == "argon2-cffi-argon2id": return argon2.PasswordHasher().hash(password)
    if scheme == "argon2-cffi-argon2i": return argon2.PasswordHasher(type=argon2.Type.I).hash(password)
    if scheme == "argon2-cffi-argon2d": return argon2.PasswordHasher(type=argon2.Type.D, memory_cost=4096, time_cost=4, parallelism=2).hash(password)
    if scheme == "passlib-scrypt": return ph.scrypt.hash(password)
    if scheme == "werkzeug-scrypt": return werkzeug3_scrypt(password)
    if scheme == "passlib-pbkdf2-sha256": return ph.pbkdf2_sha256.hash(password)
    if scheme == "passlib-pbkdf2-sha512": return ph.pbkdf2_sha512.hash(password)
    if scheme == "django-pbkdf2-sha256": return make_password(password)
    if scheme == "django-argon2": return make_password(password, hasher="argon2")
    if scheme == "django-bcrypt-sha256": return make_password(password, hasher="bcrypt_sha256")
    if scheme == "django-bcrypt": return make_password(password, hasher="bcrypt")
    if scheme == "werkzeug-pbkdf2-sha256": return ws.generate_password_hash(password, method="pbkdf2:sha256")
    if scheme == "werkzeug-pbkdf2-sha512": return ws.generate_password_hash(password, method="pbkdf2:sha512:50000")
    raise SystemExit("unknown scheme " + scheme)

requests = json.load(sys.stdin)
print(json.dumps([make(s, p) for s, p in requests]))
`;

export type PythonScheme =
  | 'bcrypt'
  | 'bcrypt-2a'
  | 'passlib-bcrypt-sha256-v2'
  | 'passlib-bcrypt-sha256-v1'
  | 'passlib-argon2id'
  | 'argon2-cffi-argon2id'
  | 'argon2-cffi-argon2i'
  | 'argon2-cffi-argon2d'
  | 'passlib-scrypt'
  | 'werkzeug-scrypt'
  | 'passlib-pbkdf2-sha256'
  | 'passlib-pbkdf2-sha512'
  | 'django-pbkdf2-sha256'
  | 'django-argon2'
  | 'django-bcrypt-sha256'
  | 'django-bcrypt'
  | 'werkzeug-pbkdf2-sha256'
  | 'werkzeug-pbkdf2-sha512';

/** One hash per `[scheme, password]`, in order, from one Python process. */
export async function pythonHashes(requests: ReadonlyArray<readonly [PythonScheme, string]>): Promise<string[]> {
  const child = run('/usr/bin/python3', ['-c', PYTHON], { maxBuffer: 16 * 2 ** 20 });
  child.child.stdin?.end(JSON.stringify(requests));
  const { stdout } = await child;
  return JSON.parse(stdout) as string[];
}
