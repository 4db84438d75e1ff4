/**
 * RFC 6962 / RFC 9162 Merkle tree primitives for the audit log.
 *
 * - hashing: leaf = SHA-256(0x00 ‖ input), node = SHA-256(0x01 ‖ left ‖ right), empty = SHA-256("")
 * - CompactRange: the O(log n) frontier of a tree [0, size); append and root are O(log n)
 * - proof generation from an accessor for *complete* subtree hashes (no rehashing of the log)
 * - proof verification exactly as RFC 9162 §2.1.3.2 (inclusion) and §2.1.4.2 (consistency)
 *
 * Indices are JS numbers; every public entry point rejects values that are not safe integers.
 * Bit operators are avoided on purpose: they truncate to 32 bits.
 */
import { createHash, hash } from 'node:crypto';

export const HASH_SIZE = 32;

const LEAF_PREFIX = Buffer.from([0x00]);

// crypto.hash() is the one-shot API (several times cheaper than createHash() per call, which
// matters when verify rehashes a million leaves). Node code is synchronous, so one scratch
// buffer for 0x01 ‖ left ‖ right is safe.
const nodeInput = Buffer.alloc(1 + 2 * 32, 0x01);

export function hashLeaf(input: Uint8Array): Buffer {
  return createHash('sha256').update(LEAF_PREFIX).update(input).digest();
}

export function hashChildren(left: Uint8Array, right: Uint8Array): Buffer {
  if (left.length !== HASH_SIZE || right.length !== HASH_SIZE) {
    return createHash('sha256')
      .update(Buffer.from([0x01]))
      .update(left)
      .update(right)
      .digest();
  }
  nodeInput.set(left, 1);
  nodeInput.set(right, 1 + HASH_SIZE);
  return hash('sha256', nodeInput, 'buffer');
}

export const EMPTY_ROOT: Buffer = createHash('sha256').digest();

/** A complete subtree: `level` 0 is a leaf; it covers leaves [index·2^level, (index+1)·2^level). */
export interface NodeId {
  readonly level: number;
  readonly index: number;
}

/** Returns the hashes of the requested complete subtrees, in the same order. */
export type NodeReader = (ids: readonly NodeId[]) => Promise<readonly Uint8Array[]>;

/** A half-open leaf range [begin, end) whose hash is an RFC 6962 MTH of those leaves. */
type Segment = readonly [begin: number, end: number];

export class MerkleError extends Error {
  override name = 'MerkleError';
}

function assertSize(value: number, what: string): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new MerkleError(`${what} must be a non-negative safe integer`);
}

const pow2 = (level: number): number => 2 ** level;

/** Largest power of two strictly smaller than n (n ≥ 2), the split point k of RFC 9162 §2.1.1. */
export function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

export function hashesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}

/**
 * The frontier of the tree over leaves [0, size): the roots of its maximal complete subtrees,
 * left to right (one per set bit of size, largest first). This is all a writer needs to append.
 */
export class CompactRange {
  private constructor(
    private _size: number,
    private readonly _hashes: Buffer[],
  ) {}

  static empty(): CompactRange {
    return new CompactRange(0, []);
  }

  /** Rebuilds a frontier from its stored form; the number of hashes must match the size's bits. */
  static from(size: number, hashes: readonly Uint8Array[]): CompactRange {
    assertSize(size, 'size');
    if (hashes.length !== popcount(size))
      throw new MerkleError(`frontier of size ${size} needs ${popcount(size)} hashes, got ${hashes.length}`);
    for (const h of hashes) if (h.length !== HASH_SIZE) throw new MerkleError('frontier hash must be 32 bytes');
    return new CompactRange(
      size,
      hashes.map((h) => Buffer.from(h)),
    );
  }

  get size(): number {
    return this._size;
  }

  get hashes(): readonly Buffer[] {
    return this._hashes;
  }

  clone(): CompactRange {
    return new CompactRange(this._size, [...this._hashes]);
  }

  /**
   * Appends one leaf hash. `onNode` sees every complete subtree this append finishes, the leaf
   * itself (level 0) first, so a store can persist the subtree hashes that proofs will need.
   */
  append(leafHash: Uint8Array, onNode?: (level: number, index: number, hash: Buffer) => void): void {
    if (leafHash.length !== HASH_SIZE) throw new MerkleError('leaf hash must be 32 bytes');
    // Hashes are never mutated in place, so a Buffer can be kept as is (saves a copy per leaf).
    let hash: Buffer = Buffer.isBuffer(leafHash) ? leafHash : Buffer.from(leafHash);
    let level = 0;
    let index = this._size;
    onNode?.(0, index, hash);
    // Each trailing 1-bit of the old size is a complete sibling subtree waiting on the left.
    while (index % 2 === 1) {
      const left = this._hashes.pop();
      if (left === undefined) throw new MerkleError('corrupt frontier');
      hash = hashChildren(left, hash);
      level += 1;
      index = (index - 1) / 2;
      onNode?.(level, index, hash);
    }
    this._hashes.push(hash);
    this._size += 1;
  }

  /** RFC 6962 MTH of [0, size): fold the frontier from the right. */
  root(): Buffer {
    return foldRight(this._hashes) ?? EMPTY_ROOT;
  }

  /** The frontier as one byte string (32 bytes per hash), the form kept in the head row. */
  serialize(): Buffer {
    return Buffer.concat(this._hashes);
  }

  static deserialize(size: number, bytes: Uint8Array): CompactRange {
    if (bytes.length % HASH_SIZE !== 0) throw new MerkleError('frontier bytes must be a multiple of 32');
    const hashes: Buffer[] = [];
    for (let i = 0; i < bytes.length; i += HASH_SIZE) hashes.push(Buffer.from(bytes.subarray(i, i + HASH_SIZE)));
    return CompactRange.from(size, hashes);
  }
}

function popcount(n: number): number {
  let count = 0;
  for (let v = n; v > 0; v = Math.floor(v / 2)) count += v % 2;
  return count;
}

/** hash(n0, hash(n1, … hash(n_{k-2}, n_{k-1}))) — the MTH of a right-edge (incomplete) subtree. */
function foldRight(hashes: readonly Uint8Array[]): Buffer | undefined {
  const last = hashes.at(-1);
  if (last === undefined) return undefined;
  let acc: Buffer = Buffer.from(last);
  for (let i = hashes.length - 2; i >= 0; i--) acc = hashChildren(hashes[i] as Uint8Array, acc);
  return acc;
}

/** Hash of a complete subtree from its 2^k children at a lower level, left to right. */
export function hashComplete(children: readonly Uint8Array[]): Buffer {
  if (children.length === 0 || !Number.isInteger(Math.log2(children.length)))
    throw new MerkleError('need 2^k children');
  let layer: Uint8Array[] = [...children];
  while (layer.length > 1) {
    const next: Uint8Array[] = [];
    for (let i = 0; i < layer.length; i += 2)
      next.push(hashChildren(layer[i] as Uint8Array, layer[i + 1] as Uint8Array));
    layer = next;
  }
  return Buffer.from(layer[0] as Uint8Array);
}

/**
 * Decomposes [begin, end) into maximal aligned complete subtrees, left to right. For the segments
 * that proofs use (begin aligned to a power of two ≥ end − begin) the sizes strictly decrease, and
 * folding them from the right gives the RFC 6962 MTH of the segment.
 */
export function segmentNodes(begin: number, end: number): NodeId[] {
  assertSize(begin, 'begin');
  assertSize(end, 'end');
  if (begin >= end) throw new MerkleError('empty segment');
  const ids: NodeId[] = [];
  let pos = begin;
  let previous = Infinity;
  while (pos < end) {
    let level = 0;
    while (pos % pow2(level + 1) === 0 && pos + pow2(level + 1) <= end) level += 1;
    if (level >= previous) throw new MerkleError(`[${begin}, ${end}) is not an RFC 6962 subtree`);
    previous = level;
    ids.push({ level, index: pos / pow2(level) });
    pos += pow2(level);
  }
  return ids;
}

/** Segments of the audit path for leaf `index` in a tree of `size` (RFC 9162 §2.1.3.1), leaf-side first. */
function inclusionSegments(index: number, size: number): Segment[] {
  assertSize(index, 'leaf index');
  assertSize(size, 'tree size');
  if (index >= size) throw new MerkleError(`leaf index ${index} is outside a tree of size ${size}`);
  const topDown: Segment[] = [];
  let lo = 0;
  let hi = size;
  while (hi - lo > 1) {
    const k = splitPoint(hi - lo);
    if (index < lo + k) {
      topDown.push([lo + k, hi]);
      hi = lo + k;
    } else {
      topDown.push([lo, lo + k]);
      lo += k;
    }
  }
  return topDown.reverse();
}

/** Segments of the consistency proof from size1 to size2 (RFC 9162 §2.1.4.1 SUBPROOF). */
function consistencySegments(size1: number, size2: number): Segment[] {
  assertSize(size1, 'size1');
  assertSize(size2, 'size2');
  if (size1 > size2) throw new MerkleError(`size1 ${size1} is larger than size2 ${size2}`);
  if (size1 === 0 || size1 === size2) return [];
  const topDown: Segment[] = [];
  let lo = 0;
  let hi = size2;
  let startFromOldRoot = true;
  while (size1 !== hi) {
    const k = splitPoint(hi - lo);
    if (size1 <= lo + k) {
      topDown.push([lo + k, hi]);
      hi = lo + k;
    } else {
      topDown.push([lo, lo + k]);
      lo += k;
      startFromOldRoot = false;
    }
  }
  // When size1 is the right edge of a subtree that is not the old root itself, that subtree's hash
  // is part of the proof; otherwise the verifier already knows it (it is root1).
  if (!startFromOldRoot) topDown.push([lo, hi]);
  return topDown.reverse();
}

/** Resolves segments into hashes with one batched read of the complete subtrees they cover. */
async function resolveSegments(segments: readonly Segment[], read: NodeReader): Promise<Buffer[]> {
  const perSegment = segments.map(([b, e]) => segmentNodes(b, e));
  const hashes = await read(perSegment.flat());
  let cursor = 0;
  return perSegment.map((ids) => {
    const part = hashes.slice(cursor, cursor + ids.length);
    cursor += ids.length;
    for (const h of part)
      if (h === undefined || h.length !== HASH_SIZE) throw new MerkleError('node reader returned a bad hash');
    return foldRight(part) as Buffer;
  });
}

export async function inclusionProof(index: number, size: number, read: NodeReader): Promise<Buffer[]> {
  return resolveSegments(inclusionSegments(index, size), read);
}

export async function consistencyProof(size1: number, size2: number, read: NodeReader): Promise<Buffer[]> {
  return resolveSegments(consistencySegments(size1, size2), read);
}

/** Root of the tree over [0, size) from stored complete subtrees: O(log size) nodes. */
export async function rootAt(size: number, read: NodeReader): Promise<Buffer> {
  assertSize(size, 'tree size');
  if (size === 0) return Buffer.from(EMPTY_ROOT);
  const [root] = await resolveSegments([[0, size]], read);
  return root as Buffer;
}

// ---------------------------------------------------------------------------------------------
// Verification (RFC 9162 §2.1.3.2 and §2.1.4.2), written step for step so it can be audited.

const isHash = (h: Uint8Array): boolean => h.length === HASH_SIZE;
const isOdd = (n: number): boolean => n % 2 === 1;
const half = (n: number): number => Math.floor(n / 2);

/** Root implied by an inclusion proof, or null when the proof is malformed for that index/size. */
function rootFromInclusionProof(
  leafIndex: number,
  treeSize: number,
  leafHash: Uint8Array,
  proof: readonly Uint8Array[],
): Buffer | null {
  if (!Number.isSafeInteger(leafIndex) || !Number.isSafeInteger(treeSize) || leafIndex < 0) return null;
  if (leafIndex >= treeSize) return null; // step 1
  if (!isHash(leafHash) || !proof.every(isHash)) return null;
  let fn = leafIndex; // step 2
  let sn = treeSize - 1;
  let r: Buffer = Buffer.from(leafHash); // step 3
  for (const p of proof) {
    // step 4
    if (sn === 0) return null; // 4a: proof longer than the path
    if (isOdd(fn) || fn === sn) {
      r = hashChildren(p, r); // 4b
      if (!isOdd(fn)) {
        while (!isOdd(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      r = hashChildren(r, p); // 4b otherwise
    }
    fn = half(fn); // 4c
    sn = half(sn);
  }
  return sn === 0 ? r : null; // step 5 (sn must have reached the root)
}

export function verifyInclusion(
  leafIndex: number,
  treeSize: number,
  leafHash: Uint8Array,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): boolean {
  const computed = rootFromInclusionProof(leafIndex, treeSize, leafHash, proof);
  return computed !== null && isHash(root) && hashesEqual(computed, root);
}

export function verifyConsistency(
  size1: number,
  size2: number,
  root1: Uint8Array,
  root2: Uint8Array,
  proof: readonly Uint8Array[],
): boolean {
  if (!Number.isSafeInteger(size1) || !Number.isSafeInteger(size2) || size1 < 0 || size1 > size2) return false;
  if (size1 === size2) {
    // Same tree: nothing to prove, the heads must simply be identical (and the empty tree's
    // head is fixed).
    if (proof.length !== 0 || !hashesEqual(root1, root2)) return false;
    return size1 !== 0 || hashesEqual(root1, EMPTY_ROOT);
  }
  if (size1 === 0) {
    // Every tree extends the empty tree; a proof here carries no information and is refused.
    return proof.length === 0 && hashesEqual(root1, EMPTY_ROOT) && isHash(root2);
  }
  if (proof.length === 0) return false; // step 1
  if (!isHash(root1) || !isHash(root2) || !proof.every(isHash)) return false;
  // step 2: when size1 is a power of two the old root is the first node of the path
  const path = Number.isInteger(Math.log2(size1)) ? [root1, ...proof] : [...proof];
  let fn = size1 - 1; // step 3
  let sn = size2 - 1;
  while (isOdd(fn)) {
    // step 4
    fn = half(fn);
    sn = half(sn);
  }
  let fr: Buffer = Buffer.from(path[0] as Uint8Array); // step 5
  let sr: Buffer = Buffer.from(path[0] as Uint8Array);
  for (const c of path.slice(1)) {
    // step 6
    if (sn === 0) return false; // 6a
    if (isOdd(fn) || fn === sn) {
      fr = hashChildren(c, fr); // 6b
      sr = hashChildren(c, sr);
      if (!isOdd(fn)) {
        while (!isOdd(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      sr = hashChildren(sr, c); // 6b otherwise
    }
    fn = half(fn); // 6c
    sn = half(sn);
  }
  return hashesEqual(fr, root1) && hashesEqual(sr, root2) && sn === 0; // step 7
}

// ---------------------------------------------------------------------------------------------
// Hex helpers for the API surface (hashes travel as lowercase hex).

const HEX_HASH = /^[0-9a-f]{64}$/;

export function toHex(hash: Uint8Array): string {
  return Buffer.from(hash.buffer, hash.byteOffset, hash.byteLength).toString('hex');
}

/** Parses a lowercase (or uppercase) hex SHA-256 hash; throws MerkleError on anything else. */
export function fromHex(hex: string): Buffer {
  const lower = hex.toLowerCase();
  if (!HEX_HASH.test(lower)) throw new MerkleError('expected a 64-character hex hash');
  return Buffer.from(lower, 'hex');
}
