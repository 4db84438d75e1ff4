/**
 * The offline verifier for a tile export (`gatehouse audit export --tiles`): reads `checkpoint`,
 * the entry bundles and the hash tiles, re-hashes every entry (RFC 6962 leaf of its JCS bytes),
 * checks each event's seq, compares level-0 tiles with the re-hashed leaves and higher tiles with
 * the subtrees rebuilt from them, and the root with the signed checkpoint. With witness keys it
 * also checks the checkpoint's cosignatures against a policy (`<n>` or `<n>:<name>|<name>`).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseVerifierKey, verifyCheckpointNote, type Checkpoint } from '../checkpoint.js';
import { keyFor, parseKeyHistory } from '../key-history.js';
import { CompactRange, hashComplete, hashesEqual, hashLeaf, toHex } from '../merkle.js';
import type { OfflineVerifyResult } from '../offline.js';
import { parsePolicy } from '../witness/client.js';
import { parseWitnessKey } from '../witness/cosignature.js';
import { describePolicy, noteCosigners } from '../witness/report.js';
import { TILE_WIDTH, tilePath, tilesFor } from './tiles.js';

export interface WitnessCheck {
  /** Witness verifier keys (`<name>+<id>+<base64(0x04 ‖ key)>`). */
  keys: readonly string[];
  /** `<n>` or `<n>:<name>|<name>…`; default 1 when keys are given. */
  policy?: string;
}

export interface CosignatureCheck {
  policy: string;
  cosignedBy: string[];
  /** Null when the policy is met. */
  problem: string | null;
}

/** Checks a signed note's cosignatures against the policy. */
export function checkCosignatures(note: string, witnesses: WitnessCheck): CosignatureCheck {
  const keys = witnesses.keys.map((k) => parseWitnessKey(k));
  const policy = parsePolicy(witnesses.policy, keys);
  const { cosignedBy, problems } = noteCosigners(note, keys, policy);
  const size = note.split('\n', 2)[1] ?? '?';
  const problem =
    problems[0] ??
    (cosignedBy.length < policy.quorum
      ? `the checkpoint at size ${size} was not seen by enough witnesses: cosigned by ${cosignedBy.length} (${cosignedBy.join(', ') || 'none'}), the policy needs ${describePolicy(policy)}`
      : null);
  return { policy: describePolicy(policy), cosignedBy, problem };
}

export type TileVerifyResult = OfflineVerifyResult & { cosignatures: CosignatureCheck | null };

export async function verifyTileExport(
  dir: string,
  publicKey: string,
  keyHistory = '',
  witnesses: WitnessCheck | null = null,
): Promise<TileVerifyResult> {
  const result: TileVerifyResult = {
    ok: false,
    checked: 0,
    checkpoint: null,
    uncovered: 0,
    firstInvalidSeq: null,
    reason: null,
    cosignatures: null,
  };
  const fail = (reason: string, seq: number | null = null): TileVerifyResult => ({
    ...result,
    ok: false,
    reason,
    firstInvalidSeq: seq,
  });
  let note: string;
  let checkpoint: Checkpoint;
  try {
    note = await readFile(join(dir, 'checkpoint'), 'utf8');
    const keys = { current: parseVerifierKey(publicKey), history: parseKeyHistory(keyHistory) };
    checkpoint = verifyCheckpointNote(note, keyFor(note, keys));
  } catch (error) {
    return fail(`checkpoint: ${(error as Error).message}`);
  }
  result.checkpoint = {
    origin: checkpoint.origin,
    treeSize: checkpoint.treeSize,
    rootHash: toHex(checkpoint.rootHash),
  };
  const size = checkpoint.treeSize;
  const range = CompactRange.empty();
  const level0: Buffer[] = [];
  try {
    for (const t of tilesFor(size)) {
      const file = tilePath(t.level, t.index, t.width);
      const tile = await readFile(join(dir, file));
      if (tile.length !== t.width * 32) return fail(`${file} has ${tile.length} bytes, expected ${t.width * 32}`);
      if (t.level === 0) {
        const bundle = await readFile(join(dir, tilePath('entries', t.index, t.width)));
        let off = 0;
        for (let i = 0; i < t.width; i++) {
          const seq = t.index * TILE_WIDTH + i + 1;
          if (off + 2 > bundle.length) return fail(`entry bundle ${t.index} ends before event ${seq}`, seq);
          const len = bundle.readUInt16BE(off);
          const entry = bundle.subarray(off + 2, off + 2 + len);
          off += 2 + len;
          let parsed: unknown;
          try {
            parsed = JSON.parse(entry.toString('utf8'));
          } catch {
            return fail(`event ${seq} in the entry bundle is not JSON`, seq);
          }
          if ((parsed as { seq?: unknown }).seq !== seq)
            return fail(`entry ${seq} carries seq ${String((parsed as { seq?: unknown }).seq)}`, seq);
          const leaf = hashLeaf(entry);
          if (!hashesEqual(leaf, tile.subarray(i * 32, i * 32 + 32)))
            return fail(`event ${seq} does not match its hash in ${file}`, seq);
          range.append(leaf);
          level0.push(leaf);
          result.checked = seq;
        }
        if (off !== bundle.length) return fail(`entry bundle ${t.index} has trailing bytes`);
      } else {
        // Each hash of a level-L tile is the root of 256^L consecutive leaves.
        const span = TILE_WIDTH ** t.level;
        for (let i = 0; i < t.width; i++) {
          const first = (t.index * TILE_WIDTH + i) * span;
          const expected = hashComplete(level0.slice(first, first + span));
          if (!hashesEqual(expected, tile.subarray(i * 32, i * 32 + 32)))
            return fail(`${file}: hash ${i} does not match events ${first + 1}..${first + span}`);
        }
      }
    }
  } catch (error) {
    return fail(`tiles: ${(error as Error).message}`);
  }
  if (!hashesEqual(range.root(), checkpoint.rootHash))
    return fail(`the tiles do not match the signed checkpoint at size ${size}`);
  if (witnesses !== null && witnesses.keys.length > 0) {
    let check: CosignatureCheck;
    try {
      check = checkCosignatures(note, witnesses);
    } catch (error) {
      return fail(`witnesses: ${(error as Error).message}`);
    }
    result.cosignatures = check;
    if (check.problem !== null) return fail(check.problem);
  }
  return { ...result, ok: true };
}
