/**
 * Signs checkpoints of the committed tree: one at every multiple of `everyEvents` (100), and one
 * at the head when events were added since the last checkpoint and that one is older than
 * `everyMs` (a minute), so no event waits much more than a minute for a signature. Each new
 * head is first checked consistent with the previous checkpoint (RFC 9162 consistency proof over
 * the stored nodes) and its root recomputed from storage; a mismatch is never signed.
 *
 * It reads outside any transaction, so it only ever sees (and signs) committed events.
 *
 * Each note also lists digests of the leaves it adds (`leaves` extension, see leaf-digests.ts),
 * so verification can name the first changed event, and the latest note is copied to a file
 * outside the database (`outsideFile`, next to the key). A database whose tree is not consistent
 * with that copy (truncated or rewritten while the server was down) is never signed again: every
 * round refuses until an operator looks.
 */
import { randomBytes } from 'node:crypto';
import { readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { signCheckpoint, verifyCheckpointNote, type Checkpoint, type Signer } from './checkpoint.js';
import { keyFor, type RetiredKey } from './key-history.js';
import { leavesExtension, MAX_DIGESTS } from './leaf-digests.js';
import type { AuditLog } from './log.js';
import { consistencyProof, EMPTY_ROOT, hashesEqual, rootAt, toHex, verifyConsistency } from './merkle.js';
import { nodeReader, readHead } from './store.js';
import type { AuditCheckpointInfo } from './types.js';
import { cosignedNote } from './witness/report.js';

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
  /** Where the latest signed note is kept outside the database (null: nowhere). */
  outsideFile?: string | null;
  /** Retired keys (the outside copy may be signed by the one retired last). */
  history?: readonly RetiredKey[];
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
  readonly #outsideFile: string | null;
  readonly #history: readonly RetiredKey[];
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<void> | null = null;
  /** Why signing is refused for good (the database disagrees with the copy outside it). */
  #refused: string | null = null;

  constructor(options: CheckpointerOptions) {
    this.#log = options.log;
    this.#signer = options.signer;
    this.#everyEvents = options.everyEvents ?? 100;
    this.#everyMs = options.everyMs ?? 60_000;
    this.#now = options.now ?? (() => new Date());
    this.#onError = options.onError ?? (() => {});
    this.#outsideFile = options.outsideFile ?? null;
    this.#history = options.history ?? [];
  }

  get outsideFile(): string | null {
    return this.#outsideFile;
  }

  /** The signed note kept outside the database, or null when there is none (yet). */
  async readOutside(): Promise<string | null> {
    if (this.#outsideFile === null) return null;
    try {
      return await readFile(this.#outsideFile, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
  }

  /**
   * Checks the stored tree against the checkpoint kept outside the database: its size must not
   * exceed the head, and the tree must be consistent with its root. Returns the problem (and
   * refuses all signing from then on), or null. The server runs this at start.
   */
  async checkOutside(): Promise<string | null> {
    if (this.#refused !== null) return this.#refused;
    const note = await this.readOutside();
    if (note === null) return null;
    const file = this.#outsideFile as string;
    let outside: Checkpoint;
    try {
      outside = verifyCheckpointNote(note, keyFor(note, { current: this.#signer, history: this.#history }));
    } catch (error) {
      return this.#refuse(
        `the checkpoint kept outside the database (${file}) does not verify: ${(error as Error).message}`,
      );
    }
    const db = this.#log.kysely;
    const head = await readHead(db);
    if (head.size < outside.treeSize) {
      return this.#refuse(
        `the log has ${head.size} events but the checkpoint kept outside the database (${file}) covers ${outside.treeSize}: it was truncated`,
      );
    }
    const read = nodeReader(db);
    try {
      const root = head.size === 0 ? EMPTY_ROOT : await rootAt(head.size, read);
      const proof = await consistencyProof(outside.treeSize, head.size, read);
      if (hashesEqual(root, head.root) && verifyConsistency(outside.treeSize, head.size, outside.rootHash, root, proof))
        return null;
    } catch {
      // A missing or corrupt node is an inconsistency like any other.
    }
    return this.#refuse(
      `the stored tree is not consistent with the checkpoint at size ${outside.treeSize} kept outside the database (${file}): it was rewritten`,
    );
  }

  #refuse(reason: string): string {
    this.#refused = reason;
    return reason;
  }

  /** Replaces the outside copy atomically (write, then rename; mode 0600), never with an older one. */
  async #keepOutside(size: number, note: string): Promise<void> {
    if (this.#outsideFile === null) return;
    const current = await this.readOutside().catch(() => null);
    const currentSize = current === null ? -1 : Number(current.split('\n', 2)[1]);
    if (currentSize > size) return;
    const tmp = `${this.#outsideFile}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      await writeFile(tmp, note, { mode: 0o600, flag: 'wx' });
      await rename(tmp, this.#outsideFile);
    } catch (error) {
      await unlink(tmp).catch(() => {});
      throw error;
    }
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
    if (this.#refused !== null) throw new CheckpointConsistencyError(`${this.#refused}: refusing to sign`);
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

    if (due.length === 0) return;
    const outsideProblem = await this.checkOutside();
    if (outsideProblem !== null) throw new CheckpointConsistencyError(`${outsideProblem}: refusing to sign`);

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
      const leaves = await this.#leafHashes(Math.max(prevSize, size - MAX_DIGESTS), size);
      const note = signCheckpoint(
        {
          origin: this.#signer.name,
          treeSize: size,
          rootHash: root,
          ...(size > prevSize ? { extensions: [leavesExtension(size - leaves.length, leaves)] } : {}),
        },
        this.#signer,
      );
      await db
        .insertInto('audit_checkpoints')
        .values({ tree_size: size, root_hash: root, origin: this.#signer.name, note, signed_at: signedAt })
        // Another instance may have signed this size first; its checkpoint stands.
        .onConflict((oc) => oc.column('tree_size').doNothing())
        .execute();
      await this.#keepOutside(size, note);
      last = { size, root, signedAt };
    }
  }

  /** Stored leaf hashes of the events from < seq ≤ to (what the root just checked was built from). */
  async #leafHashes(from: number, to: number): Promise<Uint8Array[]> {
    const rows = await this.#log.kysely
      .selectFrom('audit_events')
      .select(['seq', 'leaf_hash'])
      .where('seq', '>', from)
      .where('seq', '<=', to)
      .orderBy('seq')
      .execute();
    if (rows.length !== to - from || rows.some((r, i) => Number(r.seq) !== from + i + 1))
      throw new CheckpointConsistencyError(`events ${from + 1}..${to} are not all stored: refusing to sign`);
    return rows.map((r) => r.leaf_hash);
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
      // #19: with the witnesses' cosignatures appended (C2SP signed-note allows other keys' lines)
      note: await cosignedNote(this.#log.kysely, Number(row.tree_size), row.note),
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
