/**
 * What the server checks of a /trpc request before tRPC or superjson touch it: the batch, the
 * superjson envelopes, the client address, the URL that is logged. Pure functions: the tRPC
 * plugin applies them (trpc.ts), the tests call them directly too.
 */
import { isIP } from 'node:net';

/** At most this many calls in one batched request (issue 13 item 2). */
export const MAX_BATCH_SIZE = 10;

/**
 * Procedures that hash a password (Argon2id, ~50 ms of a core each). A batch may carry at most
 * one of them, so one request cannot buy more than one hash.
 */
export const PASSWORD_HASHING_PROCEDURES: ReadonlySet<string> = new Set([
  'auth.createFirstUser',
  'auth.signUp',
  'auth.signIn',
  'auth.changePassword',
  'user.create',
  'user.setPassword',
  // ---- email flows ----
  'auth.resetPassword',
  'auth.acceptInvitation',
  // issue 15: verifies the password (step-up)
  'auth.reauthenticate',
]);

/** Why a batch is refused, or null when it may run. */
export function batchRefusal(paths: readonly string[]): string | null {
  if (paths.length > MAX_BATCH_SIZE) return `A batch may carry at most ${MAX_BATCH_SIZE} calls`;
  const hashing = paths.filter((path) => PASSWORD_HASHING_PROCEDURES.has(path)).length;
  if (hashing > 1) return 'Sign-in, sign-up and password changes cannot be batched with each other';
  return null;
}

/** Deeper than this, an input is not one of ours (every input schema is a few levels deep). */
const MAX_DEPTH = 32;

/** The superjson annotations an input can need: `undefined` fields, Dates, NaN, ±Infinity and -0. */
const VALUE_ANNOTATIONS: Readonly<Record<string, (value: unknown) => boolean>> = {
  undefined: (value) => value === null || value === undefined,
  Date: (value) => typeof value === 'string' && value.length <= 64,
  number: (value) => value === 'NaN' || value === 'Infinity' || value === '-Infinity' || value === '-0',
};

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** True when `value` nests no deeper than `limit` (iterative: a deep value cannot overflow the stack). */
function withinDepth(value: unknown, limit: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  for (let entry = stack.pop(); entry !== undefined; entry = stack.pop()) {
    const [node, depth] = entry;
    if (typeof node !== 'object' || node === null) continue;
    if (depth >= limit) return false;
    for (const child of Object.values(node)) stack.push([child, depth + 1]);
  }
  return true;
}

/** superjson's path syntax: segments joined by `.`, with `\.` and `\\` escapes and nothing else. */
function parsePath(path: string): string[] | null {
  const segments: string[] = [];
  let segment = '';
  for (let i = 0; i < path.length; i++) {
    const char = path.charAt(i);
    if (char === '\\') {
      const next = path[i + 1];
      if (next !== '.' && next !== '\\') return null;
      segment += next;
      i++;
    } else if (char === '.') {
      segments.push(segment);
      segment = '';
    } else segment += char;
  }
  segments.push(segment);
  return segments;
}

function childAt(value: unknown, segment: string): { found: boolean; value: unknown } {
  if (segment === '__proto__' || segment === 'constructor' || segment === 'prototype') {
    return { found: false, value: undefined };
  }
  if (Array.isArray(value)) {
    const index = /^(0|[1-9]\d{0,8})$/.test(segment) ? Number(segment) : -1;
    return index >= 0 && index < value.length
      ? { found: true, value: value[index] }
      : { found: false, value: undefined };
  }
  if (isRecord(value) && Object.hasOwn(value, segment)) return { found: true, value: value[segment] };
  return { found: false, value: undefined };
}

/**
 * A superjson value tree as superjson itself writes it: `[annotation]` or `[annotation, children]`
 * at an annotated node, children a record of (dotted) paths to trees, every path leading to a
 * value that exists in `json` and has the annotated form. Anything else (a string where a tree
 * belongs, which sends superjson into endless recursion, a class or custom annotation, a path into
 * nothing) is malformed.
 */
function isValueTree(tree: unknown, json: unknown, depth: number): boolean {
  if (depth > MAX_DEPTH || !Array.isArray(tree) || tree.length < 1 || tree.length > 2) return false;
  const [annotation, children] = tree as [unknown, unknown];
  const check =
    typeof annotation === 'string' && Object.hasOwn(VALUE_ANNOTATIONS, annotation)
      ? VALUE_ANNOTATIONS[annotation]
      : undefined;
  // Annotated values are leaves here: none of the allowed annotations has children.
  if (check === undefined || children !== undefined) return false;
  return check(json);
}

function isChildren(record: unknown, json: unknown, depth: number): boolean {
  if (!isRecord(record) || depth > MAX_DEPTH) return false;
  for (const [path, subtree] of Object.entries(record)) {
    const segments = parsePath(path);
    if (segments === null || segments.length > MAX_DEPTH) return false;
    let value = json;
    for (const segment of segments) {
      const child = childAt(value, segment);
      // An `undefined` annotation names a key that superjson dropped from the JSON.
      if (!child.found && !(segment === segments.at(-1) && isUndefinedLeaf(subtree))) return false;
      value = child.value;
    }
    if (!isValueTree(subtree, value, depth + 1)) return false;
  }
  return true;
}

const isUndefinedLeaf = (tree: unknown) => Array.isArray(tree) && tree.length === 1 && tree[0] === 'undefined';

/** superjson's `referentialEqualities`: paths of values that were the same object. */
function isReferentialEqualities(value: unknown, json: unknown): boolean {
  const paths = (list: unknown) =>
    Array.isArray(list) &&
    list.length <= 64 &&
    list.every((path) => typeof path === 'string' && pathExists(json, path));
  if (Array.isArray(value)) {
    const [root, other] = value as [unknown, unknown];
    return value.length <= 2 && paths(root) && (other === undefined || isReferentialEqualities(other, json));
  }
  return (
    isRecord(value) && Object.entries(value).every(([path, identical]) => pathExists(json, path) && paths(identical))
  );
}

function pathExists(json: unknown, path: string): boolean {
  const segments = parsePath(path);
  if (segments === null || segments.length > MAX_DEPTH) return false;
  let value = json;
  for (const segment of segments) {
    const child = childAt(value, segment);
    if (!child.found) return false;
    value = child.value;
  }
  return true;
}

/**
 * True when `envelope` is a superjson payload `{ json, meta? }` superjson can apply without
 * surprises: bounded depth, and a `meta` of the shape superjson writes for Gatehouse's inputs.
 */
export function isWellFormedEnvelope(envelope: unknown): boolean {
  if (!withinDepth(envelope, MAX_DEPTH + 2)) return false;
  if (!isRecord(envelope)) return false;
  const { json, meta } = envelope;
  if (meta === undefined) return true;
  if (!isRecord(meta)) return false;
  for (const key of Object.keys(meta))
    if (key !== 'values' && key !== 'referentialEqualities' && key !== 'v') return false;
  if (meta.v !== undefined && meta.v !== 1) return false;
  if (meta.values !== undefined) {
    const values = meta.values;
    const ok = Array.isArray(values) ? isValueTree(values, json, 0) : isChildren(values, json, 0);
    if (!ok) return false;
  }
  return meta.referentialEqualities === undefined || isReferentialEqualities(meta.referentialEqualities, json);
}

/**
 * The inputs of a request as tRPC will read them (the `input` query parameter of a GET, the
 * body of a POST; one envelope, or one per call of a batch), checked before superjson sees them.
 * `body` is the raw JSON text (the tRPC adapter parses bodies as strings).
 */
export function areWellFormedInputs(raw: string | undefined, isBatch: boolean, calls: number): boolean {
  if (raw === undefined || raw === '') return true;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return false;
  }
  if (!isBatch) return isWellFormedEnvelope(parsed);
  if (!isRecord(parsed)) return false;
  for (let index = 0; index < calls; index++) {
    const envelope = parsed[String(index)];
    if (envelope !== undefined && !isWellFormedEnvelope(envelope)) return false;
  }
  return true;
}

/**
 * The client's address: what `trustProxy` took from X-Forwarded-For when it is an IP address,
 * otherwise (a forged `<script>`, an empty entry) the socket's peer.
 */
export function clientIp(request: { ip: string; socket: { remoteAddress?: string | undefined } }): string {
  if (isIP(request.ip) !== 0) return request.ip;
  return request.socket.remoteAddress ?? '';
}

function decodedKey(raw: string): string {
  try {
    return decodeURIComponent(raw.replace(/\+/g, ' '));
  } catch {
    return raw;
  }
}

/** The URL as logs may show it: the `input` query parameter (a password, by GET) replaced. */
export function redactUrl(url: string): string {
  const mark = url.indexOf('?');
  if (mark < 0) return url;
  const query = url
    .slice(mark + 1)
    .split('&')
    .map((pair) => {
      const equals = pair.indexOf('=');
      const key = equals < 0 ? pair : pair.slice(0, equals);
      return decodedKey(key) === 'input' ? `${key}=[redacted]` : pair;
    });
  return `${url.slice(0, mark)}?${query.join('&')}`;
}
