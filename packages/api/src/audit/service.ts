/**
 * The audit service as the server builds it: the append-only log, its checkpointer (with the
 * Ed25519 key from AUDIT_KEY_FILE, outside the database) and full-log verification.
 */
import type { Database, Db, Transaction } from '@gatehouse/db';
import type { Clock } from '../clock.js';
import type { ApiConfig } from '../config.js';
import { defaultOrigin, loadOrCreateSigningKey, type Signer } from './checkpoint.js';
import { AuditCheckpointer } from './checkpointer.js';
import { AuditLog } from './log.js';
import type { AuditEvent, AuditEventInput, AuditVerifyResult } from './types.js';
import { verifyAuditLog } from './verify.js';

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
  config: Pick<ApiConfig, 'publicOrigin' | 'auditKeyFile'>;
  /** Checkpoint origin line; defaults to `gatehouse/<PUBLIC_ORIGIN host>` (architecture §8). */
  origin?: string;
  /** A ready signer (tests); otherwise the key file is loaded, or created with mode 0600. */
  signer?: Signer;
  checkpointEveryEvents?: number;
  checkpointEveryMs?: number;
  /** How often a live `audit.events` subscriber's session is re-validated (default 5 s). */
  feedRevalidateMs?: number;
  onError?: (error: unknown) => void;
}

export class AuditService implements AuditAppender {
  readonly log: AuditLog;
  readonly checkpointer: AuditCheckpointer;
  readonly signer: Signer;
  /** How often live subscribers' sessions are re-checked (tests shorten it). */
  feedRevalidateMs: number;
  readonly #db: Db;
  #verifying: Promise<AuditVerifyResult> | null = null;

  constructor(options: AuditServiceOptions) {
    this.#db = options.db;
    this.feedRevalidateMs = options.feedRevalidateMs ?? 5000;
    const now = () => options.clock.now();
    this.signer =
      options.signer ??
      loadOrCreateSigningKey(options.config.auditKeyFile, options.origin ?? defaultOrigin(options.config.publicOrigin));
    this.log = new AuditLog({ db: options.db, now });
    this.checkpointer = new AuditCheckpointer({
      log: this.log,
      signer: this.signer,
      now,
      ...(options.checkpointEveryEvents !== undefined ? { everyEvents: options.checkpointEveryEvents } : {}),
      ...(options.checkpointEveryMs !== undefined ? { everyMs: options.checkpointEveryMs } : {}),
      ...(options.onError !== undefined ? { onError: options.onError } : {}),
    });
  }

  append(trx: Transaction<Database>, event: AuditEventInput): Promise<AuditEvent> {
    return this.log.append(trx, event);
  }

  /** Full verification; concurrent callers share the run in progress (it costs seconds at 1M). */
  verify(): Promise<AuditVerifyResult> {
    this.#verifying ??= verifyAuditLog(this.#db, this.signer).finally(() => {
      this.#verifying = null;
    });
    return this.#verifying;
  }

  /** Starts background checkpointing (the server does; tests call `checkpointer.tick()`). */
  start(intervalMs = 1000): void {
    this.checkpointer.start(intervalMs);
  }

  async close(): Promise<void> {
    await this.checkpointer.stop();
  }
}
