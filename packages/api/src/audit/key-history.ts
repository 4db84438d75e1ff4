/**
 * Signing key rotation (`gatehouse audit rotate-key`): retired verifier keys stay in a key
 * history next to the key, `<AUDIT_KEY_FILE>.history`, one line per key:
 *
 *   <first tree size> <last tree size> <verifier key>
 *
 * A retired key is accepted only for checkpoints whose tree size lies in its range, so a retired
 * key that leaks later cannot sign the log's future. The offline verifier takes the same file.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { parseCheckpointBody, parseVerifierKey, type Verifier } from './checkpoint.js';

export interface RetiredKey {
  verifier: Verifier;
  /** Checkpoints with from ≤ tree size ≤ to were signed by this key. */
  from: number;
  to: number;
}

/** The key that signs now and the retired ones. */
export interface CheckpointKeys {
  current: Verifier;
  history: readonly RetiredKey[];
}

export class KeyHistoryError extends Error {
  override name = 'KeyHistoryError';
}

export function parseKeyHistory(text: string): RetiredKey[] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.startsWith('#'))
    .map((line, i) => {
      const match = /^(0|[1-9][0-9]*) (0|[1-9][0-9]*) (\S+)$/.exec(line.trim());
      if (match === null) throw new KeyHistoryError(`key history line ${i + 1}: expected <from> <to> <verifier key>`);
      const from = Number(match[1]);
      const to = Number(match[2]);
      if (!Number.isSafeInteger(to) || from > to) throw new KeyHistoryError(`key history line ${i + 1}: bad range`);
      try {
        return { verifier: parseVerifierKey(match[3] as string), from, to };
      } catch (error) {
        throw new KeyHistoryError(`key history line ${i + 1}: ${(error as Error).message}`);
      }
    });
}

/** The history in `file`, empty when there is none. */
export function readKeyHistory(file: string): RetiredKey[] {
  try {
    return parseKeyHistory(readFileSync(file, 'utf8'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

/** Writes `text` to `file` atomically (temporary file, mode 0600, then rename). */
export function writeFileAtomic(file: string, text: string): void {
  const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600, flag: 'wx' });
  renameSync(tmp, file);
}

export function formatKeyHistory(history: readonly RetiredKey[]): string {
  return history.map((k) => `${k.from} ${k.to} ${k.verifier.text}\n`).join('');
}

/**
 * The key to check `note` with: the current key when it signed the note, else the retired key
 * that did, provided the note's tree size lies in that key's range. Otherwise the current key
 * (whose check then fails with "not signed by …").
 */
export function keyFor(note: string, keys: CheckpointKeys): Verifier {
  const split = note.lastIndexOf('\n\n');
  if (split < 0) return keys.current;
  const signers = note
    .slice(split + 2)
    .split('\n')
    .map((line) => /^\u2014 (\S+) ([A-Za-z0-9+/=]+)$/.exec(line))
    .filter((m) => m !== null)
    .map((m) => ({ name: m[1] as string, keyId: Buffer.from(m[2] as string, 'base64').subarray(0, 4) }));
  const signed = (v: Verifier) => signers.some((s) => s.name === v.name && s.keyId.equals(v.keyId));
  if (signed(keys.current)) return keys.current;
  let size: number;
  try {
    size = parseCheckpointBody(note.slice(0, split + 1)).treeSize;
  } catch {
    return keys.current;
  }
  const retired = keys.history.find((k) => signed(k.verifier) && k.from <= size && size <= k.to);
  return retired?.verifier ?? keys.current;
}
