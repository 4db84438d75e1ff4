/**
 * The `leaves` extension line of a signed checkpoint: a 16-byte prefix of each leaf hash added
 * since the previous checkpoint, `leaves <from> <base64 digests of events from+1..size>`.
 *
 * The root alone proves *that* the events up to a checkpoint changed, not *which* one: after an
 * edit, insert or delete with every derived hash recomputed, the rows are self-consistent and only
 * the root disagrees. With the digests under the signature, verification names the first event
 * whose leaf differs from what was signed. Detection still rests on the full root; the prefixes
 * only locate (forging a 128-bit prefix match would merely misplace the report).
 */
export const DIGEST_SIZE = 16;
/** More than this many events since the previous checkpoint: only the last ones are listed. */
export const MAX_DIGESTS = 1000;

export interface LeafDigests {
  /** The digests are of the events from + 1 … from + digests.length. */
  from: number;
  /** Lowercase hex, DIGEST_SIZE bytes each. */
  digests: string[];
}

export function leavesExtension(from: number, leafHashes: readonly Uint8Array[]): string {
  const listed = leafHashes.slice(-MAX_DIGESTS);
  const start = from + leafHashes.length - listed.length;
  const bytes = Buffer.concat(listed.map((h) => Buffer.from(h).subarray(0, DIGEST_SIZE)));
  return `leaves ${start} ${bytes.toString('base64')}`;
}

/** The digests of a checkpoint ending at `size`, or null when its note has no (valid) line. */
export function parseLeavesExtension(extensions: readonly string[] | undefined, size: number): LeafDigests | null {
  const line = extensions?.find((l) => l.startsWith('leaves '));
  const match = line === undefined ? null : /^leaves (0|[1-9][0-9]*) ([A-Za-z0-9+/]*={0,2})$/.exec(line);
  if (match === null) return null;
  const from = Number(match[1]);
  const bytes = Buffer.from(match[2] as string, 'base64');
  if (bytes.length % DIGEST_SIZE !== 0 || from + bytes.length / DIGEST_SIZE !== size) return null;
  const digests: string[] = [];
  for (let i = 0; i < bytes.length; i += DIGEST_SIZE) digests.push(bytes.subarray(i, i + DIGEST_SIZE).toString('hex'));
  return { from, digests };
}
