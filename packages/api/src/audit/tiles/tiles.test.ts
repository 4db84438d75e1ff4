/**
 * Tiles as C2SP tlog-tiles describes them, checked by an independent implementation written
 * here: its own RFC 6962 hashing (node:crypto SHA-256), its own tile paths, entry-bundle parsing
 * and tree root computed from the tiles alone, compared with the signed checkpoint.
 */
import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { withTransaction, type Db } from '@gatehouse/db';
import { createMigratedTestDb, testDialects } from '@gatehouse/db/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../clock.js';
import { signerFromPrivateKey } from '../checkpoint.js';
import { AuditService } from '../service.js';
import { encodeTileIndex, parseTilePath, writeTiles } from './tiles.js';

// ---- independent tlog-tiles reader ------------------------------------------------------------
const sha = (...parts: Buffer[]): Buffer => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
};
const leaf = (data: Buffer) => sha(Buffer.from([0]), data);
const node = (l: Buffer, r: Buffer) => sha(Buffer.from([1]), l, r);
function mth(hashes: Buffer[]): Buffer {
  if (hashes.length === 0) return sha();
  if (hashes.length === 1) return hashes[0] as Buffer;
  let k = 1;
  while (k * 2 < hashes.length) k *= 2;
  return node(mth(hashes.slice(0, k)), mth(hashes.slice(k)));
}
function path(level: number | 'entries', n: number, width: number): string {
  let s = String(n).padStart(3, '0');
  const groups: string[] = [];
  while (s.length > 3) {
    groups.unshift(s.slice(-3));
    s = s.slice(0, -3);
  }
  groups.unshift(s.padStart(3, '0'));
  const enc = groups.map((g, i) => (i < groups.length - 1 ? `x${g}` : g)).join('/');
  return `tile/${level}/${enc}${width === 256 ? '' : `.p/${width}`}`;
}
/** Reads every entry and level-0 hash for a tree of `size` from the tile files. */
function readLog(dir: string, size: number): { entries: Buffer[]; leaves: Buffer[] } {
  const entries: Buffer[] = [];
  const leaves: Buffer[] = [];
  for (let n = 0; n * 256 < size; n++) {
    const width = Math.min(256, size - n * 256);
    const bundle = readFileSync(join(dir, path('entries', n, width)));
    for (let off = 0; off < bundle.length;) {
      const len = bundle.readUInt16BE(off);
      entries.push(bundle.subarray(off + 2, off + 2 + len));
      off += 2 + len;
    }
    const tile = readFileSync(join(dir, path(0, n, width)));
    expect(tile.length).toBe(width * 32);
    for (let i = 0; i < width; i++) leaves.push(tile.subarray(i * 32, i * 32 + 32));
  }
  return { entries, leaves };
}
// -------------------------------------------------------------------------------------------------

const origin = 'gatehouse/tiles.test';
const signer = signerFromPrivateKey(origin, generateKeyPairSync('ed25519').privateKey);

describe('tile paths', () => {
  it('encode N in x-prefixed groups of three digits', () => {
    expect(encodeTileIndex(0)).toBe('000');
    expect(encodeTileIndex(5)).toBe('005');
    expect(encodeTileIndex(1234067)).toBe('x001/x234/067');
    expect(encodeTileIndex(1000)).toBe('x001/000');
    expect(parseTilePath('tile/0/x001/x234/067')).toEqual({ level: 0, index: 1234067, width: 256 });
    expect(parseTilePath('tile/entries/005.p/17')).toEqual({ level: 'entries', index: 5, width: 17 });
    for (const bad of ['tile/0/5', 'tile/0/x000/005', 'tile/0/005.p/256', 'tile/0/005.p/0', 'tile/../x', 'tile/01/000'])
      expect(parseTilePath(bad)).toBeNull();
  });
});

describe.each(testDialects)('tiles on %s', (dialect) => {
  let db: Db;
  let cleanup: () => Promise<void>;
  let audit: AuditService;
  let dir: string;
  const clock = new ManualClock('2026-12-01T12:00:00.000Z');

  beforeEach(async () => {
    ({ db, cleanup } = await createMigratedTestDb(dialect));
    audit = new AuditService({
      db,
      clock,
      signer,
      config: { publicOrigin: 'http://t.test', auditKeyFile: '/nonexistent' },
    });
    dir = mkdtempSync(join(tmpdir(), 'gh-tiles-'));
  });
  afterEach(async () => {
    await audit.close();
    await cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes tiles and entry bundles from which an independent reader rebuilds the signed root', async () => {
    const size = 256 * 2 + 37; // two full level-0 tiles, one partial, one partial level-1 tile
    await withTransaction(db, async (trx) => {
      for (let i = 0; i < size; i++)
        await audit.append(trx, { type: 'auth.sign_in', actorId: `u${i % 7}`, data: { i, note: 'é' } });
    });
    await audit.checkpointer.tick(true);
    const cp = await audit.checkpointer.latest();
    expect(cp.treeSize).toBe(size);
    expect(await writeTiles(db.kysely, dir, size, cp.note)).toEqual({ tiles: 4, bundles: 3 });

    const files = (function walk(d: string): string[] {
      return readdirSync(d).flatMap((f) =>
        statSync(join(d, f)).isDirectory() ? walk(join(d, f)) : [relative(dir, join(d, f))],
      );
    })(dir).sort();
    expect(files).toEqual([
      'checkpoint',
      'tile/0/000',
      'tile/0/001',
      'tile/0/002.p/37',
      'tile/1/000.p/2',
      'tile/entries/000',
      'tile/entries/001',
      'tile/entries/002.p/37',
    ]);

    const { entries, leaves } = readLog(dir, size);
    expect(entries).toHaveLength(size);
    entries.forEach((e, i) => {
      expect(leaf(e).equals(leaves[i] as Buffer)).toBe(true);
      expect(JSON.parse(e.toString('utf8'))).toMatchObject({ seq: i + 1, type: 'auth.sign_in', data: { i } });
    });
    // Level 1 holds the roots of each complete 256-leaf subtree.
    const level1 = readFileSync(join(dir, 'tile/1/000.p/2'));
    expect(level1.subarray(0, 32).equals(mth(leaves.slice(0, 256)))).toBe(true);
    expect(level1.subarray(32, 64).equals(mth(leaves.slice(256, 512)))).toBe(true);
    // The root from the tiles is the one in the signed checkpoint.
    const note = readFileSync(join(dir, 'checkpoint'), 'utf8');
    expect(note).toBe(cp.note);
    const rootLine = note.split('\n')[2] as string;
    expect(mth(leaves).toString('base64')).toBe(rootLine);
  });
});
