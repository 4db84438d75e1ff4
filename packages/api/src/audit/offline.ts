/**
 * The audit export format and its offline verification (`gatehouse audit export` /
 * `gatehouse audit verify --offline <dir> --public-key <key>`), usable with no server and no
 * database: only this file, leaf.ts, merkle.ts and checkpoint.ts.
 *
 * A directory holds
 *   events.jsonl     one AuditEvent per line, ascending seq from 1, `at` as ISO 8601 UTC
 *   checkpoint.txt   the latest signed checkpoint (C2SP signed note), covering a prefix of them
 *
 * Verification recomputes every leaf from the event fields (RFC 8785), rebuilds the tree, and
 * checks the root at the checkpoint's size against the signed note, whose signature is checked
 * with the verifier key given by the operator (never one read from the export itself).
 */
import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseVerifierKey, verifyCheckpointNote, type Checkpoint } from './checkpoint.js';
import { keyFor, parseKeyHistory } from './key-history.js';
import { leafHash, type LeafFields } from './leaf.js';
import { CompactRange, hashesEqual, toHex } from './merkle.js';
import type { AuditEvent } from './types.js';

export const EXPORT_EVENTS_FILE = 'events.jsonl';
export const EXPORT_CHECKPOINT_FILE = 'checkpoint.txt';

export interface OfflineVerifyResult {
  ok: boolean;
  /** Events read and re-hashed. */
  checked: number;
  /** The signed checkpoint, when its signature verified. */
  checkpoint: { origin: string; treeSize: number; rootHash: string } | null;
  /** Events in the export beyond the checkpoint (well-formed, but not covered by a signature). */
  uncovered: number;
  firstInvalidSeq: number | null;
  reason: string | null;
}

/** One line of events.jsonl (without the newline). */
function eventToExportLine(event: AuditEvent): string {
  return JSON.stringify({
    seq: event.seq,
    at: event.at.toISOString(),
    type: event.type,
    actorId: event.actorId,
    targetId: event.targetId,
    ip: event.ip,
    userAgent: event.userAgent,
    data: event.data,
    leafHash: event.leafHash,
  });
}

/** Writes an export directory from events in ascending seq order and the checkpoint note. */
export async function writeAuditExport(
  dir: string,
  events: Iterable<AuditEvent> | AsyncIterable<AuditEvent>,
  checkpointNote: string,
): Promise<{ events: number }> {
  await mkdir(dir, { recursive: true });
  const out = createWriteStream(join(dir, EXPORT_EVENTS_FILE), { encoding: 'utf8' });
  let count = 0;
  try {
    for await (const event of events) {
      if (!out.write(`${eventToExportLine(event)}\n`)) await once(out, 'drain');
      count += 1;
    }
  } finally {
    out.end();
    await once(out, 'finish');
  }
  await writeFile(join(dir, EXPORT_CHECKPOINT_FILE), checkpointNote, 'utf8');
  return { events: count };
}

const isNullableString = (v: unknown): v is string | null => v === null || typeof v === 'string';

/** Validates one parsed line into leaf fields; null when it is not a well-formed event. */
function parseExportedEvent(value: unknown): (LeafFields & { leafHash: unknown }) | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  const e = value as Record<string, unknown>;
  const at = typeof e.at === 'string' ? new Date(e.at) : null;
  if (
    !Number.isSafeInteger(e.seq) ||
    at === null ||
    Number.isNaN(at.getTime()) ||
    typeof e.type !== 'string' ||
    !isNullableString(e.actorId) ||
    !isNullableString(e.targetId) ||
    !isNullableString(e.ip) ||
    !isNullableString(e.userAgent) ||
    typeof e.data !== 'object' ||
    e.data === null ||
    Array.isArray(e.data)
  ) {
    return null;
  }
  return {
    seq: e.seq as number,
    at,
    type: e.type,
    actorId: e.actorId,
    targetId: e.targetId,
    ip: e.ip,
    userAgent: e.userAgent,
    data: e.data as Record<string, unknown>,
    leafHash: e.leafHash,
  };
}

/**
 * `keyHistory`: the text of a key history file (`<AUDIT_KEY_FILE>.history`), for an export whose
 * checkpoint was signed by a key retired since (`gatehouse audit rotate-key`).
 */
export async function verifyAuditExport(dir: string, publicKey: string, keyHistory = ''): Promise<OfflineVerifyResult> {
  const result: OfflineVerifyResult = {
    ok: false,
    checked: 0,
    checkpoint: null,
    uncovered: 0,
    firstInvalidSeq: null,
    reason: null,
  };
  const fail = (reason: string, seq: number | null = null): OfflineVerifyResult => ({
    ...result,
    ok: false,
    reason,
    firstInvalidSeq: seq,
  });

  let checkpoint: Checkpoint;
  try {
    const keys = { current: parseVerifierKey(publicKey), history: parseKeyHistory(keyHistory) };
    const note = await readFile(join(dir, EXPORT_CHECKPOINT_FILE), 'utf8');
    checkpoint = verifyCheckpointNote(note, keyFor(note, keys));
  } catch (error) {
    return fail(`checkpoint: ${(error as Error).message}`);
  }
  result.checkpoint = {
    origin: checkpoint.origin,
    treeSize: checkpoint.treeSize,
    rootHash: toHex(checkpoint.rootHash),
  };

  const range = CompactRange.empty();
  let rootChecked = checkpoint.treeSize === 0;
  if (rootChecked && !hashesEqual(range.root(), checkpoint.rootHash))
    return fail('the checkpoint of the empty log has a wrong root');

  const lines = createInterface({
    input: createReadStream(join(dir, EXPORT_EVENTS_FILE), { encoding: 'utf8' }),
    crlfDelay: Infinity,
  });
  try {
    for await (const line of lines) {
      if (line === '') continue;
      const expected = result.checked + 1;
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch {
        return fail(`line ${expected} is not JSON`, expected);
      }
      const event = parseExportedEvent(parsed);
      if (event === null) return fail(`line ${expected} is not a well-formed audit event`, expected);
      if (event.seq !== expected) {
        return fail(
          event.seq > expected ? `event ${expected} is missing` : `event ${event.seq} is out of order or repeated`,
          expected,
        );
      }
      let hash: Buffer;
      try {
        hash = leafHash(event);
      } catch (error) {
        return fail(`event ${expected} cannot be encoded: ${(error as Error).message}`, expected);
      }
      if (event.leafHash !== undefined && event.leafHash !== toHex(hash)) {
        return fail(`event ${expected} does not match its leafHash`, expected);
      }
      range.append(hash);
      result.checked = expected;
      if (range.size === checkpoint.treeSize) {
        if (!hashesEqual(range.root(), checkpoint.rootHash)) {
          return fail(`events 1..${checkpoint.treeSize} do not match the signed checkpoint`);
        }
        rootChecked = true;
      } else if (range.size > checkpoint.treeSize) {
        result.uncovered += 1;
      }
    }
  } catch (error) {
    return fail(`${EXPORT_EVENTS_FILE}: ${(error as Error).message}`);
  } finally {
    lines.close();
  }
  if (!rootChecked) {
    return fail(
      `the checkpoint covers ${checkpoint.treeSize} events but the export has ${result.checked} (truncated)`,
      result.checked + 1,
    );
  }
  return { ...result, ok: true };
}
