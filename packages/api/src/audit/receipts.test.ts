/**
 * Personal receipts (architecture §19): a user's own security history and, per event, a C2SP
 * tlog-proof cosigned by a real witness over loopback HTTP. Each receipt is checked by an
 * INDEPENDENT verifier written here from the C2SP texts (tlog-proof, tlog-checkpoint,
 * signed-note, tlog-cosignature) and RFC 6962, with plain node:crypto — none of the code under
 * test — and by receipt-verify.ts, the module the browser and the CLI run.
 */
import { createHash, createPublicKey, generateKeyPairSync, verify } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql, type Db } from '@gatehouse/db';
import { createMigratedTestDb, testDialects } from '@gatehouse/db/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../clock.js';
import type { Services } from '../services.js';
import { callerFor, createTestServices, createTestUser, trpcError, type TestUser } from '../testing.js';
import { canonicalJson } from './leaf.js';
import { jcs, verifyReceipt } from './receipt-verify.js';
import { witnessSignerFromKey } from './witness/cosignature.js';
import { createWitnessServer, Witness } from './witness/server.js';

// ---- independent verifier: C2SP tlog-proof@v1 + RFC 6962, node:crypto only ---------------------
const SPKI_ED25519 = Buffer.from('302a300506032b6570032100', 'hex');
const sha256 = (...parts: Buffer[]) => createHash('sha256').update(Buffer.concat(parts)).digest();

function ed25519Key(vkey: string, alg: number): { name: string; id: Buffer; raw: Buffer } {
  const [name, idHex, ...rest] = vkey.split('+');
  const key = Buffer.from(rest.join('+'), 'base64');
  if (key[0] !== alg || key.length !== 33) throw new Error('wrong key type');
  const raw = key.subarray(1);
  const id = sha256(Buffer.from(`${name}\n`), Buffer.from([alg]), raw).subarray(0, 4);
  if (id.toString('hex') !== idHex) throw new Error('key id mismatch');
  return { name: name as string, id, raw };
}

const verifyEd25519 = (raw: Buffer, msg: Buffer, sig: Buffer) =>
  verify(null, msg, createPublicKey({ key: Buffer.concat([SPKI_ED25519, raw]), format: 'der', type: 'spki' }), sig);

/** RFC 6962 §2.1.1 root of leaves [0, n) given one leaf and its audit path (recursive definition). */
function rootFromPath(index: number, n: number, leaf: Buffer, path: Buffer[]): Buffer {
  if (n === 1) {
    if (path.length !== 0) throw new Error('proof too long');
    return leaf;
  }
  let k = 1;
  while (k * 2 < n) k *= 2;
  const sibling = path.at(-1);
  if (sibling === undefined) throw new Error('proof too short');
  const rest = path.slice(0, -1);
  return index < k
    ? sha256(Buffer.from([1]), rootFromPath(index, k, leaf, rest), sibling)
    : sha256(Buffer.from([1]), sibling, rootFromPath(index - k, n - k, leaf, rest));
}

function independentlyVerify(
  text: string,
  logKey: string,
  witnessKey: string,
): { event: Record<string, unknown>; treeSize: number; witnessed: boolean } {
  const lines = text.split('\n');
  if (lines[0] !== 'c2sp.org/tlog-proof@v1') throw new Error('bad header');
  if (!lines[1]?.startsWith('extra ')) throw new Error('no extra');
  const leafInput = Buffer.from(lines[1].slice(6), 'base64');
  const index = Number(/^index (\d+)$/.exec(lines[2] ?? '')?.[1]);
  let i = 3;
  const path: Buffer[] = [];
  for (; lines[i] !== ''; i++) path.push(Buffer.from(lines[i] as string, 'base64'));
  const note = lines.slice(i + 1).join('\n');
  const split = note.indexOf('\n\n');
  const body = note.slice(0, split + 1);
  const [origin, size, rootB64] = body.split('\n') as [string, string, string];
  const treeSize = Number(size);
  // The entry: the leaf input is the event's JSON; leaf hash = SHA-256(0x00 ‖ input).
  const event = JSON.parse(leafInput.toString('utf8')) as Record<string, unknown>;
  if (event.seq !== index + 1) throw new Error('seq is not index + 1');
  const root = rootFromPath(index, treeSize, sha256(Buffer.from([0]), leafInput), path);
  if (!root.equals(Buffer.from(rootB64, 'base64'))) throw new Error('inclusion proof does not reach the root');
  const sigs = note.slice(split + 2, -1).split('\n');
  const log = ed25519Key(logKey, 0x01);
  if (origin !== log.name) throw new Error('origin is not the key name');
  const logLine = sigs.find((l) => l.startsWith(`\u2014 ${log.name} `));
  const logBlob = Buffer.from((logLine ?? '').split(' ')[2] ?? '', 'base64');
  if (!logBlob.subarray(0, 4).equals(log.id) || !verifyEd25519(log.raw, Buffer.from(body), logBlob.subarray(4)))
    throw new Error('log signature does not verify');
  const w = ed25519Key(witnessKey, 0x04);
  const wLine = sigs.find((l) => l.startsWith(`\u2014 ${w.name} `));
  let witnessed = false;
  if (wLine !== undefined) {
    const blob = Buffer.from(wLine.split(' ')[2] ?? '', 'base64');
    const time = blob.readBigUInt64BE(4);
    const msg = Buffer.from(`cosignature/v1\ntime ${time}\n${body}`);
    if (!blob.subarray(0, 4).equals(w.id) || !verifyEd25519(w.raw, msg, blob.subarray(12)))
      throw new Error('cosignature does not verify');
    witnessed = true;
  }
  return { event, treeSize, witnessed };
}

// ------------------------------------------------------------------------------------------------

describe('the canonical JSON of receipt-verify.ts', () => {
  it('is the RFC 8785 text leaf.ts hashes', () => {
    for (const value of [
      { b: 1, a: [1, 'x', null, true, { d: 1e21, c: 0.1 }], '\u00e9': 'é', 'e\u0301': '\u2028', '': -0 },
      { seq: 1, data: { nested: { z: 1, y: [] } }, emoji: '😀', big: 123456789012345680000 },
    ])
      expect(jcs(JSON.parse(JSON.stringify(value)))).toBe(canonicalJson(value));
  });
});

describe.each(testDialects)('personal receipts on %s', (dialect) => {
  let db: Db;
  let cleanup: () => Promise<void>;
  let services: Services;
  let server: Server;
  let dataDir: string;
  let witnessKey: string;
  let alice: TestUser;
  let bob: TestUser;
  let admin: TestUser;
  /** The witness's handler; null: requests hang (a witness that is down). */
  let inner: Server | null;
  let witnessRequests: number;
  const clock = new ManualClock('2026-05-01T00:00:00.000Z');

  beforeEach(async () => {
    ({ db, cleanup } = await createMigratedTestDb(dialect));
    // A real witness on loopback; it learns the log's key once the services exist.
    const witnessSigner = witnessSignerFromKey('witness.test', generateKeyPairSync('ed25519').privateKey);
    witnessKey = witnessSigner.text;
    dataDir = mkdtempSync(join(tmpdir(), 'gatehouse-receipts-'));
    inner = null;
    witnessRequests = 0;
    server = createServer((req, res) => {
      witnessRequests++;
      inner?.emit('request', req, res);
    });
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    services = await createTestServices(db, {
      clock,
      config: { auditWitnesses: `url=${url};key=${witnessKey}` },
    });
    inner = createWitnessServer(new Witness({ signer: witnessSigner, logs: [services.audit.signer], dataDir }));
    alice = await createTestUser(services, { name: 'Alice' });
    bob = await createTestUser(services, { name: 'Bob' });
    admin = await createTestUser(services, { role: 'admin', name: 'Admin' });
  });
  afterEach(async () => {
    await services.close();
    server.closeAllConnections();
    await new Promise((ok) => server.close(ok));
    rmSync(dataDir, { recursive: true, force: true });
    await cleanup();
  });

  const anonymous = () => callerFor(services, null, { ip: '203.0.113.9', userAgent: 'attacker' });

  async function story() {
    await anonymous().auth.signIn({ identifier: alice.user.email, password: alice.password }); // alice
    await anonymous().auth.signIn({ identifier: bob.user.email, password: bob.password }); // bob
    await anonymous()
      .auth.signIn({ identifier: alice.user.email, password: 'wrong password!' })
      .catch(() => {}); // against alice
    await callerFor(services, admin.token).user.update({ id: alice.user.id, name: 'Alice A.' }); // admin → alice
    await callerFor(services, admin.token).user.update({ id: bob.user.id, name: 'Bob B.' }); // admin → bob
    await callerFor(services, alice.token).auth.updateProfile({ name: 'Alice Anne' }); // alice herself
  }

  it('lists exactly the caller’s own events, newest first, and nobody else’s', async () => {
    await story();
    const all = (await callerFor(services, admin.token).audit.list({ limit: 200 })).items;
    const expected = all.filter((e) => e.targetId === alice.user.id || (e.actorId === alice.user.id && !e.targetId));
    const history = await callerFor(services, alice.token).audit.myHistory();
    expect(history.items.map((e) => e.seq)).toEqual(expected.map((e) => e.seq));
    expect(history.items.map((e) => e.type)).toEqual([
      'auth.profile_updated',
      'user.updated',
      'auth.sign_in_failed',
      'auth.sign_in',
    ]);
    expect(history.items.map((e) => e.by)).toEqual(['you', 'someone_else', 'nobody', 'you']);
    expect(JSON.stringify(history)).not.toContain(bob.user.id);
    // Paging.
    const first = await callerFor(services, alice.token).audit.myHistory({ limit: 3 });
    expect(first.items).toHaveLength(3);
    const rest = await callerFor(services, alice.token).audit.myHistory({ limit: 3, cursor: first.nextCursor });
    expect(rest.items.map((e) => e.seq)).toEqual([expected.at(-1)?.seq]);
    expect(rest.nextCursor).toBeNull();
    expect(await trpcError(callerFor(services, alice.token).audit.myHistory({ limit: 3, cursor: 'x' }))).toMatchObject({
      code: 'BAD_REQUEST',
    });
    expect(await trpcError(callerFor(services, null).audit.myHistory())).toMatchObject({ code: 'UNAUTHORIZED' });
  });

  it('gives a receipt for one’s own event only: another user’s seq and a nonexistent one answer alike', async () => {
    await story();
    const bobs = (await callerFor(services, bob.token).audit.myHistory()).items;
    const alices = callerFor(services, alice.token);
    const other = await trpcError(alices.audit.myReceipt({ seq: bobs[0]!.seq }));
    const none = await trpcError(alices.audit.myReceipt({ seq: 99_999 }));
    expect(other).toMatchObject({ code: 'NOT_FOUND', reason: 'not_found' });
    expect(none).toMatchObject({ code: 'NOT_FOUND', reason: 'not_found' });
    expect(await trpcError(alices.audit.myReceipt({ seq: 0 }))).toMatchObject({ code: 'BAD_REQUEST' });
  });

  it('proves an event with a cosigned checkpoint that an independent verifier accepts, and a tampered one fails', async () => {
    await story();
    const alices = callerFor(services, alice.token);
    const signIn = (await alices.audit.myHistory()).items.find((e) => e.type === 'auth.sign_in')!;
    // The event is newer than any checkpoint: the log signs its head and shows it to the witness.
    const receipt = await alices.audit.myReceipt({ seq: signIn.seq });
    expect(receipt.checkpoint.treeSize).toBeGreaterThanOrEqual(signIn.seq);
    expect(receipt.witnessKeys).toEqual([witnessKey]);
    expect(receipt.logKey).toBe(services.audit.signer.text);
    expect(receipt.fileName).toBe(`gatehouse-event-${signIn.seq}.tlog-proof`);

    const independent = independentlyVerify(receipt.tlogProof, receipt.logKey, witnessKey);
    expect(independent.witnessed).toBe(true);
    expect(independent.event).toMatchObject({
      seq: signIn.seq,
      type: 'auth.sign_in',
      targetId: alice.user.id,
      actorId: alice.user.id,
    });
    expect(receipt.leaf).toBe(canonicalJson(independent.event));

    const ok = await verifyReceipt(receipt.tlogProof, { logKey: receipt.logKey, witnessKeys: [witnessKey] });
    expect(ok).toMatchObject({ ok: true, seq: signIn.seq, cosignedBy: ['witness.test'], reason: null });
    expect(ok.checks.map((c) => c.step)).toEqual(['event', 'leaf', 'inclusion', 'signature', 'witnesses']);

    // Tampering: the event (its type), a proof hash, the root, a different log key, a witness's line.
    const lines = receipt.tlogProof.split('\n');
    const forged = receipt.leaf.replace('"type":"auth.sign_in"', '"type":"auth.sign_out"');
    const tampered = {
      event: [lines[0], `extra ${Buffer.from(forged).toString('base64')}`, ...lines.slice(2)].join('\n'),
      proof: lines.map((l, i) => (i === 3 ? Buffer.alloc(32, 7).toString('base64') : l)).join('\n'),
      root: receipt.tlogProof.replace(receipt.checkpoint.note.split('\n')[2]!, Buffer.alloc(32, 1).toString('base64')),
    };
    expect(forged).not.toBe(receipt.leaf);
    expect(lines.length).toBeGreaterThan(4); // at least one proof hash
    for (const text of Object.values(tampered)) {
      expect(() => independentlyVerify(text, receipt.logKey, witnessKey)).toThrow();
      expect((await verifyReceipt(text, { logKey: receipt.logKey, witnessKeys: [witnessKey] })).ok).toBe(false);
    }
    const otherLog = generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' }).x as string;
    const raw = Buffer.from(otherLog, 'base64url');
    const name = receipt.checkpoint.origin;
    const id = sha256(Buffer.from(`${name}\n`), Buffer.from([1]), raw)
      .subarray(0, 4)
      .toString('hex');
    const wrongKey = `${name}+${id}+${Buffer.concat([Buffer.from([1]), raw]).toString('base64')}`;
    expect(() => independentlyVerify(receipt.tlogProof, wrongKey, witnessKey)).toThrow();
    const wrong = await verifyReceipt(receipt.tlogProof, { logKey: wrongKey });
    expect(wrong).toMatchObject({ ok: false });
    expect(wrong.checks.at(-1)).toMatchObject({ step: 'signature', ok: false });
    const noWitness = receipt.tlogProof.replace(/\u2014 witness\.test .*\n/, '');
    expect(independentlyVerify(noWitness, receipt.logKey, witnessKey).witnessed).toBe(false);
    expect(await verifyReceipt(noWitness, { logKey: receipt.logKey, witnessKeys: [witnessKey] })).toMatchObject({
      ok: false,
      checks: expect.arrayContaining([expect.objectContaining({ step: 'witnesses', ok: false })]),
    });
  });

  it('brings the witness a checkpoint that was signed without it, so the receipt is still cosigned', async () => {
    await story();
    const alices = callerFor(services, alice.token);
    const [newest] = (await alices.audit.myHistory()).items;
    // Signed by someone else first (the background timer, another instance), not yet witnessed.
    await services.audit.checkpointer.tick(true);
    const before = await services.audit.checkpointer.latest();
    expect(before.treeSize).toBeGreaterThanOrEqual(newest!.seq);
    expect(before.note).not.toContain('\u2014 witness.test ');
    const receipt = await alices.audit.myReceipt({ seq: newest!.seq });
    expect(receipt.checkpoint.treeSize).toBe(before.treeSize);
    expect(independentlyVerify(receipt.tlogProof, receipt.logKey, witnessKey).witnessed).toBe(true);
    expect(await verifyReceipt(receipt.tlogProof, { logKey: receipt.logKey, witnessKeys: [witnessKey] })).toMatchObject(
      {
        ok: true,
        cosignedBy: ['witness.test'],
      },
    );
  });

  it('with its witness down, answers every receipt request within shared rounds, without the cosignature', async () => {
    await story();
    const alices = callerFor(services, alice.token);
    const [newest] = (await alices.audit.myHistory()).items;
    const handler = inner;
    inner = null; // the witness accepts connections and never answers
    witnessRequests = 0;
    const receipts = await Promise.all(Array.from({ length: 8 }, () => alices.audit.myReceipt({ seq: newest!.seq })));
    for (const receipt of receipts) {
      expect(receipt.checkpoint.treeSize).toBeGreaterThanOrEqual(newest!.seq);
      expect(independentlyVerify(receipt.tlogProof, receipt.logKey, witnessKey).witnessed).toBe(false);
      expect(
        await verifyReceipt(receipt.tlogProof, { logKey: receipt.logKey, witnessKeys: [witnessKey] }),
      ).toMatchObject({ ok: false, reason: expect.stringContaining('0 of the 1 witness(es) cosigned') });
    }
    inner = handler;
    await services.audit.witnesses?.stop(); // waits for the rounds in flight
    // Eight requests, two rounds of the witness client between them (the first request's, and the
    // one the seven others joined): callers cannot make the log ask its witnesses more often.
    expect(witnessRequests).toBeGreaterThanOrEqual(1);
    expect(witnessRequests).toBeLessThanOrEqual(2);
    // Back up: the next request brings it the checkpoint.
    const later = await alices.audit.myReceipt({ seq: newest!.seq });
    expect(independentlyVerify(later.tlogProof, later.logKey, witnessKey).witnessed).toBe(true);
  });

  it('proves an older event against the latest checkpoint, and refuses a row that no longer matches its hash', async () => {
    await story();
    const alices = callerFor(services, alice.token);
    const [latest, , , oldest] = (await alices.audit.myHistory()).items;
    await services.audit.checkpointer.tick(true);
    await callerFor(services, admin.token).user.update({ id: bob.user.id, name: 'Bob C.' });
    await services.audit.checkpointer.tick(true);
    const receipt = await alices.audit.myReceipt({ seq: oldest!.seq });
    expect(receipt.checkpoint.treeSize).toBeGreaterThan(latest!.seq);
    expect(independentlyVerify(receipt.tlogProof, receipt.logKey, witnessKey).event.seq).toBe(oldest!.seq);
    // The operator edits the stored event: no receipt, a typed error rather than a proof that fails.
    await sql`update audit_events set ip = ${'192.0.2.1'} where seq = ${oldest!.seq}`.execute(db.kysely);
    expect(await trpcError(alices.audit.myReceipt({ seq: oldest!.seq }))).toMatchObject({
      code: 'CONFLICT',
      reason: 'receipt_unavailable',
    });
  });

  it('says not_yet_checkpointed when the event is past the latest checkpoint and the log refuses to sign', async () => {
    await story();
    await services.audit.checkpointer.tick(true);
    await callerFor(services, alice.token).auth.updateProfile({ name: 'Alice Again' });
    const [newest] = (await callerFor(services, alice.token).audit.myHistory()).items;
    // The tree head is rewound behind the signed checkpoint: the checkpointer will not sign.
    await sql`update audit_head set tree_size = 0, frontier = ${Buffer.alloc(0)}`.execute(db.kysely);
    expect(await trpcError(callerFor(services, alice.token).audit.myReceipt({ seq: newest!.seq }))).toMatchObject({
      code: 'PRECONDITION_FAILED',
      reason: 'not_yet_checkpointed',
    });
  });

  it('is for sessions: an API key cannot read anyone’s history', async () => {
    const { key } = await callerFor(services, alice.token).apiKey.create({ name: 'k', scopes: ['sessions:read'] });
    expect(await trpcError(callerFor(services, key).audit.myHistory())).toMatchObject({
      code: 'FORBIDDEN',
      reason: 'scope_required',
    });
  });
});
