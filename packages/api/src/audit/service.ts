/**
 * The audit service as the server builds it: the append-only log, its checkpointer (with the
 * Ed25519 key from AUDIT_KEY_FILE, outside the database) and full-log verification.
 *
 * No unsigned tail: `close()` signs the head, and every signed note is copied to
 * `<AUDIT_KEY_FILE>.checkpoint`. At `start()` the database is held against that copy; a log
 * truncated or rewritten while the server was down is reported loudly and never signed.
 */
import type { Database, Db, Transaction } from '@gatehouse/db';
import type { Clock } from '../clock.js';
import type { ApiConfig } from '../config.js';
import { silentLogger, type Logger } from '../logger.js';
import { generateKeyPairSync } from 'node:crypto';
import { defaultOrigin, loadOrCreateSigningKey, type Signer } from './checkpoint.js';
import { AuditCheckpointer } from './checkpointer.js';
import {
  formatKeyHistory,
  KeyHistoryError,
  readKeyHistory,
  writeFileAtomic,
  type CheckpointKeys,
  type RetiredKey,
} from './key-history.js';
import { AuditLog } from './log.js';
import type { AuditEvent, AuditEventInput, AuditVerifyResult } from './types.js';
import { verifyAuditLog } from './verify.js';
// #19 audit witnesses
import { parsePolicy, parseWitnesses, WitnessClient, type WitnessPolicy } from './witness/client.js';
import { witnessReport } from './witness/report.js';

/**
 * The audit log as every other service uses it: append inside the caller's transaction, so the
 * event commits or rolls back with the change it records. AuditService below implements
 * this and more (verify, proofs, checkpoints) for the audit router.
 */
export interface AuditAppender {
  append(trx: Transaction<Database>, event: AuditEventInput): Promise<AuditEvent>;
}

export interface AuditServiceOptions {
  db: Db;
  clock: Clock;
  config: Pick<ApiConfig, 'publicOrigin' | 'auditKeyFile'> &
    Partial<Pick<ApiConfig, 'auditWitnesses' | 'auditWitnessPolicy'>>;
  /** Checkpoint origin line; defaults to `gatehouse/<PUBLIC_ORIGIN host>` (architecture §8). */
  origin?: string;
  /** A ready signer (tests); otherwise the key file is loaded, or created with mode 0600. */
  signer?: Signer;
  checkpointEveryEvents?: number;
  checkpointEveryMs?: number;
  /** How often a live `audit.events` subscriber's session is re-validated (default 5 s). */
  feedRevalidateMs?: number;
  onError?: (error: unknown) => void;
  /**
   * Where the latest signed checkpoint is kept outside the database. Defaults to
   * `<AUDIT_KEY_FILE>.checkpoint` when the key comes from that file, else none.
   */
  outsideFile?: string | null;
  /**
   * Retired keys; defaults to `<AUDIT_KEY_FILE>.history` when the key comes from that file, else
   * none.
   */
  keyHistory?: readonly RetiredKey[];
  logger?: Logger;
}

export class AuditService implements AuditAppender {
  readonly log: AuditLog;
  readonly checkpointer: AuditCheckpointer;
  readonly signer: Signer;
  /** The signing key and the retired ones: what checkpoints are verified with. */
  readonly keys: CheckpointKeys;
  /** How often live subscribers' sessions are re-checked (tests shorten it). */
  feedRevalidateMs: number;
  readonly #db: Db;
  readonly #logger: Logger;
  /** The key file, when the key came from one (rotation replaces it). */
  readonly #keyFile: string | null;
  #verifying: Promise<AuditVerifyResult> | null = null;
  /** #19: sends checkpoints to AUDIT_WITNESSES; null when none are configured. */
  readonly witnesses: WitnessClient | null;
  readonly witnessPolicy: WitnessPolicy;
  #started: Promise<void> = Promise.resolve();

  constructor(options: AuditServiceOptions) {
    this.#db = options.db;
    this.feedRevalidateMs = options.feedRevalidateMs ?? 5000;
    this.#logger = options.logger ?? silentLogger;
    const now = () => options.clock.now();
    this.signer =
      options.signer ??
      loadOrCreateSigningKey(options.config.auditKeyFile, options.origin ?? defaultOrigin(options.config.publicOrigin));
    this.#keyFile = options.signer === undefined ? options.config.auditKeyFile : null;
    const history = options.keyHistory ?? (this.#keyFile === null ? [] : readKeyHistory(`${this.#keyFile}.history`));
    this.keys = { current: this.signer, history };
    this.log = new AuditLog({ db: options.db, now });
    this.checkpointer = new AuditCheckpointer({
      log: this.log,
      signer: this.signer,
      now,
      ...(options.checkpointEveryEvents !== undefined ? { everyEvents: options.checkpointEveryEvents } : {}),
      ...(options.checkpointEveryMs !== undefined ? { everyMs: options.checkpointEveryMs } : {}),
      ...(options.onError !== undefined ? { onError: options.onError } : {}),
      outsideFile:
        options.outsideFile !== undefined
          ? options.outsideFile
          : options.signer === undefined
            ? `${options.config.auditKeyFile}.checkpoint`
            : null,
      history,
    });
    // #19 audit witnesses
    const endpoints = parseWitnesses(options.config.auditWitnesses ?? '');
    this.witnessPolicy = parsePolicy(
      options.config.auditWitnessPolicy,
      endpoints.map((w) => w.key),
    );
    this.witnesses =
      endpoints.length === 0
        ? null
        : new WitnessClient({
            db: options.db.kysely,
            witnesses: endpoints,
            now,
            onError: (error, witness) =>
              this.#logger.warn(
                { err: error, component: 'audit', witness },
                'audit witness unreachable; retrying later',
              ),
            onProblem: (problem, witness) =>
              this.#logger.error(
                { component: 'audit', witness },
                `AUDIT LOG FORK OR ROLLBACK SHOWN TO A WITNESS: ${problem}`,
              ),
          });
  }

  append(trx: Transaction<Database>, event: AuditEventInput): Promise<AuditEvent> {
    return this.log.append(trx, event);
  }

  /** Full verification; concurrent callers share the run in progress (it costs seconds at 1M). */
  verify(): Promise<AuditVerifyResult> {
    this.#verifying ??= this.checkpointer
      .readOutside()
      .then((outside) => verifyAuditLog(this.#db, this.keys, outside))
      .then((result) => this.#withWitnesses(result))
      .finally(() => {
        this.#verifying = null;
      });
    return this.#verifying;
  }

  /** #19: adds the witness report; a fork, rollback or bad cosignature makes the result fail. */
  async #withWitnesses(result: AuditVerifyResult): Promise<AuditVerifyResult> {
    if (this.witnesses === null) return result;
    const report = await witnessReport(
      this.#db.kysely,
      this.witnesses.witnesses.map((w) => w.key),
      this.witnessPolicy,
    );
    const problem = report.problems[0];
    if (result.ok && problem !== undefined) return { ...result, ok: false, reason: problem, witnesses: report };
    return { ...result, witnesses: report };
  }

  /**
   * Holds the database against the checkpoint kept outside it; on a mismatch logs an error and
   * refuses to sign from then on. Returns the problem or null (start() runs it).
   */
  async checkOutside(): Promise<string | null> {
    const problem = await this.checkpointer.checkOutside();
    if (problem !== null) {
      this.#logger.error(
        { component: 'audit', file: this.checkpointer.outsideFile },
        `AUDIT LOG TAMPERED WHILE STOPPED: ${problem}. No checkpoint will be signed; run \`gatehouse audit verify\` and restore the database from a backup`,
      );
    }
    return problem;
  }

  /**
   * Starts background checkpointing (the server does; tests call `checkpointer.tick()`), after
   * checking the database against the checkpoint kept outside it.
   */
  start(intervalMs = 1000): void {
    this.#started = this.checkOutside()
      .catch((error: unknown) => {
        this.#logger.error({ err: error, component: 'audit' }, 'audit start-up check failed');
        return null;
      })
      .then(() => {
        this.checkpointer.start(intervalMs);
        this.witnesses?.start(Math.max(intervalMs, 1000));
      });
  }

  /**
   * `gatehouse audit rotate-key`: signs the head with the current key, retires it into the key
   * history with the range of tree sizes it signed, and writes a new key in its place (both files
   * written atomically, mode 0600). This instance keeps the old key in memory: close it, and
   * restart every server sharing the key file (run it while they are stopped).
   */
  async rotateKey(): Promise<{ retired: RetiredKey; publicKey: string }> {
    if (this.#keyFile === null) throw new KeyHistoryError('the signing key was not loaded from AUDIT_KEY_FILE');
    await this.checkpointer.tick(true); // refuses when the log is not sound
    const head = await this.checkpointer.latest();
    const retired: RetiredKey = { verifier: this.signer, from: this.keys.history.at(-1)?.to ?? 0, to: head.treeSize };
    writeFileAtomic(`${this.#keyFile}.history`, formatKeyHistory([...this.keys.history, retired]));
    const { privateKey } = generateKeyPairSync('ed25519');
    writeFileAtomic(this.#keyFile, privateKey.export({ format: 'pem', type: 'pkcs8' }).toString());
    const next = loadOrCreateSigningKey(this.#keyFile, this.signer.name);
    return { retired, publicKey: next.text };
  }

  /** Stops checkpointing and signs the head, so a graceful shutdown leaves no unsigned events. */
  async close(): Promise<void> {
    await this.#started;
    await this.checkpointer.stop();
    try {
      await this.checkpointer.tick(true);
    } catch (error) {
      this.#logger.error({ err: error, component: 'audit' }, 'audit checkpoint at shutdown failed');
    }
    // #19: hand the final checkpoint to the witnesses (best effort; they are asked again at start).
    await this.witnesses?.stop();
    await this.witnesses?.sync(2000).catch(() => {});
  }
}
