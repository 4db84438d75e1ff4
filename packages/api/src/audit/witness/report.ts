/**
 * What audit.verify and the offline verifier say about witnesses: which checkpoints carry valid
 * cosignatures (C2SP tlog-cosignature) from the witnesses of the policy, the latest one that
 * meets it, the checkpoints after it that no quorum of witnesses has seen, and the forks and
 * rollbacks witnesses reported.
 */
import type { Database, Kysely } from '@gatehouse/db';
import { findCosignature, splitSignedNote, type WitnessVerifier } from './cosignature.js';
import type { WitnessPolicy } from './client.js';
import type { WitnessReport } from '../types.js';

export const describePolicy = (p: WitnessPolicy): string => `${p.quorum} of ${p.names.join(', ') || '(none)'}`;

/** Evaluates one signed note (its own cosignature lines) against the policy. */
export function noteCosigners(
  note: string,
  witnesses: readonly WitnessVerifier[],
  policy: WitnessPolicy,
): { cosignedBy: string[]; problems: string[] } {
  const { body, lines } = splitSignedNote(note);
  const cosignedBy: string[] = [];
  const problems: string[] = [];
  for (const w of witnesses) {
    if (!policy.names.includes(w.name)) continue;
    try {
      if (findCosignature(body, lines, w) !== null) cosignedBy.push(w.name);
    } catch (error) {
      problems.push((error as Error).message);
    }
  }
  return { cosignedBy, problems };
}

/** Appends the stored cosignature lines to a checkpoint note (a cosigned note, C2SP signed-note). */
export async function cosignedNote(db: Kysely<Database>, size: number, note: string): Promise<string> {
  const rows = await db
    .selectFrom('audit_cosignatures')
    .select('line')
    .where('tree_size', '=', size)
    .orderBy('witness')
    .execute();
  return rows.length === 0 ? note : `${note}${rows.map((r) => `${r.line}\n`).join('')}`;
}

export async function witnessReport(
  db: Kysely<Database>,
  witnesses: readonly WitnessVerifier[],
  policy: WitnessPolicy,
): Promise<WitnessReport> {
  const checkpoints = await db
    .selectFrom('audit_checkpoints')
    .select(['tree_size', 'note'])
    .orderBy('tree_size', 'asc')
    .execute();
  const cosigs = await db.selectFrom('audit_cosignatures').select(['tree_size', 'witness', 'line']).execute();
  const states = await db.selectFrom('audit_witness_state').select(['witness', 'problem']).execute();
  const problems = states.flatMap((s) => (s.problem === null ? [] : [s.problem]));
  let witnessedSize: number | null = null;
  let latestCosignedBy: string[] = [];
  for (const cp of checkpoints) {
    const size = Number(cp.tree_size);
    const lines = cosigs.filter((c) => Number(c.tree_size) === size).map((c) => c.line);
    const note = lines.length === 0 ? cp.note : `${cp.note}${lines.map((l) => `${l}\n`).join('')}`;
    const { cosignedBy, problems: bad } = noteCosigners(note, witnesses, policy);
    problems.push(...bad.map((p) => `checkpoint at size ${size}: ${p}`));
    if (policy.quorum > 0 && cosignedBy.length >= policy.quorum) witnessedSize = size;
    latestCosignedBy = cosignedBy;
  }
  const unwitnessed =
    policy.quorum === 0
      ? []
      : checkpoints.map((cp) => Number(cp.tree_size)).filter((s) => witnessedSize === null || s > witnessedSize);
  return { policy: describePolicy(policy), witnessedSize, latestCosignedBy, unwitnessed, problems };
}
