import { readdirSync, readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  CompactRange,
  EMPTY_ROOT,
  consistencyProof,
  hashChildren,
  hashLeaf,
  inclusionProof,
  rootAt,
  segmentNodes,
  splitPoint,
  verifyConsistency,
  verifyInclusion,
  type NodeId,
  type NodeReader,
} from './merkle.js';

// The vectors are read in place from ../shared next to the repository root (never copied).
const VECTORS = fileURLToPath(new URL('../../../../../shared/vectors/rfc6962/', import.meta.url));

function jsonFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? jsonFiles(path) : name.endsWith('.json') ? [path] : [];
  });
}

const b64 = (s: string | null): Buffer => Buffer.from(s ?? '', 'base64');

interface InclusionCase {
  leafIdx: number;
  treeSize: number;
  root: string | null;
  leafHash: string | null;
  proof: string[] | null;
  desc: string;
  wantErr: boolean;
}
interface ConsistencyCase {
  size1: number;
  size2: number;
  root1: string | null;
  root2: string | null;
  proof: string[] | null;
  desc: string;
  wantErr: boolean;
}

const inclusionCases = jsonFiles(join(VECTORS, 'inclusion')).map((f) => ({
  file: f.slice(VECTORS.length),
  c: JSON.parse(readFileSync(f, 'utf8')) as InclusionCase,
}));
const consistencyCases = jsonFiles(join(VECTORS, 'consistency')).map((f) => ({
  file: f.slice(VECTORS.length),
  c: JSON.parse(readFileSync(f, 'utf8')) as ConsistencyCase,
}));

describe('RFC 6962 conformance vectors', () => {
  it('has all 196 inclusion and consistency cases', () => {
    expect(inclusionCases.length + consistencyCases.length).toBe(196);
  });

  it.each(inclusionCases)('inclusion $file', ({ c }) => {
    const ok = verifyInclusion(c.leafIdx, c.treeSize, b64(c.leafHash), (c.proof ?? []).map(b64), b64(c.root));
    expect(ok).toBe(!c.wantErr);
  });

  it.each(consistencyCases)('consistency $file', ({ c }) => {
    const ok = verifyConsistency(c.size1, c.size2, b64(c.root1), b64(c.root2), (c.proof ?? []).map(b64));
    expect(ok).toBe(!c.wantErr);
  });

  it('reference tree roots for sizes 0..8', () => {
    const ref = JSON.parse(readFileSync(join(VECTORS, 'reference-tree.json'), 'utf8')) as {
      leafInputsHex: string[];
      rootHashesHexBySize: string[];
    };
    const range = CompactRange.empty();
    expect(range.root().toString('hex')).toBe(ref.rootHashesHexBySize[0]);
    ref.leafInputsHex.forEach((hex, i) => {
      range.append(hashLeaf(Buffer.from(hex, 'hex')));
      expect(range.root().toString('hex')).toBe(ref.rootHashesHexBySize[i + 1]);
      expect(naiveRoot(ref.leafInputsHex.slice(0, i + 1).map((h) => hashLeaf(Buffer.from(h, 'hex'))))).toEqual(
        range.root(),
      );
    });
  });
});

// ---------------------------------------------------------------------------------------------
// A naive implementation straight from RFC 9162 §2.1, over an array of leaf hashes.

function naiveRoot(leaves: Buffer[]): Buffer {
  if (leaves.length === 0) return EMPTY_ROOT;
  if (leaves.length === 1) return leaves[0] as Buffer;
  const k = splitPoint(leaves.length);
  return hashChildren(naiveRoot(leaves.slice(0, k)), naiveRoot(leaves.slice(k)));
}

function naivePath(m: number, leaves: Buffer[]): Buffer[] {
  if (leaves.length <= 1) return [];
  const k = splitPoint(leaves.length);
  return m < k
    ? [...naivePath(m, leaves.slice(0, k)), naiveRoot(leaves.slice(k))]
    : [...naivePath(m - k, leaves.slice(k)), naiveRoot(leaves.slice(0, k))];
}

function naiveSubproof(m: number, leaves: Buffer[], b: boolean): Buffer[] {
  const n = leaves.length;
  if (m === n) return b ? [] : [naiveRoot(leaves)];
  const k = splitPoint(n);
  return m <= k
    ? [...naiveSubproof(m, leaves.slice(0, k), b), naiveRoot(leaves.slice(k))]
    : [...naiveSubproof(m - k, leaves.slice(k), false), naiveRoot(leaves.slice(0, k))];
}

function naiveConsistency(m: number, leaves: Buffer[]): Buffer[] {
  return m === 0 || m === leaves.length ? [] : naiveSubproof(m, leaves, true);
}

/** An in-memory store of every complete subtree, filled through CompactRange.append. */
function memoryTree(n: number): { leaves: Buffer[]; read: NodeReader; reads: NodeId[][]; range: CompactRange } {
  const nodes = new Map<string, Buffer>();
  const leaves: Buffer[] = [];
  const range = CompactRange.empty();
  for (let i = 0; i < n; i++) {
    const leaf = hashLeaf(Buffer.from(`event ${i}`));
    leaves.push(leaf);
    range.append(leaf, (level, index, hash) => nodes.set(`${level}/${index}`, hash));
  }
  const reads: NodeId[][] = [];
  const read: NodeReader = async (ids) => {
    reads.push([...ids]);
    return ids.map(({ level, index }) => {
      const h = nodes.get(`${level}/${index}`);
      if (h === undefined) throw new Error(`missing node ${level}/${index}`);
      return h;
    });
  };
  return { leaves, read, reads, range };
}

describe('proof generation', () => {
  const N = 70;
  const { leaves, read, range } = memoryTree(N);

  it('roots from stored subtrees match the naive root at every size', async () => {
    for (let size = 0; size <= N; size++) {
      expect((await rootAt(size, read)).equals(naiveRoot(leaves.slice(0, size)))).toBe(true);
    }
    expect(range.root().equals(naiveRoot(leaves))).toBe(true);
  });

  it('inclusion proofs match the naive ones and verify, for every leaf of every size', async () => {
    for (let size = 1; size <= N; size++) {
      const root = naiveRoot(leaves.slice(0, size));
      for (let i = 0; i < size; i++) {
        const proof = await inclusionProof(i, size, read);
        expect(proof).toEqual(naivePath(i, leaves.slice(0, size)));
        expect(verifyInclusion(i, size, leaves[i] as Buffer, proof, root)).toBe(true);
        if (size > 1) expect(verifyInclusion(i, size, leaves[(i + 1) % size] as Buffer, proof, root)).toBe(false);
      }
    }
  });

  it('consistency proofs match the naive ones and verify, for every pair of sizes', async () => {
    for (let size2 = 0; size2 <= N; size2++) {
      const root2 = naiveRoot(leaves.slice(0, size2));
      for (let size1 = 0; size1 <= size2; size1++) {
        const root1 = naiveRoot(leaves.slice(0, size1));
        const proof = await consistencyProof(size1, size2, read);
        expect(proof).toEqual(naiveConsistency(size1, leaves.slice(0, size2)));
        expect(verifyConsistency(size1, size2, root1, root2, proof)).toBe(true);
        if (size1 > 0 && size1 < size2) {
          expect(verifyConsistency(size1, size2, root2, root1, proof)).toBe(false);
          expect(verifyConsistency(size1, size2, root1, root2, proof.slice(1))).toBe(false);
        }
      }
    }
  });

  it('a proof touches O(log n) stored nodes, fetched in one batch', async () => {
    const big = memoryTree(3000);
    big.reads.length = 0;
    await inclusionProof(1234, 2999, big.read);
    expect(big.reads).toHaveLength(1);
    expect((big.reads[0] as NodeId[]).length).toBeLessThanOrEqual(2 * Math.ceil(Math.log2(3000)));
  });
});

describe('CompactRange', () => {
  it('round-trips through its serialized form', () => {
    const range = CompactRange.empty();
    for (let i = 0; i < 13; i++) range.append(hashLeaf(Buffer.from([i])));
    expect(range.hashes).toHaveLength(3); // 13 = 0b1101
    const copy = CompactRange.deserialize(13, range.serialize());
    copy.append(hashLeaf(Buffer.from([13])));
    range.append(hashLeaf(Buffer.from([13])));
    expect(copy.root()).toEqual(range.root());
  });

  it('rejects a frontier whose length does not fit the size', () => {
    expect(() => CompactRange.from(3, [EMPTY_ROOT])).toThrow();
  });

  it('segments decompose into decreasing complete subtrees', () => {
    expect(segmentNodes(8, 15)).toEqual([
      { level: 2, index: 2 },
      { level: 1, index: 6 },
      { level: 0, index: 14 },
    ]);
    expect(() => segmentNodes(3, 9)).toThrow();
  });
});
