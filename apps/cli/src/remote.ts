/**
 * Commands that call a running server through the typed client (GATEHOUSE_URL + GATEHOUSE_TOKEN,
 * an admin's session token).
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { OfflineVerifyResult } from '@gatehouse/api';
import {
  createGatehouseClient,
  isGatehouseError,
  type AuditEvent,
  type GatehouseClient,
  type RouterInputs,
  type RouterOutputs,
  type Session,
  type User,
} from '@gatehouse/client';
import { EventSource } from 'eventsource';
import { CliError, note, UsageError, type CliIO } from './io.js';

export function remoteClient(io: CliIO, url?: string): GatehouseClient {
  const base = url || io.env.GATEHOUSE_URL;
  if (!base) throw new UsageError('set GATEHOUSE_URL to the server (e.g. http://localhost:3000), or pass --url');
  try {
    new URL(base);
  } catch {
    throw new UsageError(`GATEHOUSE_URL "${base}" is not a URL`);
  }
  const token = io.env.GATEHOUSE_TOKEN;
  if (!token) throw new UsageError('set GATEHOUSE_TOKEN to an admin session token or an API key (gh_…)');
  return createGatehouseClient({
    url: base,
    token,
    headers: { 'user-agent': 'gatehouse-cli' },
    eventSource: EventSource,
  });
}

/**
 * A user by id, email or username: one exact look-up on the server (`user.byIdentifier`, the
 * same identifier rule as sign-in), never a search.
 */
export async function findUser(gh: GatehouseClient, identifier: string): Promise<User> {
  try {
    return await gh.user.byIdentifier.query({ identifier });
  } catch (error) {
    if (isGatehouseError(error, 'NOT_FOUND')) throw new CliError(`no user ${identifier}`);
    throw error;
  }
}

export type UserListFilter = Omit<NonNullable<RouterInputs['user']['list']>, 'cursor'>;

/** One page, or with `all` every page (following nextCursor). */
export async function listUsers(
  io: CliIO,
  gh: GatehouseClient,
  filter: UserListFilter,
  all: boolean,
): Promise<RouterOutputs['user']['list']> {
  let page = await gh.user.list.query(filter);
  if (!all) return page;
  const items = [...page.items];
  while (page.nextCursor) {
    note(io, `fetched ${items.length}/${page.total} users`);
    page = await gh.user.list.query({ ...filter, cursor: page.nextCursor });
    items.push(...page.items);
  }
  return { items, nextCursor: null, total: page.total };
}

export async function listSessions(gh: GatehouseClient, user: string | undefined): Promise<Session[]> {
  if (!user) return gh.session.list.query();
  const target = await findUser(gh, user);
  return gh.session.listForUser.query({ userId: target.id });
}

export interface ExportResult {
  dir: string;
  events: number;
  treeSize: number;
  rootHash: string;
  origin: string;
  publicKey: string;
}

/**
 * Writes every event (JSON Lines, ascending seq) and the latest signed checkpoint into `dir`,
 * reporting progress on stderr. Events appended after the checkpoint are included; the offline
 * verifier checks them for well-formedness and reports them as not yet covered by a signature.
 */
export async function exportAudit(io: CliIO, gh: GatehouseClient, dir: string): Promise<ExportResult> {
  const checkpoint = await gh.audit.checkpoint.query();
  note(io, `checkpoint: ${checkpoint.treeSize} events signed by ${checkpoint.origin}`);
  const events: AuditEvent[] = [];
  let cursor: string | null = null;
  let lastReport = 0;
  do {
    const page: RouterOutputs['audit']['list'] = await gh.audit.list.query({ limit: 200, cursor });
    events.push(...page.items);
    cursor = page.nextCursor;
    if (events.length - lastReport >= 1000 || cursor === null) {
      lastReport = events.length;
      const total = Math.max(checkpoint.treeSize, events[0]?.seq ?? 0);
      note(
        io,
        `fetched ${events.length}/${total} events (${total === 0 ? 100 : Math.floor((events.length / total) * 100)}%)`,
      );
    }
  } while (cursor !== null);
  events.sort((a, b) => a.seq - b.seq);
  events.forEach((event, i) => {
    if (event.seq !== i + 1) throw new CliError(`the server returned a gap in the log at seq ${i + 1}`);
  });
  if (events.length < checkpoint.treeSize) {
    throw new CliError(`the checkpoint covers ${checkpoint.treeSize} events but the server listed ${events.length}`);
  }
  // Loaded on use: the API package is large, and most commands need none of it.
  const { writeAuditExport } = await import('@gatehouse/api');
  const written = await writeAuditExport(dir, events, checkpoint.note);
  note(io, `wrote ${written.events} events and the checkpoint to ${dir}`);
  return {
    dir,
    events: written.events,
    treeSize: checkpoint.treeSize,
    rootHash: checkpoint.rootHash,
    origin: checkpoint.origin,
    publicKey: checkpoint.publicKey,
  };
}

/** `keyHistory`: a key history file (`<AUDIT_KEY_FILE>.history`) for checkpoints by retired keys. */
export async function verifyOffline(
  dir: string,
  publicKey: string,
  keyHistory?: string,
  // #19: witness keys and policy; a tile export (`export --tiles`) is read from its tiles
  witnesses: { keys: string[]; policy?: string } | null = null,
): Promise<OfflineVerifyResult & { cosignatures?: { policy: string; cosignedBy: string[] } | null }> {
  const { verifyAuditExport, verifyTileExport, checkCosignatures } = await import('@gatehouse/api');
  const history = keyHistory === undefined ? '' : await readFile(keyHistory, 'utf8');
  if (existsSync(join(dir, 'tile')) && existsSync(join(dir, 'checkpoint')))
    return verifyTileExport(dir, publicKey, history, witnesses);
  const result = await verifyAuditExport(dir, publicKey, history);
  if (!result.ok || witnesses === null || witnesses.keys.length === 0) return result;
  const check = checkCosignatures(await readFile(join(dir, 'checkpoint.txt'), 'utf8'), witnesses);
  return check.problem === null
    ? { ...result, cosignatures: check }
    : { ...result, ok: false, reason: check.problem, cosignatures: check };
}

/**
 * Follows the live audit stream, handing each event to `onEvent`, until `count` events arrived
 * or `signal` aborts (resolves) or the stream fails (rejects).
 */
export function tailAudit(
  gh: GatehouseClient,
  options: { afterSeq?: number | undefined; count?: number | undefined; signal: AbortSignal },
  onEvent: (event: AuditEvent) => void,
): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    let received = 0;
    const subscription = gh.audit.events.subscribe(
      options.afterSeq === undefined ? undefined : { afterSeq: options.afterSeq },
      {
        onData: (event) => {
          received += 1;
          onEvent(event);
          if (options.count !== undefined && received >= options.count) finish();
        },
        onError: (error) => {
          subscription.unsubscribe();
          reject(error);
        },
        onComplete: () => finish(),
      },
    );
    const finish = () => {
      subscription.unsubscribe();
      options.signal.removeEventListener('abort', finish);
      resolve(received);
    };
    options.signal.addEventListener('abort', finish, { once: true });
  });
}

// #19 audit tiles
/**
 * `gatehouse audit export --tiles <dir>`: copies the server's /audit/tlog/ (C2SP tlog-tiles:
 * checkpoint, every hash tile and entry bundle of its size) into static files. GATEHOUSE_TOKEN
 * is sent when set (needed unless the server has AUDIT_PUBLIC_TILES=true).
 */
export async function exportTiles(
  io: CliIO,
  dir: string,
  url?: string,
): Promise<{ treeSize: number; tiles: number; bundles: number }> {
  const base = url || io.env.GATEHOUSE_URL;
  if (!base) throw new UsageError('set GATEHOUSE_URL to the server (e.g. http://localhost:3000), or pass --url');
  const root = new URL('/audit/tlog/', base);
  const token = io.env.GATEHOUSE_TOKEN;
  const headers: Record<string, string> = {
    'user-agent': 'gatehouse-cli',
    ...(token ? { authorization: `Bearer ${token}` } : {}),
  };
  const get = async (path: string): Promise<Buffer> => {
    const res = await fetch(new URL(path, root), { headers });
    if (res.status === 401) throw new CliError('the server wants an admin session for its tiles: set GATEHOUSE_TOKEN');
    if (!res.ok) throw new CliError(`${path}: the server answered ${res.status}`);
    return Buffer.from(await res.arrayBuffer());
  };
  const api = await import('@gatehouse/api');
  const put = async (path: string, bytes: Buffer): Promise<void> => {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), bytes);
  };
  const checkpoint = await get('checkpoint');
  const size = Number(checkpoint.toString('utf8').split('\n')[1]);
  if (!Number.isSafeInteger(size)) throw new CliError('the server sent a malformed checkpoint');
  let tiles = 0;
  let bundles = 0;
  for (const t of api.tilesFor(size)) {
    const path = api.tilePath(t.level, t.index, t.width);
    await put(path, await get(path));
    tiles += 1;
    if (t.level === 0) {
      const entries = api.tilePath('entries', t.index, t.width);
      await put(entries, await get(entries));
      bundles += 1;
    }
  }
  await put('checkpoint', checkpoint);
  note(io, `wrote ${tiles} tiles and ${bundles} entry bundles for tree size ${size} to ${dir}`);
  return { treeSize: size, tiles, bundles };
}
