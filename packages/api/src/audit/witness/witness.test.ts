/**
 * Witnesses (C2SP tlog-witness / tlog-cosignature), end to end over real HTTP on loopback.
 * Cosignatures are checked by an independent implementation written here from the C2SP text
 * (node:crypto Ed25519 over SPKI DER; none of the code under test).
 */
import { createHash, createPublicKey, generateKeyPairSync, randomBytes, verify } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql, withTransaction, type Db } from '@gatehouse/db';
import { createMigratedTestDb, testDialects } from '@gatehouse/db/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../clock.js';
import { signCheckpoint, signerFromPrivateKey } from '../checkpoint.js';
import { leafHash } from '../leaf.js';
import { CompactRange } from '../merkle.js';
import { AuditService } from '../service.js';
import { isStoredLevel } from '../store.js';
import { witnessSignerFromKey } from './cosignature.js';
import { createWitnessServer, Witness } from './server.js';
import { checkCosignatures } from '../tiles/offline.js';

// ---- independent C2SP tlog-cosignature verifier ------------------------------------------------
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

function independentVerifyCosignature(body: string, line: string, vkey: string): { time: number } {
  const [name, idHex, keyB64] = [vkey.split('+')[0], vkey.split('+')[1], vkey.split('+').slice(2).join('+')];
  const key = Buffer.from(keyB64, 'base64');
  expect(key[0]).toBe(0x04); // cosignature/v1 signature type
  const raw = key.subarray(1);
  const id = createHash('sha256')
    .update(`${name}\n`)
    .update(Buffer.from([0x04]))
    .update(raw)
    .digest()
    .subarray(0, 4);
  expect(id.toString('hex')).toBe(idHex);
  expect(line.startsWith(`\u2014 ${name} `)).toBe(true);
  const blob = Buffer.from(line.slice(`\u2014 ${name} `.length), 'base64');
  expect(blob.length).toBe(4 + 8 + 64);
  expect(blob.subarray(0, 4).equals(id)).toBe(true);
  const time = Number(blob.readBigUInt64BE(4));
  const msg = Buffer.from(`cosignature/v1\ntime ${time}\n${body}`, 'utf8');
  const pub = createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
  expect(verify(null, msg, pub, blob.subarray(12))).toBe(true);
  return { time };
}

// ---- an informed attacker's tools (DB write access and the signing key) -----------------------
async function rewriteEvent(db: Db, seq: number, data: Record<string, unknown>): Promise<void> {
  await sql`update audit_events set data = ${JSON.stringify(data)} where seq = ${seq}`.execute(db.kysely);
  const row = await db.kysely.selectFrom('audit_events').selectAll().where('seq', '=', seq).executeTakeFirstOrThrow();
  const hash = leafHash({
    seq,
    at: row.at,
    type: row.type,
    actorId: row.actor_id,
    targetId: row.target_id,
    ip: row.ip,
    userAgent: row.user_agent,
    data,
  });
  await sql`update audit_events set leaf_hash = ${hash} where seq = ${seq}`.execute(db.kysely);
}

async function recomputeTreeState(db: Db): Promise<void> {
  const rows = await db.kysely.selectFrom('audit_events').select(['seq', 'leaf_hash']).orderBy('seq').execute();
  const range = CompactRange.empty();
  await sql`delete from audit_nodes`.execute(db.kysely);
  for (const row of rows) {
    const nodes: { level: number; idx: number; hash: Buffer }[] = [];
    range.append(row.leaf_hash, (level, idx, hash) => {
      if (isStoredLevel(level)) nodes.push({ level, idx, hash });
    });
    for (const n of nodes)
      await sql`insert into audit_nodes (level, idx, hash) values (${n.level}, ${n.idx}, ${n.hash})`.execute(db.kysely);
  }
  await sql`update audit_head set tree_size = ${range.size}, frontier = ${range.serialize()}, root_hash = ${range.root()}`.execute(
    db.kysely,
  );
}
// -------------------------------------------------------------------------------------------------

const origin = 'gatehouse/witness.test';
const logSigner = signerFromPrivateKey(origin, generateKeyPairSync('ed25519').privateKey);
const witnessSigner = witnessSignerFromKey('witness.test/w1', generateKeyPairSync('ed25519').privateKey);

async function listen(server: Server): Promise<string> {
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function post(url: string, body: string): Promise<{ status: number; text: string; reason: string | null }> {
  const res = await fetch(`${url}/add-checkpoint`, { method: 'POST', body });
  return { status: res.status, text: await res.text(), reason: res.headers.get('x-witness-reason') };
}

describe.each(testDialects)('audit witnesses on %s', (dialect) => {
  let db: Db;
  let cleanup: () => Promise<void>;
  let clock: ManualClock;
  let dataDir: string;
  let server: Server;
  let url: string;
  let audit: AuditService;

  const service = (policy?: string): AuditService =>
    new AuditService({
      db,
      clock,
      signer: logSigner,
      config: {
        publicOrigin: 'http://witness.test',
        auditKeyFile: '/nonexistent',
        auditWitnesses: `url=${url};key=${witnessSigner.text}`,
        ...(policy !== undefined ? { auditWitnessPolicy: policy } : {}),
      },
    });

  async function append(count: number): Promise<void> {
    for (let i = 0; i < count; i++) {
      clock.advance(1000);
      await withTransaction(db, (trx) => audit.append(trx, { type: 'auth.sign_in', actorId: 'u1', data: { i } }));
    }
  }

  beforeEach(async () => {
    ({ db, cleanup } = await createMigratedTestDb(dialect));
    clock = new ManualClock('2026-12-01T12:00:00.000Z');
    dataDir = mkdtempSync(join(tmpdir(), 'gh-witness-'));
    server = createWitnessServer(new Witness({ signer: witnessSigner, logs: [logSigner], dataDir }));
    url = await listen(server);
    audit = service();
  });
  afterEach(async () => {
    await audit.close();
    server.closeAllConnections();
    await new Promise((ok) => server.close(ok));
    rmSync(dataDir, { recursive: true, force: true });
    await cleanup();
  });

  it('sends each new checkpoint with a consistency proof and stores cosignatures that verify independently', async () => {
    await append(5);
    await audit.checkpointer.tick(true);
    expect(await audit.witnesses?.sync()).toEqual({ [witnessSigner.name]: 'cosigned' });
    await append(12);
    await audit.checkpointer.tick(true);
    expect(await audit.witnesses?.sync()).toEqual({ [witnessSigner.name]: 'cosigned' });
    expect(await audit.witnesses?.sync()).toEqual({ [witnessSigner.name]: 'up-to-date' });

    const rows = await db.kysely.selectFrom('audit_cosignatures').selectAll().orderBy('tree_size').execute();
    expect(rows.map((r) => Number(r.tree_size))).toEqual([5, 17]);
    for (const row of rows) {
      const cp = await db.kysely
        .selectFrom('audit_checkpoints')
        .select('note')
        .where('tree_size', '=', row.tree_size)
        .executeTakeFirstOrThrow();
      const body = cp.note.slice(0, cp.note.lastIndexOf('\n\n') + 1);
      expect(independentVerifyCosignature(body, row.line, witnessSigner.text).time).toBe(Number(row.cosigned_at));
    }
    // audit.checkpoint hands out the note with the cosignature appended: an export carries it.
    const latest = await audit.checkpointer.latest();
    expect(latest.note.trimEnd().split('\n').at(-1)).toBe(rows[1]?.line);
    expect(checkCosignatures(latest.note, { keys: [witnessSigner.text] })).toMatchObject({
      cosignedBy: [witnessSigner.name],
      problem: null,
    });
    const result = await audit.verify();
    expect(result).toMatchObject({ ok: true, treeSize: 17 });
    expect(result.witnesses).toEqual({
      policy: `1 of ${witnessSigner.name}`,
      witnessedSize: 17,
      latestCosignedBy: [witnessSigner.name],
      unwitnessed: [],
      problems: [],
    });
  });

  it('reports checkpoints no witness has seen, and retries a witness that was down', async () => {
    await append(3);
    await audit.checkpointer.tick(true);
    await new Promise((ok) => server.close(ok));
    expect(await audit.witnesses?.sync(1000)).toEqual({ [witnessSigner.name]: 'failed' });
    const before = await audit.verify();
    expect(before.ok).toBe(true); // nothing is wrong with the log; it is just not witnessed yet
    expect(before.witnesses).toMatchObject({ witnessedSize: null, unwitnessed: [3] });

    server = createWitnessServer(new Witness({ signer: witnessSigner, logs: [logSigner], dataDir }));
    await new Promise<void>((ok) => server.listen(Number(new URL(url).port), '127.0.0.1', ok));
    expect(await audit.witnesses?.sync()).toEqual({ [witnessSigner.name]: 'cosigned' });
    expect((await audit.verify()).witnesses).toMatchObject({ witnessedSize: 3, unwitnessed: [] });
  });

  it('runs one round at a time and queues one more, however often it is asked while a witness hangs', async () => {
    await append(3);
    await audit.checkpointer.tick(true);
    await new Promise((ok) => server.close(ok));
    let requests = 0;
    server = createServer(() => requests++); // accepts every request and never answers
    await new Promise<void>((ok) => server.listen(Number(new URL(url).port), '127.0.0.1', ok));
    const client = audit.witnesses!;
    const outcomes = await Promise.all(Array.from({ length: 10 }, () => client.sync(300)));
    // The first call's round, and the one round the nine others joined: not ten queued rounds.
    expect(requests).toBe(2);
    expect(outcomes).toEqual(Array.from({ length: 10 }, () => ({ [witnessSigner.name]: 'failed' })));
  });

  it('the witness refuses a rollback and a fork with the C2SP status codes, and says why', async () => {
    await append(4);
    await audit.checkpointer.tick(true);
    const small = (await audit.checkpointer.latest()).note;
    await append(6);
    await audit.checkpointer.tick(true);
    await audit.witnesses?.sync();
    const stateSize = 10;

    // Rollback: the older checkpoint at size 4, claiming the witness is still at 4.
    const rollback = await post(url, `old 4\n\n${small}`);
    expect(rollback.status).toBe(409);
    expect(rollback.text).toBe(`${stateSize}\n`);
    expect(rollback.reason).toMatch(/rollback refused: this witness cosigned .* at size 10; the checkpoint has size 4/);
    // … or admitting the witness is at 10: the checkpoint is smaller than the old size.
    expect((await post(url, `old 10\n\n${small}`)).status).toBe(400);

    // Fork at the same size: a validly signed checkpoint at 10 with another root.
    const forkSame = signCheckpoint({ origin, treeSize: 10, rootHash: randomBytes(32) }, logSigner);
    const same = await post(url, `old 10\n\n${forkSame}`);
    expect(same.status).toBe(409);
    expect(same.reason).toMatch(/fork refused/);

    // Fork that grows: size 12 with a proof that cannot connect it to the cosigned root.
    const forkGrow = signCheckpoint({ origin, treeSize: 12, rootHash: randomBytes(32) }, logSigner);
    const proof = [randomBytes(32), randomBytes(32)].map((h) => `${h.toString('base64')}\n`).join('');
    const grow = await post(url, `old 10\n${proof}\n${forkGrow}`);
    expect(grow.status).toBe(422);
    expect(grow.text).toMatch(/fork refused: the checkpoint at size 12 is not consistent/);

    // Unknown key and unknown origin.
    const stranger = signerFromPrivateKey(origin, generateKeyPairSync('ed25519').privateKey);
    expect(
      (await post(url, `old 10\n\n${signCheckpoint({ origin, treeSize: 10, rootHash: randomBytes(32) }, stranger)}`))
        .status,
    ).toBe(403);
    const other = signerFromPrivateKey('some/other-log', generateKeyPairSync('ed25519').privateKey);
    expect(
      (
        await post(
          url,
          `old 0\n\n${signCheckpoint({ origin: other.name, treeSize: 1, rootHash: randomBytes(32) }, other)}`,
        )
      ).status,
    ).toBe(404);
    expect((await post(url, 'nonsense')).status).toBe(400);

    // None of that moved the witness: the real log still advances.
    await append(1);
    await audit.checkpointer.tick(true);
    expect(await audit.witnesses?.sync()).toEqual({ [witnessSigner.name]: 'cosigned' });
  });

  it('detects the unsigned-tail rewrite once a witness has seen the earlier checkpoint', async () => {
    await append(5);
    await audit.checkpointer.tick(true);
    await append(3);
    await audit.checkpointer.tick(true); // checkpoint at 8, seen by the witness
    await audit.witnesses?.sync();
    await audit.close();

    // The attacker edits events 6..8, drops the checkpoint at 8 (and what Gatehouse remembers of
    // the witness), so 6..8 look like an unsigned tail, rebuilds the tree and restarts.
    for (const seq of [6, 7, 8]) await rewriteEvent(db, seq, { i: 'forged' });
    await recomputeTreeState(db);
    await sql`delete from audit_checkpoints where tree_size > 5`.execute(db.kysely);
    await sql`delete from audit_cosignatures`.execute(db.kysely);
    await sql`update audit_witness_state set tree_size = 5`.execute(db.kysely);
    audit = service();
    expect((await audit.verify()).ok).toBe(true); // locally the forgery is self-consistent

    await audit.checkpointer.tick(true); // signs the forged head at 8
    expect(await audit.witnesses?.sync()).toEqual({ [witnessSigner.name]: 'problem' });
    const result = await audit.verify();
    expect(result.ok).toBe(false);
    expect(result.reason).toMatch(/witness witness\.test\/w1 refused the checkpoint at size 8: fork refused/);
    expect(result.witnesses?.problems).toHaveLength(1);
  });
});
