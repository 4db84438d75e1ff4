/**
 * Sends the log's latest checkpoint, with a consistency proof from the size each witness last
 * cosigned, to the witnesses of AUDIT_WITNESSES (C2SP tlog-witness), and stores the
 * cosignatures they return (audit_cosignatures). It runs on its own timer and never blocks a
 * request: a witness that is down is simply tried again on the next round.
 *
 * A witness that answers with a size beyond the log's latest checkpoint (409), or refuses the
 * checkpoint as inconsistent with what it cosigned (422, or 409 at the same size), has been
 * shown a fork or a rollback: that is recorded in audit_witness_state.problem, logged, reported
 * by audit.verify, and the witness is not asked again until an operator clears the row.
 *
 * AUDIT_WITNESSES:       comma-separated entries `url=<base URL>;key=<witness verifier key>`
 * AUDIT_WITNESS_POLICY:  `<n>` (any n of them) or `<n>:<name>|<name>…` (n of the named ones);
 *                        default 1 when witnesses are configured
 */
import type { Database, Kysely } from '@gatehouse/db';
import { consistencyProof } from '../merkle.js';
import { nodeReader } from '../store.js';
import {
  findCosignature,
  parseWitnessKey,
  splitSignedNote,
  CosignatureError,
  type WitnessVerifier,
} from './cosignature.js';

export interface WitnessEndpoint {
  readonly url: string;
  readonly key: WitnessVerifier;
}

export interface WitnessPolicy {
  readonly quorum: number;
  /** Names of the witnesses that count (all configured ones when not restricted). */
  readonly names: readonly string[];
}

class WitnessConfigError extends Error {
  override name = 'WitnessConfigError';
}

export function parseWitnesses(text: string): WitnessEndpoint[] {
  const out: WitnessEndpoint[] = [];
  for (const entry of text
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '')) {
    const fields = new Map<string, string>();
    for (const part of entry.split(';')) {
      const eq = part.indexOf('=');
      if (eq < 0) throw new WitnessConfigError(`AUDIT_WITNESSES entry "${entry}": expected url=…;key=…`);
      fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
    }
    const url = fields.get('url');
    const key = fields.get('key');
    if (url === undefined || key === undefined || fields.size !== 2)
      throw new WitnessConfigError(`AUDIT_WITNESSES entry "${entry}": expected exactly url=…;key=…`);
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new WitnessConfigError(`AUDIT_WITNESSES entry "${entry}": ${url} is not a URL`);
    }
    if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:')
      throw new WitnessConfigError(`AUDIT_WITNESSES entry "${entry}": the URL must be http(s)`);
    let verifier: WitnessVerifier;
    try {
      verifier = parseWitnessKey(key);
    } catch (error) {
      throw new WitnessConfigError(`AUDIT_WITNESSES entry "${entry}": ${(error as Error).message}`);
    }
    if (out.some((w) => w.key.name === verifier.name))
      throw new WitnessConfigError(`AUDIT_WITNESSES names witness ${verifier.name} twice`);
    out.push({ url: url.replace(/\/+$/, ''), key: verifier });
  }
  return out;
}

export function parsePolicy(text: string | undefined, witnesses: readonly { name: string }[]): WitnessPolicy {
  const all = witnesses.map((w) => w.name);
  if (text === undefined || text.trim() === '') return { quorum: all.length === 0 ? 0 : 1, names: all };
  const match = /^(0|[1-9][0-9]*)(?::(.+))?$/.exec(text.trim());
  if (match === null) throw new WitnessConfigError('AUDIT_WITNESS_POLICY must be <n> or <n>:<name>|<name>…');
  const quorum = Number(match[1]);
  const names = match[2] === undefined ? all : match[2].split('|').map((n) => n.trim());
  for (const n of names)
    if (!all.includes(n))
      throw new WitnessConfigError(`AUDIT_WITNESS_POLICY names ${n}, which is not in AUDIT_WITNESSES`);
  if (quorum > names.length)
    throw new WitnessConfigError(`AUDIT_WITNESS_POLICY asks for ${quorum} cosignatures of ${names.length} witness(es)`);
  return { quorum, names };
}

export interface WitnessClientOptions {
  db: Kysely<Database>;
  witnesses: readonly WitnessEndpoint[];
  now?: () => Date;
  timeoutMs?: number;
  onError?: (error: unknown, witness: string) => void;
  onProblem?: (problem: string, witness: string) => void;
}

type Outcome = 'cosigned' | 'up-to-date' | 'problem' | 'failed';

export class WitnessClient {
  readonly #db: Kysely<Database>;
  readonly #witnesses: readonly WitnessEndpoint[];
  readonly #now: () => Date;
  readonly #timeoutMs: number;
  readonly #onError: NonNullable<WitnessClientOptions['onError']>;
  readonly #onProblem: NonNullable<WitnessClientOptions['onProblem']>;
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<Record<string, Outcome>> | null = null;
  /** The round queued after the running one, that every call during it joins. */
  #next: Promise<Record<string, Outcome>> | null = null;

  constructor(options: WitnessClientOptions) {
    this.#db = options.db;
    this.#witnesses = options.witnesses;
    this.#now = options.now ?? (() => new Date());
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    this.#onError = options.onError ?? (() => {});
    this.#onProblem = options.onProblem ?? (() => {});
  }

  get witnesses(): readonly WitnessEndpoint[] {
    return this.#witnesses;
  }

  start(intervalMs = 5000): void {
    if (this.#timer !== null || this.#witnesses.length === 0) return;
    this.#timer = setInterval(() => void this.sync().catch(() => {}), intervalMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    await this.#running?.catch(() => {});
    await this.#next?.catch(() => {});
  }

  /**
   * One round: every witness is brought up to the latest checkpoint. Rounds never overlap; a
   * call during a round joins the one round queued after it (which reads the latest checkpoint
   * when it starts, so it sees the caller's or a later one). However often it is called (the
   * timer while a witness hangs, many receipt requests at once), one round runs and one waits.
   */
  sync(timeoutMs = this.#timeoutMs): Promise<Record<string, Outcome>> {
    if (this.#next !== null) return this.#next;
    if (this.#running === null) return this.#start(timeoutMs);
    const next = this.#running
      .catch(() => {})
      .then(() => {
        this.#next = null;
        return this.#start(timeoutMs);
      });
    this.#next = next;
    return next;
  }

  #start(timeoutMs: number): Promise<Record<string, Outcome>> {
    const round = this.#round(timeoutMs).finally(() => {
      this.#running = null;
    });
    this.#running = round;
    return round;
  }

  async #round(timeoutMs: number): Promise<Record<string, Outcome>> {
    const latest = await this.#db
      .selectFrom('audit_checkpoints')
      .select(['tree_size', 'note'])
      .orderBy('tree_size', 'desc')
      .limit(1)
      .executeTakeFirst();
    const results: Record<string, Outcome> = {};
    if (latest === undefined) return results;
    await Promise.all(
      this.#witnesses.map(async (w) => {
        try {
          results[w.key.name] = await this.#bring(w, Number(latest.tree_size), latest.note, timeoutMs);
        } catch (error) {
          results[w.key.name] = 'failed';
          this.#onError(error, w.key.name);
        }
      }),
    );
    return results;
  }

  async #state(name: string): Promise<{ size: number; problem: string | null } | null> {
    const row = await this.#db
      .selectFrom('audit_witness_state')
      .select(['tree_size', 'problem'])
      .where('witness', '=', name)
      .executeTakeFirst();
    return row === undefined ? null : { size: Number(row.tree_size), problem: row.problem };
  }

  async #saveState(name: string, size: number, problem: string | null): Promise<void> {
    const updated_at = this.#now();
    await this.#db
      .insertInto('audit_witness_state')
      .values({ witness: name, tree_size: size, problem, updated_at })
      .onConflict((oc) => oc.column('witness').doUpdateSet({ tree_size: size, problem, updated_at }))
      .execute();
  }

  async #problem(w: WitnessEndpoint, size: number, problem: string): Promise<Outcome> {
    await this.#saveState(w.key.name, size, problem);
    this.#onProblem(problem, w.key.name);
    return 'problem';
  }

  async #bring(w: WitnessEndpoint, size: number, note: string, timeoutMs: number): Promise<Outcome> {
    const name = w.key.name;
    const state = await this.#state(name);
    if (state?.problem != null) return 'problem';
    let old = state?.size ?? 0;
    const { body } = splitSignedNote(note);
    const have = await this.#db
      .selectFrom('audit_cosignatures')
      .select('tree_size')
      .where('tree_size', '=', size)
      .where('witness', '=', name)
      .executeTakeFirst();
    if (have !== undefined && old >= size) return 'up-to-date';
    // At most a few rounds: a 409 tells us the size the witness really holds.
    for (let attempt = 0; attempt < 3; attempt++) {
      if (old > size)
        return this.#problem(
          w,
          old,
          `witness ${name} has cosigned this log at size ${old}, but its latest checkpoint is at size ${size}: the log was rolled back`,
        );
      const proof = await consistencyProof(old, size, nodeReader(this.#db));
      const request = `old ${old}\n${proof.map((h) => `${h.toString('base64')}\n`).join('')}\n${note}`;
      const response = await fetch(`${w.url}/add-checkpoint`, {
        method: 'POST',
        headers: { 'content-type': 'text/plain; charset=utf-8' },
        body: request,
        signal: AbortSignal.timeout(timeoutMs),
      });
      const text = await response.text();
      const reason = response.headers.get('x-witness-reason') ?? text.trim().slice(0, 300);
      if (response.status === 200) {
        const cosig = findCosignature(
          body,
          text.split('\n').filter((l) => l !== ''),
          w.key,
        );
        if (cosig === null) throw new CosignatureError(`witness ${name} answered without a cosignature by its key`);
        await this.#db
          .insertInto('audit_cosignatures')
          .values({
            tree_size: size,
            witness: name,
            cosigned_at: cosig.time,
            line: cosig.line,
            received_at: this.#now(),
          })
          .onConflict((oc) => oc.columns(['tree_size', 'witness']).doNothing())
          .execute();
        await this.#saveState(name, size, null);
        return 'cosigned';
      }
      if (response.status === 409) {
        const held = /^(0|[1-9][0-9]*)\n?$/.exec(text);
        if (held === null) throw new Error(`witness ${name}: 409 without a size (${reason})`);
        const heldSize = Number(held[1]);
        if (heldSize === old)
          return this.#problem(w, old, `witness ${name} refused the checkpoint at size ${size}: ${reason} (a fork)`);
        old = heldSize;
        continue;
      }
      if (response.status === 422)
        return this.#problem(
          w,
          old,
          `witness ${name} refused the checkpoint at size ${size} as inconsistent with the one it cosigned at size ${old}: the log forked (${reason})`,
        );
      throw new Error(`witness ${name} answered ${response.status}: ${reason}`);
    }
    throw new Error(`witness ${name} kept changing its size`);
  }
}
