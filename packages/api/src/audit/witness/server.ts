/**
 * A C2SP tlog-witness: `POST <prefix>/add-checkpoint`, as run by `gatehouse witness serve`.
 *
 * Request body:  "old <size>\n" ‖ consistency proof (≤ 63 lines of base64 hashes) ‖ "\n" ‖ signed note
 * Responses:     200 the cosignature line(s) · 400 malformed · 403 no valid signature by the log key
 *                404 unknown origin · 409 `old` is not the size last cosigned (body: that size, as
 *                text/x.tlog.size), or same size with another root (a fork) · 422 the consistency
 *                proof does not verify (a fork)
 *
 * It keeps, per log origin, the latest checkpoint it cosigned (a JSON file in its data directory,
 * replaced atomically, written before the cosignature is returned), so a log can never get it to
 * cosign a rollback or a fork. Requests are handled one at a time.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { parseCheckpointBody, verifyCheckpointNote, type Verifier } from '../checkpoint.js';
import { EMPTY_ROOT, hashesEqual, verifyConsistency } from '../merkle.js';
import { cosign, splitSignedNote, type WitnessSigner } from './cosignature.js';

const MAX_BODY = 64 * 1024;
const MAX_PROOF = 63;

export interface WitnessResponse {
  status: number;
  contentType: string;
  body: string;
  /** A sentence for people (also in the X-Witness-Reason header). */
  reason?: string;
}

interface LogState {
  size: number;
  /** base64 root */
  root: string;
  note: string;
}

export interface WitnessOptions {
  signer: WitnessSigner;
  /** The logs it witnesses: their signed-note verifier keys (origin = key name). */
  logs: readonly Verifier[];
  dataDir: string;
  now?: () => Date;
  onEvent?: (event: { origin: string; status: number; message: string }) => void;
}

export class Witness {
  readonly #signer: WitnessSigner;
  readonly #logs: Map<string, Verifier>;
  readonly #file: string;
  readonly #dataDir: string;
  readonly #now: () => Date;
  readonly #onEvent: NonNullable<WitnessOptions['onEvent']>;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(options: WitnessOptions) {
    this.#signer = options.signer;
    this.#logs = new Map(options.logs.map((v) => [v.name, v]));
    this.#dataDir = options.dataDir;
    this.#file = join(options.dataDir, 'witness-state.json');
    this.#now = options.now ?? (() => new Date());
    this.#onEvent = options.onEvent ?? (() => {});
  }

  get verifierKey(): string {
    return this.#signer.text;
  }

  async #read(): Promise<Record<string, LogState>> {
    try {
      return JSON.parse(await readFile(this.#file, 'utf8')) as Record<string, LogState>;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
      throw error;
    }
  }

  async #write(state: Record<string, LogState>): Promise<void> {
    await mkdir(this.#dataDir, { recursive: true, mode: 0o700 });
    const tmp = `${this.#file}.${randomBytes(6).toString('hex')}.tmp`;
    await writeFile(tmp, JSON.stringify(state, null, 2), { mode: 0o600 });
    await rename(tmp, this.#file);
  }

  /** The latest checkpoint cosigned for an origin (size 0 when none). */
  async latest(origin: string): Promise<{ size: number; note: string | null }> {
    const s = (await this.#read())[origin];
    return { size: s?.size ?? 0, note: s?.note ?? null };
  }

  /** Handles one add-checkpoint body; requests are serialized. */
  addCheckpoint(body: string): Promise<WitnessResponse> {
    const run = this.#queue.then(() => this.#add(body));
    this.#queue = run.catch(() => {});
    return run;
  }

  async #add(text: string): Promise<WitnessResponse> {
    const plain = (status: number, reason: string, origin = '?'): WitnessResponse => {
      this.#onEvent({ origin, status, message: reason });
      return { status, contentType: 'text/plain; charset=utf-8', body: `${reason}\n`, reason };
    };
    const blank = text.indexOf('\n\n');
    const firstLine = text.indexOf('\n');
    if (blank < 0 || firstLine < 0)
      return plain(400, 'malformed request: expected "old <size>", the proof, a blank line and the checkpoint');
    const header = text.slice(0, blank).split('\n');
    const oldMatch = /^old (0|[1-9][0-9]*)$/.exec(header[0] ?? '');
    if (oldMatch === null) return plain(400, 'malformed request: the first line must be "old <size>"');
    const old = Number(oldMatch[1]);
    const proofLines = header.slice(1);
    if (!Number.isSafeInteger(old) || proofLines.length > MAX_PROOF)
      return plain(400, 'malformed request: bad old size or proof too long');
    const proof: Buffer[] = [];
    for (const line of proofLines) {
      const h = Buffer.from(line, 'base64');
      if (h.toString('base64') !== line || h.length !== 32)
        return plain(400, 'malformed request: proof lines must be base64 SHA-256 hashes');
      proof.push(h);
    }
    const note = text.slice(blank + 2);
    let origin: string;
    let size: number;
    let root: Buffer;
    let body: string;
    try {
      body = splitSignedNote(note).body;
      const cp = parseCheckpointBody(body);
      ({ origin, treeSize: size, rootHash: root } = cp);
    } catch (error) {
      return plain(400, `malformed checkpoint: ${(error as Error).message}`);
    }
    const log = this.#logs.get(origin);
    if (log === undefined) return plain(404, `unknown log origin ${origin}`, origin);
    try {
      verifyCheckpointNote(note, log);
    } catch {
      return plain(403, `the checkpoint carries no valid signature by ${log.name}'s key`, origin);
    }
    const state = await this.#read();
    const known = state[origin];
    const knownSize = known?.size ?? 0;
    const knownRoot = known === undefined ? EMPTY_ROOT : Buffer.from(known.root, 'base64');
    if (old !== knownSize) {
      const reason =
        size < knownSize
          ? `rollback refused: this witness cosigned ${origin} at size ${knownSize}; the checkpoint has size ${size}`
          : `old size ${old} is not the size this witness last cosigned for ${origin} (${knownSize})`;
      this.#onEvent({ origin, status: 409, message: reason });
      return { status: 409, contentType: 'text/x.tlog.size', body: `${knownSize}\n`, reason };
    }
    if (size < old) return plain(400, `checkpoint size ${size} is smaller than old size ${old}`, origin);
    if (size === old && !hashesEqual(root, knownRoot)) {
      const reason = `fork refused: this witness cosigned ${origin} at size ${size} with another root hash`;
      this.#onEvent({ origin, status: 409, message: reason });
      return { status: 409, contentType: 'text/x.tlog.size', body: `${knownSize}\n`, reason };
    }
    if (!verifyConsistency(old, size, knownRoot, root, proof))
      return plain(
        422,
        `fork refused: the checkpoint at size ${size} is not consistent with the one this witness cosigned at size ${old} (the consistency proof does not verify)`,
        origin,
      );
    if (size > knownSize) {
      state[origin] = { size, root: root.toString('base64'), note };
      await this.#write(state);
    }
    const cosig = cosign(body, Math.floor(this.#now().getTime() / 1000), this.#signer);
    this.#onEvent({ origin, status: 200, message: `cosigned ${origin} at size ${size}` });
    return { status: 200, contentType: 'text/plain; charset=utf-8', body: `${cosig.line}\n` };
  }
}

async function readBody(req: IncomingMessage): Promise<string | null> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of req) {
    length += (chunk as Buffer).length;
    if (length > MAX_BODY) return null;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** An HTTP server for the witness (`POST /add-checkpoint`); listen on it yourself. */
export function createWitnessServer(witness: Witness): Server {
  return createServer((req: IncomingMessage, res: ServerResponse) => {
    const send = (r: WitnessResponse): void => {
      res.statusCode = r.status;
      res.setHeader('content-type', r.contentType);
      if (r.reason !== undefined) res.setHeader('x-witness-reason', r.reason.replace(/[^\x20-\x7e]/g, '?'));
      res.end(r.body);
    };
    const url = new URL(req.url ?? '/', 'http://witness');
    if (url.pathname !== '/add-checkpoint') {
      send({ status: 404, contentType: 'text/plain', body: 'not found\n' });
      return;
    }
    if (req.method !== 'POST') {
      res.setHeader('allow', 'POST');
      send({ status: 405, contentType: 'text/plain', body: 'use POST\n' });
      return;
    }
    readBody(req)
      .then((body) =>
        body === null
          ? send({ status: 413, contentType: 'text/plain', body: 'request too large\n' })
          : witness.addCheckpoint(body).then(send),
      )
      .catch(() => {
        if (!res.headersSent) send({ status: 500, contentType: 'text/plain', body: 'witness storage failed\n' });
      });
  });
}
