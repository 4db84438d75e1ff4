/**
 * Signs checkpoints of the committed tree: one at every multiple of `everyEvents` (100), and one
 * at the head when events were added since the last checkpoint and that one is older than
 * `everyMs` (a minute), so no event waits much more than a minute for a signature. Each new
 * head is first checked consistent with the previous checkpoint (RFC 9162 consistency proof over
 * the stored nodes) and its root recomputed from storage; a mismatch is never signed.
 *
 * It reads outside any transaction, so it only ever sees (and signs) committed events.
 */
import { signCheckpoint, type Signer } from './checkpoint.js';
import type { AuditLog } from './log.js';
import { consistencyProof, EMPTY_ROOT, hashesEqual, rootAt, toHex, verifyConsistency } from './merkle.js';
import { nodeReader, readHead } from './store.js';
import type { AuditCheckpointInfo } from './types.js';

export class CheckpointConsistencyError extends Error {
  override name = 'CheckpointConsistencyError';
}

interface CheckpointerOptions {
  log: AuditLog;
  signer: Signer;
  everyEvents?: number;
  everyMs?: number;
  now?: () => Date;
  /** Called when a background tick fails (e.g. the database is down or the tree is corrupt). */
  onError?: (error: unknown) => void;
}

interface StoredCheckpoint {
  size: number;
  root: Buffer;
  signedAt: Date;
}

export class AuditCheckpointer {
  readonly #log: AuditLog;
  readonly #signer: Signer;
  readonly #everyEvents: number;
  readonly #everyMs: number;
  readonly #now: () => Date;
  readonly #onError: (error: unknown) => void;
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<void> | null = null;

  constructor(options: CheckpointerOptions) {
    this.#log = options.log;
    this.#signer = options.signer;
    this.#everyEvents = options.everyEvents ?? 100;
    this.#everyMs = options.everyMs ?? 60_000;
    this.#now = options.now ?? (() => new Date());
    this.#onError = options.onError ?? (() => {});
  }

  get publicKey(): string {
    return this.#signer.text;
  }

  get origin(): string {
    return this.#signer.name;
  }

  /** Ticks every `intervalMs` in the background (unref'd: it never keeps the process alive). */
  start(intervalMs = 1000): void {
    if (this.#timer !== null) return;
    this.#timer = setInterval(() => {
      this.tick().catch(this.#onError);
    }, intervalMs);
    this.#timer.unref();
  }

  /** Stops the timer and waits for a tick in progress. */
  async stop(): Promise<void> {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    await this.#running?.catch(() => {});
  }

  /**
   * One round: signs whatever is due (`force`: also the head, however recent). Rounds of this
   * instance never overlap; another instance signing the same size is harmless (first one wins).
   */
  async tick(force = false): Promise<void> {
    while (this.#running !== null) await this.#running.catch(() => {});
    const round = this.#round(force).finally(() => {
      this.#running = null;
    });
    this.#running = round;
    return round;
  }

  async #round(force: boolean): Promise<void> {
    const db = this.#log.kysely;
    const head = await readHead(db);
    let last = await this.#latestStored();
    const lastSize = last?.size ?? 0;
    if (head.size < lastSize) {
      // Events that were signed for are gone: say so on every round until someone looks.
      throw new CheckpointConsistencyError(
        `the tree head (${head.size}) is behind the checkpoint at ${lastSize}: the log was truncated`,
      );
    }
    const due: number[] = [];
    for (
      let s = (Math.floor(lastSize / this.#everyEvents) + 1) * this.#everyEvents;
      s <= head.size;
      s += this.#everyEvents
    )
      due.push(s);
    const headDue =
      head.size > (due.at(-1) ?? lastSize) &&
      (force || last === null || this.#now().getTime() - last.signedAt.getTime() >= this.#everyMs);
    if (headDue) due.push(head.size);
    if (last === null && head.size === 0 && force) due.push(0);

    const read = nodeReader(db);
    for (const size of due) {
      // The root is always recomputed from stored leaves/nodes, never taken from the head row.
      const root = size === 0 ? EMPTY_ROOT : await rootAt(size, read);
      if (size === head.size && !hashesEqual(root, head.root)) {
        throw new CheckpointConsistencyError(`tree head root does not match the stored tree at size ${size}`);
      }
      const prevSize = last?.size ?? 0;
      const prevRoot = last?.root ?? EMPTY_ROOT;
      const proof = await consistencyProof(prevSize, size, read);
      if (!verifyConsistency(prevSize, size, prevRoot, root, proof)) {
        throw new CheckpointConsistencyError(
          `tree at size ${size} is not consistent with the checkpoint at size ${prevSize}: refusing to sign`,
        );
      }
      const signedAt = this.#now();
      const note = signCheckpoint({ origin: this.#signer.name, treeSize: size, rootHash: root }, this.#signer);
      await db
        .insertInto('audit_checkpoints')
        .values({ tree_size: size, root_hash: root, origin: this.#signer.name, note, signed_at: signedAt })
        // Another instance may have signed this size first; its checkpoint stands.
        .onConflict((oc) => oc.column('tree_size').doNothing())
        .execute();
      last = { size, root, signedAt };
    }
  }

  async #latestStored(): Promise<StoredCheckpoint | null> {
    const row = await this.#log.kysely
      .selectFrom('audit_checkpoints')
      .select(['tree_size', 'root_hash', 'signed_at'])
      .orderBy('tree_size', 'desc')
      .limit(1)
      .executeTakeFirst();
    return row === undefined
      ? null
      : { size: Number(row.tree_size), root: Buffer.from(row.root_hash), signedAt: row.signed_at };
  }

  /** The latest signed checkpoint, signing the current head first if none exists yet. */
  async latest(): Promise<AuditCheckpointInfo> {
    let row = await this.#latestRow();
    if (row === undefined) {
      await this.tick(true);
      row = await this.#latestRow();
    }
    if (row === undefined) throw new Error('no audit checkpoint could be signed');
    return {
      origin: row.origin,
      treeSize: Number(row.tree_size),
      rootHash: toHex(row.root_hash),
      signedAt: row.signed_at,
      note: row.note,
      publicKey: this.#signer.text,
    };
  }

  #latestRow() {
    return this.#log.kysely
      .selectFrom('audit_checkpoints')
      .selectAll()
      .orderBy('tree_size', 'desc')
      .limit(1)
      .executeTakeFirst();
  }
}
