/**
 * The audit tree as C2SP tlog-tiles, computed from the stored tree (audit_events.leaf_hash and
 * audit_nodes through the NodeReader): no second copy of the log is kept.
 *
 *   tile/<L>/<N>[.p/<W>]      hashes (32 bytes each) of tree level 8·L, indices 256·N … 256·N+W−1;
 *                             a full tile has W = 256 and no `.p/<W>` suffix
 *   tile/entries/<N>[.p/<W>]  entry bundle: each leaf input (the JCS bytes the leaf hash is over,
 *                             leaf.ts) as a big-endian uint16 length and the bytes
 *   checkpoint                the latest signed (and cosigned) checkpoint note
 *
 * <N> is written in groups of three digits, all but the last prefixed with "x": 1234067 →
 * x001/x234/067. For a tree of size S, level L has ⌊S / 256^L⌋ complete nodes: ⌊that / 256⌋ full
 * tiles and, when the remainder W is non-zero, one partial tile of width W.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Database, Kysely } from '@gatehouse/db';
import { leafInputFromStored } from '../leaf.js';
import type { NodeReader } from '../merkle.js';
import { nodeReader } from '../store.js';
import { cosignedNote } from '../witness/report.js';

export const TILE_WIDTH = 256;
const TILE_HEIGHT = 8;

class TileError extends Error {
  override name = 'TileError';
}

export function encodeTileIndex(n: number): string {
  if (!Number.isSafeInteger(n) || n < 0) throw new TileError('tile index must be a non-negative integer');
  const groups: string[] = [];
  let rest = n;
  do {
    groups.unshift(String(rest % 1000).padStart(3, '0'));
    rest = Math.floor(rest / 1000);
  } while (rest > 0);
  return groups.map((g, i) => (i < groups.length - 1 ? `x${g}` : g)).join('/');
}

/** The path of a tile (level 'entries' for an entry bundle); width 256 is a full tile. */
export function tilePath(level: number | 'entries', index: number, width = TILE_WIDTH): string {
  if (!Number.isInteger(width) || width < 1 || width > TILE_WIDTH) throw new TileError('tile width must be 1..256');
  return `tile/${level}/${encodeTileIndex(index)}${width === TILE_WIDTH ? '' : `.p/${width}`}`;
}

export interface TileRef {
  level: number;
  index: number;
  width: number;
}

/** Every tile (full and the partial ones) of a tree of `size`, bottom level first. */
export function tilesFor(size: number): TileRef[] {
  const tiles: TileRef[] = [];
  for (let level = 0; ; level++) {
    const nodes = Math.floor(size / TILE_WIDTH ** level);
    if (nodes === 0) break;
    const full = Math.floor(nodes / TILE_WIDTH);
    for (let index = 0; index < full; index++) tiles.push({ level, index, width: TILE_WIDTH });
    const partial = nodes % TILE_WIDTH;
    if (partial > 0) tiles.push({ level, index: full, width: partial });
    if (nodes < TILE_WIDTH) break;
  }
  return tiles;
}

/** Parses a request path below the tile root into a tile reference (null when it is not one). */
export function parseTilePath(path: string): { level: number | 'entries'; index: number; width: number } | null {
  const m = /^tile\/(entries|0|[1-9][0-9]?)\/((?:x[0-9]{3}\/)*[0-9]{3})(?:\.p\/([1-9][0-9]{0,2}))?$/.exec(path);
  if (m === null) return null;
  const groups = (m[2] as string).split('/').map((g) => g.replace(/^x/, ''));
  if (groups.length > 1 && groups[0] === '000') return null; // not the canonical encoding
  const index = Number(groups.join(''));
  const width = m[3] === undefined ? TILE_WIDTH : Number(m[3]);
  if (!Number.isSafeInteger(index) || width > TILE_WIDTH || (m[3] !== undefined && width === TILE_WIDTH)) return null;
  return { level: m[1] === 'entries' ? 'entries' : Number(m[1]), index, width };
}

/** The bytes of a hash tile, or null when the tree of `size` does not have it. */
async function readTile(
  read: NodeReader,
  size: number,
  level: number,
  index: number,
  width: number,
): Promise<Buffer | null> {
  // Any width up to what the tree has at that position (a partial read of a since-full tile too).
  if (index * TILE_WIDTH + width > Math.floor(size / TILE_WIDTH ** level)) return null;
  const ids = Array.from({ length: width }, (_, i) => ({ level: level * TILE_HEIGHT, index: index * TILE_WIDTH + i }));
  return Buffer.concat((await read(ids)).map((h) => Buffer.from(h)));
}

/** The entry bundle of leaves 256·index … 256·index+width−1, or null when not all exist below `size`. */
async function readEntryBundle(
  db: Kysely<Database>,
  size: number,
  index: number,
  width: number,
): Promise<Buffer | null> {
  const first = index * TILE_WIDTH;
  if (first + width > size) return null;
  const rows = await db
    .selectFrom('audit_events')
    .select(['seq', 'at', 'type', 'actor_id', 'target_id', 'ip', 'user_agent', 'data'])
    .where('seq', '>', first)
    .where('seq', '<=', first + width)
    .orderBy('seq')
    .execute();
  if (rows.length !== width) throw new TileError(`events ${first + 1}..${first + width} are not all stored`);
  const parts: Buffer[] = [];
  for (const r of rows) {
    const input = Buffer.from(
      leafInputFromStored(
        Number(r.seq),
        r.at.toISOString(),
        r.type,
        r.actor_id,
        r.target_id,
        r.ip,
        r.user_agent,
        r.data,
      ),
      'utf8',
    );
    if (input.length > 0xffff) throw new TileError(`event ${Number(r.seq)} is too large for an entry bundle`);
    const len = Buffer.alloc(2);
    len.writeUInt16BE(input.length);
    parts.push(len, input);
  }
  return Buffer.concat(parts);
}

/**
 * Writes the tiles, entry bundles and `checkpoint` of a tree of `size` under `dir` (static files
 * any web server or bucket can host). `checkpointNote` must be the note for exactly that size.
 */
export async function writeTiles(
  db: Kysely<Database>,
  dir: string,
  size: number,
  checkpointNote: string,
): Promise<{ tiles: number; bundles: number }> {
  const read = nodeReader(db);
  let tiles = 0;
  let bundles = 0;
  const put = async (path: string, bytes: Buffer | string): Promise<void> => {
    const file = join(dir, path);
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, bytes);
  };
  for (const t of tilesFor(size)) {
    const bytes = await readTile(read, size, t.level, t.index, t.width);
    if (bytes === null) throw new TileError(`tile ${t.level}/${t.index} is not available`);
    await put(tilePath(t.level, t.index, t.width), bytes);
    tiles += 1;
    if (t.level === 0) {
      const bundle = await readEntryBundle(db, size, t.index, t.width);
      if (bundle === null) throw new TileError(`entry bundle ${t.index} is not available`);
      await put(tilePath('entries', t.index, t.width), bundle);
      bundles += 1;
    }
  }
  await put('checkpoint', checkpointNote);
  return { tiles, bundles };
}

export interface TileResponse {
  status: 200 | 404;
  contentType: string;
  body: Buffer | string;
  /** Full tiles never change: cache them for good. The checkpoint and partial tiles do change. */
  immutable: boolean;
}

/**
 * One request below the tile root (`checkpoint`, `tile/…`), answered from the latest signed
 * checkpoint (cosignatures appended) and the tree at its size, so everything served agrees.
 */
export async function serveTlog(db: Kysely<Database>, path: string): Promise<TileResponse> {
  const notFound: TileResponse = {
    status: 404,
    contentType: 'text/plain; charset=utf-8',
    body: 'not found\n',
    immutable: false,
  };
  const latest = await db
    .selectFrom('audit_checkpoints')
    .select(['tree_size', 'note'])
    .orderBy('tree_size', 'desc')
    .limit(1)
    .executeTakeFirst();
  if (latest === undefined) return notFound;
  const size = Number(latest.tree_size);
  if (path === 'checkpoint') {
    return {
      status: 200,
      contentType: 'text/plain; charset=utf-8',
      body: await cosignedNote(db, size, latest.note),
      immutable: false,
    };
  }
  const ref = parseTilePath(path);
  if (ref === null) return notFound;
  const bytes =
    ref.level === 'entries'
      ? await readEntryBundle(db, size, ref.index, ref.width)
      : ref.level > 0 && TILE_WIDTH ** ref.level > size
        ? null
        : await readTile(nodeReader(db), size, ref.level, ref.index, ref.width);
  if (bytes === null) return notFound;
  return { status: 200, contentType: 'application/octet-stream', body: bytes, immutable: ref.width === TILE_WIDTH };
}
