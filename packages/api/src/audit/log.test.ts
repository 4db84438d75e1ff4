import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDb, migrateToLatest, sql, withTransaction, type Db } from '@gatehouse/db';
import { createMigratedTestDb, testDialects, type TestDatabase } from '@gatehouse/db/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../clock.js';
import { DomainError } from '../errors.js';
import {
  loadOrCreateSigningKey,
  parseVerifierKey,
  signCheckpoint,
  signerFromPrivateKey,
  verifyCheckpointNote,
} from './checkpoint.js';
import { CheckpointConsistencyError } from './checkpointer.js';
import { leafHash, LeafEncodingError } from './leaf.js';
import { fromHex, verifyConsistency, verifyInclusion } from './merkle.js';
import { verifyAuditExport, writeAuditExport } from './offline.js';
import { rowToEvent } from './store.js';
import { AuditService } from './service.js';
import type { AuditEvent, AuditEventInput } from './types.js';

const origin = 'gatehouse/audit.test';
const signer = signerFromPrivateKey(origin, generateKeyPairSync('ed25519').privateKey);

function makeService(db: Db, clock: ManualClock): AuditService {
  return new AuditService({
    db,
    clock,
    config: { publicOrigin: 'http://audit.test', auditKeyFile: '/nonexistent' },
    signer,
  });
}

const event = (i: number): AuditEventInput => ({
  type: i % 2 === 0 ? 'auth.sign_in' : 'user.updated',
  actorId: `user-${i % 3}`,
  targetId: i % 5 === 0 ? null : `target-${i}`,
  ip: '127.0.0.1',
  userAgent: 'vitest',
  data: { i, nested: { ok: true, list: [i, 'x'] } },
});

async function appendMany(db: Db, audit: AuditService, clock: ManualClock, from: number, count: number): Promise<void> {
  for (let i = from; i < from + count; i++) {
    clock.advance(1000);
    await withTransaction(db, (trx) => audit.append(trx, event(i)));
  }
}

describe.each(testDialects)('audit log on %s', (dialect) => {
  let db: Db;
  let test: TestDatabase;
  let cleanup: () => Promise<void>;
  let clock: ManualClock;
  let audit: AuditService;

  beforeEach(async () => {
    ({ db, test, cleanup } = await createMigratedTestDb(dialect));
    clock = new ManualClock('2026-03-01T12:00:00.000Z');
    audit = makeService(db, clock);
  });
  afterEach(async () => {
    await audit.close();
    await cleanup();
  });

  it('appends gap-free events whose leaf hashes match the JCS encoding', async () => {
    await appendMany(db, audit, clock, 0, 5);
    const { items, nextCursor } = await audit.log.list({ limit: 3 });
    expect(items.map((e) => e.seq)).toEqual([5, 4, 3]);
    expect(nextCursor).toBe('3');
    const next = await audit.log.list({ limit: 3, cursor: nextCursor });
    expect(next.items.map((e) => e.seq)).toEqual([2, 1]);
    expect(next.nextCursor).toBeNull();
    for (const e of [...items, ...next.items]) {
      expect(e.at).toBeInstanceOf(Date);
      expect(leafHash(e).toString('hex')).toBe(e.leafHash);
    }
    expect(await audit.verify()).toMatchObject({
      ok: true,
      checked: 5,
      treeSize: 5,
      firstInvalidSeq: null,
      reason: null,
    });
  });

  it('rolls back with the transaction it is part of', async () => {
    await appendMany(db, audit, clock, 0, 2);
    await expect(
      withTransaction(db, async (trx) => {
        await audit.append(trx, event(9));
        throw new Error('change failed');
      }),
    ).rejects.toThrow('change failed');
    await appendMany(db, audit, clock, 2, 1);
    expect((await audit.log.list()).items.map((e) => e.seq)).toEqual([3, 2, 1]);
    expect((await audit.verify()).ok).toBe(true);
  });

  it('builds the same tree from several appends in one transaction, a refused one among them', async () => {
    await appendMany(db, audit, clock, 0, 1);
    await withTransaction(db, async (trx) => {
      await audit.append(trx, event(1));
      await expect(audit.append(trx, { type: 'auth.sign_in', userAgent: 'nul \u0000 byte' })).rejects.toBeInstanceOf(
        LeafEncodingError,
      );
      await audit.append(trx, event(2));
      await audit.append(trx, event(3));
    });
    await appendMany(db, audit, clock, 4, 1);
    expect((await audit.log.list()).items.map((e) => e.seq)).toEqual([5, 4, 3, 2, 1]);
    expect(await audit.verify()).toMatchObject({ ok: true, checked: 5, treeSize: 5 });
  });

  it('stores and verifies awkward text byte for byte', async () => {
    const odd = 'a"\\\u0001\b\t\n\f\r\u001f\u007f\u2028é😀 \'; drop table x; --';
    await withTransaction(db, (trx) =>
      audit.append(trx, {
        type: 'user.updated',
        actorId: odd,
        targetId: '',
        ip: '::1',
        userAgent: odd,
        data: { odd, lone: '\ud800', nul: '\u0000', n: -0, big: 1e21 },
      }),
    );
    const [stored] = (await audit.log.list()).items;
    expect(stored).toMatchObject({
      actorId: odd,
      targetId: '',
      userAgent: odd,
      data: { odd, lone: '\ud800', nul: '\u0000', n: 0, big: 1e21 },
    });
    expect(leafHash(stored as AuditEvent).toString('hex')).toBe(stored?.leafHash);
    expect(await audit.verify()).toMatchObject({ ok: true, checked: 1 });
  });

  it('refuses text that the database could not store exactly', async () => {
    for (const userAgent of ['bad \ud800 surrogate', 'nul \u0000 byte']) {
      await expect(
        withTransaction(db, (trx) => audit.append(trx, { type: 'auth.sign_in', userAgent })),
      ).rejects.toBeInstanceOf(LeafEncodingError);
    }
    expect((await audit.log.head()).treeSize).toBe(0);
  });

  it('filters by type, actor, target and time', async () => {
    await appendMany(db, audit, clock, 0, 10);
    const all = (await audit.log.list({ limit: 100 })).items;
    expect((await audit.log.list({ type: 'auth.sign_in' })).items.every((e) => e.type === 'auth.sign_in')).toBe(true);
    expect((await audit.log.list({ actorId: 'user-1' })).items.map((e) => e.seq)).toEqual(
      all.filter((e) => e.actorId === 'user-1').map((e) => e.seq),
    );
    expect((await audit.log.list({ targetId: 'target-3' })).items.map((e) => e.seq)).toEqual([4]);
    const since = all[6]?.at as Date;
    const until = all[2]?.at as Date;
    expect((await audit.log.list({ since, until })).items.map((e) => e.seq)).toEqual([7, 6, 5, 4]);
    await expect(audit.log.list({ cursor: 'x' })).rejects.toBeInstanceOf(DomainError);
  });

  it('serves inclusion and consistency proofs that verify against the roots', async () => {
    await appendMany(db, audit, clock, 0, 37);
    for (const [seq, size] of [
      [1, 37],
      [17, 37],
      [37, 37],
      [5, 16],
      [16, 16],
      [20, 33],
    ] as const) {
      const p = await audit.log.inclusionProof(seq, size);
      expect(p.treeSize).toBe(size);
      expect(
        verifyInclusion(p.leafIndex, p.treeSize, fromHex(p.leafHash), p.proof.map(fromHex), fromHex(p.rootHash)),
      ).toBe(true);
    }
    const head = await audit.log.head();
    expect((await audit.log.inclusionProof(3)).rootHash).toBe(head.rootHash);
    for (const [from, to] of [
      [1, 37],
      [16, 37],
      [17, 33],
      [36, 37],
      [37, 37],
    ] as const) {
      const c = await audit.log.consistencyProof(from, to);
      expect(
        verifyConsistency(c.fromSize, c.toSize, fromHex(c.fromRoot), fromHex(c.toRoot), c.proof.map(fromHex)),
      ).toBe(true);
    }
    await expect(audit.log.inclusionProof(38)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(audit.log.inclusionProof(5, 40)).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    await expect(audit.log.inclusionProof(30, 20)).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    await expect(audit.log.consistencyProof(30, 20)).rejects.toMatchObject({ code: 'BAD_REQUEST' });
  });

  it('signs checkpoints every 100 events and every minute, consistent with the last one', async () => {
    await appendMany(db, audit, clock, 0, 250);
    await audit.checkpointer.tick();
    const sizes = async () =>
      (await audit.log.kysely.selectFrom('audit_checkpoints').select('tree_size').orderBy('tree_size').execute()).map(
        (r) => Number(r.tree_size),
      );
    // The head (250) is new: nothing signed yet, so it is due at once.
    expect(await sizes()).toEqual([100, 200, 250]);
    await appendMany(db, audit, clock, 250, 5);
    await audit.checkpointer.tick();
    expect(await sizes()).toEqual([100, 200, 250]); // neither 100 more nor a minute yet
    clock.advance(60_000);
    await audit.checkpointer.tick();
    expect(await sizes()).toEqual([100, 200, 250, 255]);

    const latest = await audit.checkpointer.latest();
    expect(latest).toMatchObject({ origin, treeSize: 255, publicKey: signer.text });
    const cp = verifyCheckpointNote(latest.note, parseVerifierKey(latest.publicKey));
    expect(cp.rootHash.toString('hex')).toBe(latest.rootHash);
    expect(latest.rootHash).toBe((await audit.log.head()).rootHash);
    expect(await audit.verify()).toMatchObject({ ok: true, checked: 255 });
  });

  it('signs the empty tree when asked for a checkpoint before any event', async () => {
    const latest = await audit.checkpointer.latest();
    expect(latest.treeSize).toBe(0);
    expect(latest.rootHash).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });

  it('refuses to sign a head that is not consistent with the last checkpoint', async () => {
    await appendMany(db, audit, clock, 0, 20);
    await audit.checkpointer.tick(true);
    // Rewrite event 18 and its leaf hash: the events now describe a different tree. (Event 18 is
    // outside the stored 16-leaf subtree, so the signing path reads its leaf hash.)
    await rewriteEvent(db, 18, { ip: '10.0.0.1' });
    await appendMany(db, audit, clock, 20, 1);
    await expect(audit.checkpointer.tick(true)).rejects.toBeInstanceOf(CheckpointConsistencyError);
  });

  describe('detects tampering done with raw SQL', () => {
    beforeEach(async () => {
      await appendMany(db, audit, clock, 0, 40);
      await audit.checkpointer.tick(true); // checkpoint at 40
      await appendMany(db, audit, clock, 40, 10);
      expect((await audit.verify()).ok).toBe(true);
    });

    it('an edited field', async () => {
      await sql`update audit_events set data = ${'{"i":11,"nested":{"list":[11,"x"],"ok":false}}'} where seq = 12`.execute(
        db.kysely,
      );
      expect(await audit.verify()).toMatchObject({ ok: false, firstInvalidSeq: 12, checked: 11 });
    });

    it('an edited time', async () => {
      await sql`update audit_events set at = ${new Date('2020-01-01T00:00:00.000Z')} where seq = 7`.execute(db.kysely);
      expect(await audit.verify()).toMatchObject({ ok: false, firstInvalidSeq: 7 });
    });

    it('an edit whose leaf hash was recomputed too', async () => {
      await rewriteEvent(db, 3, { actor_id: 'someone-else' });
      const result = await audit.verify();
      expect(result.ok).toBe(false);
      // The level-4 subtree over events 1..16 no longer matches its stored hash; the digests
      // signed at 40 name the event.
      expect(result.reason).toMatch(/events 1\.\.16/);
      expect(result.firstInvalidSeq).toBe(3);
    });

    it('an edit with leaf hash and subtree hashes recomputed', async () => {
      await rewriteEvent(db, 35, { type: 'auth.sign_out' });
      await recomputeTreeState(db);
      const result = await audit.verify();
      expect(result.ok).toBe(false);
      expect(result.reason).toMatch(/checkpoint signed at that size/);
      expect(result.firstInvalidSeq).toBe(35);
    });

    it('an inserted event with later rows renumbered and every hash recomputed', async () => {
      await sql`update audit_events set seq = seq + 1000 where seq >= 20`.execute(db.kysely);
      await sql`update audit_events set seq = seq - 999 where seq >= 1000`.execute(db.kysely);
      await sql`insert into audit_events (seq, at, type, actor_id, target_id, ip, user_agent, data, leaf_hash)
        select 20, at, 'user.deleted', actor_id, target_id, ip, user_agent, data, leaf_hash from audit_events where seq = 19`.execute(
        db.kysely,
      );
      for (let seq = 20; seq <= 51; seq++) await rewriteEvent(db, seq, {});
      await recomputeTreeState(db);
      expect(await audit.verify()).toMatchObject({ ok: false, firstInvalidSeq: 20 });
    });

    it('a deleted event with later rows renumbered and every hash recomputed', async () => {
      await sql`delete from audit_events where seq = 25`.execute(db.kysely);
      await sql`update audit_events set seq = seq + 1000 where seq > 25`.execute(db.kysely);
      await sql`update audit_events set seq = seq - 1001 where seq >= 1000`.execute(db.kysely);
      for (let seq = 25; seq <= 49; seq++) await rewriteEvent(db, seq, {});
      await recomputeTreeState(db);
      expect(await audit.verify()).toMatchObject({ ok: false, firstInvalidSeq: 25, treeSize: 49 });
    });

    it('an edit after the last checkpoint, with all derived state recomputed, is caught by the next one', async () => {
      await rewriteEvent(db, 45, { type: 'auth.sign_out' });
      await recomputeTreeState(db);
      expect((await audit.verify()).ok).toBe(true); // nothing signed covers event 45 yet
      await audit.checkpointer.tick(true); // signs 50 over the rewritten events: consistent with 40
      // This is the limit of any log: only what was signed (and exported) can be held against it.
      expect((await audit.verify()).ok).toBe(true);
    });

    it('an inserted event (later rows renumbered)', async () => {
      await sql`update audit_events set seq = seq + 1000 where seq >= 20`.execute(db.kysely);
      await sql`update audit_events set seq = seq - 999 where seq >= 1000`.execute(db.kysely);
      await sql`insert into audit_events (seq, at, type, actor_id, target_id, ip, user_agent, data, leaf_hash)
        select 20, at, type, actor_id, target_id, ip, user_agent, data, leaf_hash from audit_events where seq = 19`.execute(
        db.kysely,
      );
      expect(await audit.verify()).toMatchObject({ ok: false, firstInvalidSeq: 20 });
    });

    it('an event inserted past the head', async () => {
      await sql`insert into audit_events (seq, at, type, actor_id, target_id, ip, user_agent, data, leaf_hash)
        select 51, at, type, actor_id, target_id, ip, user_agent, data, leaf_hash from audit_events where seq = 50`.execute(
        db.kysely,
      );
      expect(await audit.verify()).toMatchObject({ ok: false, firstInvalidSeq: 51 });
    });

    it('a deleted event', async () => {
      await sql`delete from audit_events where seq = 25`.execute(db.kysely);
      expect(await audit.verify()).toMatchObject({ ok: false, firstInvalidSeq: 25, checked: 24 });
    });

    it('two events swapped', async () => {
      await sql`update audit_events set seq = 1000 where seq = 8`.execute(db.kysely);
      await sql`update audit_events set seq = 8 where seq = 9`.execute(db.kysely);
      await sql`update audit_events set seq = 9 where seq = 1000`.execute(db.kysely);
      expect(await audit.verify()).toMatchObject({ ok: false, firstInvalidSeq: 8 });
    });

    it('a truncated tail', async () => {
      await sql`delete from audit_events where seq > 45`.execute(db.kysely);
      expect(await audit.verify()).toMatchObject({ ok: false, firstInvalidSeq: 46 });
    });

    it('a truncated tail with the tree head rewritten to match', async () => {
      await sql`delete from audit_events where seq > 30`.execute(db.kysely);
      await sql`delete from audit_nodes`.execute(db.kysely);
      await recomputeTreeState(db);
      const result = await audit.verify();
      expect(result).toMatchObject({ ok: false, firstInvalidSeq: 31, treeSize: 30 });
      expect(result.reason).toMatch(/truncated/);
      // The checkpointer notices too, and refuses to go on.
      await expect(audit.checkpointer.tick(true)).rejects.toThrow(/truncated/);
    });

    it('a forged checkpoint', async () => {
      await sql`update audit_checkpoints set note = replace(note, ${'\n40\n'}, ${'\n41\n'})`.execute(db.kysely);
      expect(await audit.verify()).toMatchObject({ ok: false, reason: expect.stringMatching(/signature/) });
    });

    it('a corrupted tree head (reported, not thrown)', async () => {
      await sql`update audit_head set frontier = ${Buffer.from([1, 2, 3])}`.execute(db.kysely);
      expect(await audit.verify()).toMatchObject({
        ok: false,
        reason: 'the tree head row does not match the events',
      });
    });
  });

  if (dialect === 'postgres') {
    it('two instances appending at once produce one gap-free log that verifies', async () => {
      const other = test.open();
      const audit2 = makeService(other, clock);
      try {
        const writers = [
          ...Array.from({ length: 40 }, (_, i) => withTransaction(db, (trx) => audit.append(trx, event(i)))),
          ...Array.from({ length: 40 }, (_, i) => withTransaction(other, (trx) => audit2.append(trx, event(100 + i)))),
        ];
        const appended = await Promise.all(writers);
        expect(appended.map((e) => e.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: 80 }, (_, i) => i + 1));
        await Promise.all([audit.checkpointer.tick(true), audit2.checkpointer.tick(true)]);
        expect(await audit.verify()).toMatchObject({ ok: true, checked: 80, treeSize: 80 });
        expect(await audit2.verify()).toMatchObject({ ok: true, checked: 80 });
      } finally {
        await audit2.close();
        await other.close();
      }
    });
  }
});

describe.each(testDialects)('the unsigned tail and the checkpoint kept outside the database on %s', (dialect) => {
  let db: Db;
  let cleanup: () => Promise<void>;
  let clock: ManualClock;
  let dir: string;
  let keyFile: string;
  let errors: string[];

  /** A service as the server builds it: key file, copy next to it, a recording logger. */
  const serverLike = (): AuditService =>
    new AuditService({
      db,
      clock,
      config: { publicOrigin: 'http://audit.test', auditKeyFile: keyFile },
      logger: { error: (_obj, msg) => errors.push(msg), warn() {}, info() {} },
    });

  beforeEach(async () => {
    ({ db, cleanup } = await createMigratedTestDb(dialect));
    clock = new ManualClock('2026-03-01T12:00:00.000Z');
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-audit-'));
    keyFile = join(dir, 'audit.key');
    errors = [];
  });
  afterEach(async () => {
    await cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Runs a server lifetime: start, `events` appended, graceful shutdown. */
  async function lifetime(from: number, events: number): Promise<void> {
    const audit = serverLike();
    audit.start(60_000);
    await appendMany(db, audit, clock, from, events);
    await audit.close();
  }

  it('a graceful shutdown signs the head and keeps the note outside the database (0600)', async () => {
    await lifetime(0, 7); // 7 events: not a multiple of 100, younger than a minute
    const audit = serverLike();
    const latest = await audit.checkpointer.latest();
    expect(latest.treeSize).toBe(7);
    const outside = `${keyFile}.checkpoint`;
    expect(readFileSync(outside, 'utf8')).toBe(latest.note);
    if (process.platform !== 'win32') expect(statSync(outside).mode & 0o777).toBe(0o600);
    expect(await audit.checkOutside()).toBeNull();
    expect(await audit.verify()).toMatchObject({ ok: true, treeSize: 7 });
    await lifetime(7, 3);
    expect(readFileSync(outside, 'utf8')).toBe((await audit.checkpointer.latest()).note);
    expect((await audit.checkpointer.latest()).treeSize).toBe(10);
    expect(errors).toEqual([]);
  });

  it('refuses a database rewritten while stopped, checkpoints included, and verify names the event', async () => {
    await lifetime(0, 30);
    await rewriteEvent(db, 12, { ip: '10.6.6.6' });
    await recomputeTreeState(db);
    await sql`delete from audit_checkpoints`.execute(db.kysely); // the stored ones are gone too
    const audit = serverLike();
    expect(await audit.checkOutside()).toMatch(/not consistent with the checkpoint at size 30 kept outside/);
    expect(errors).toEqual([expect.stringMatching(/^AUDIT LOG TAMPERED WHILE STOPPED/)]);
    await appendMany(db, audit, clock, 30, 1);
    await expect(audit.checkpointer.tick(true)).rejects.toThrow(/refusing to sign/);
    expect(await audit.verify()).toMatchObject({
      ok: false,
      firstInvalidSeq: 12,
      reason: expect.stringMatching(/do not match the checkpoint kept outside the database/),
    });
    await audit.close();
    expect(await db.kysely.selectFrom('audit_checkpoints').selectAll().execute()).toEqual([]);
  });

  it('refuses a database truncated while stopped and reports it', async () => {
    await lifetime(0, 30);
    await sql`delete from audit_events where seq > 20`.execute(db.kysely);
    await sql`delete from audit_nodes`.execute(db.kysely);
    await recomputeTreeState(db);
    await sql`delete from audit_checkpoints`.execute(db.kysely);
    const audit = serverLike();
    audit.start(60_000);
    await audit.close(); // start-up check, then the shutdown checkpoint: refused
    expect(errors[0]).toMatch(/the log has 20 events but the checkpoint kept outside .* covers 30: it was truncated/);
    expect(await db.kysely.selectFrom('audit_checkpoints').selectAll().execute()).toEqual([]);
    expect(await serverLike().verify()).toMatchObject({
      ok: false,
      firstInvalidSeq: 21,
      reason: 'the checkpoint kept outside the database covers 30 events but the log has 20 (truncated)',
    });
  });

  describe('gatehouse audit rotate-key', () => {
    it('retires the key with its range; old checkpoints still verify, online and offline with the history', async () => {
      await lifetime(0, 12);
      const old = loadOrCreateSigningKey(keyFile, 'gatehouse/audit.test');
      const rotating = serverLike();
      const { retired, publicKey } = await rotating.rotateKey();
      await rotating.close();
      expect(retired).toMatchObject({ from: 0, to: 12 });
      expect(readFileSync(`${keyFile}.history`, 'utf8')).toBe(`0 12 ${old.text}\n`);
      if (process.platform !== 'win32') expect(statSync(keyFile).mode & 0o777).toBe(0o600);

      // The next start: the new key, the copy outside signed by the old one is still accepted.
      const audit = serverLike();
      expect(audit.signer.text).toBe(publicKey);
      expect(publicKey).not.toBe(old.text);
      expect(await audit.checkOutside()).toBeNull();
      await appendMany(db, audit, clock, 12, 5);
      await audit.close(); // signs 17 with the new key
      const notes = await db.kysely
        .selectFrom('audit_checkpoints')
        .select(['tree_size', 'note'])
        .orderBy('tree_size')
        .execute();
      expect(notes.map((n) => Number(n.tree_size))).toEqual([12, 17]);
      expect(verifyCheckpointNote(notes[0]?.note as string, old).treeSize).toBe(12);
      expect(verifyCheckpointNote(notes[1]?.note as string, parseVerifierKey(publicKey)).treeSize).toBe(17);
      expect(await serverLike().verify()).toMatchObject({ ok: true, treeSize: 17 });
      expect(errors).toEqual([]);

      // Offline: an export whose checkpoint the old key signed needs the history.
      const rows = await db.kysely
        .selectFrom('audit_events')
        .selectAll()
        .where('seq', '<=', 12)
        .orderBy('seq')
        .execute();
      const exported = join(dir, 'export');
      await writeAuditExport(exported, rows.map(rowToEvent), notes[0]?.note as string);
      expect((await verifyAuditExport(exported, publicKey)).reason).toMatch(/not signed/);
      const history = readFileSync(`${keyFile}.history`, 'utf8');
      expect(await verifyAuditExport(exported, publicKey, history)).toMatchObject({ ok: true, checked: 12 });
      expect((await verifyAuditExport(exported, publicKey, 'garbage')).ok).toBe(false);

      // A retired key is not accepted beyond its range: it cannot sign the log's future.
      const root = Buffer.from(verifyCheckpointNote(notes[1]?.note as string, parseVerifierKey(publicKey)).rootHash);
      const forged = signCheckpoint({ origin: old.name, treeSize: 17, rootHash: root }, old);
      await sql`update audit_checkpoints set note = ${forged} where tree_size = 17`.execute(db.kysely);
      expect(await serverLike().verify()).toMatchObject({ ok: false, reason: expect.stringMatching(/not signed/) });
    });
  });
});

describe('audit log on an in-memory SQLite database', () => {
  it('verifies through Kysely (no second connection is possible) and still detects an edit', async () => {
    const db = createDb(':memory:');
    await migrateToLatest(db);
    const clock = new ManualClock();
    const audit = makeService(db, clock);
    try {
      await appendMany(db, audit, clock, 0, 30);
      await audit.checkpointer.tick(true);
      expect(await audit.verify()).toMatchObject({ ok: true, checked: 30 });
      await sql`update audit_events set ip = ${'10.9.8.7'} where seq = 12`.execute(db.kysely);
      expect(await audit.verify()).toMatchObject({ ok: false, firstInvalidSeq: 12 });
    } finally {
      await audit.close();
      await db.close();
    }
  });
});

/** Rewrites columns of one event and recomputes its leaf hash, as an informed attacker would. */
async function rewriteEvent(db: Db, seq: number, changes: Record<string, string>): Promise<void> {
  for (const [column, value] of Object.entries(changes)) {
    await sql`update audit_events set ${sql.ref(column)} = ${value} where seq = ${seq}`.execute(db.kysely);
  }
  const row = await db.kysely.selectFrom('audit_events').selectAll().where('seq', '=', seq).executeTakeFirstOrThrow();
  const hash = leafHash({
    seq,
    at: row.at,
    type: row.type,
    actorId: row.actor_id,
    targetId: row.target_id,
    ip: row.ip,
    userAgent: row.user_agent,
    data: JSON.parse(row.data) as Record<string, unknown>,
  });
  await sql`update audit_events set leaf_hash = ${hash} where seq = ${seq}`.execute(db.kysely);
}

/** Recomputes audit_nodes and the head from the (tampered) events, as an informed attacker would. */
async function recomputeTreeState(db: Db): Promise<void> {
  const { CompactRange } = await import('./merkle.js');
  const { isStoredLevel } = await import('./store.js');
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
