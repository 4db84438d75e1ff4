import { withTransaction, type Db } from '@gatehouse/db';
import { createMigratedTestDb, testDialects } from '@gatehouse/db/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../clock.js';
import { parseVerifierKey, verifyCheckpointNote } from '../audit/checkpoint.js';
import { fromHex, verifyConsistency, verifyInclusion } from '../audit/merkle.js';
import type { AuditEvent } from '../audit/types.js';
import type { Services } from '../services.js';
import { callerFor, createTestServices, createTestUser } from '../testing.js';

describe.each(testDialects)('audit router on %s', (dialect) => {
  let db: Db;
  let cleanup: () => Promise<void>;
  let services: Services;
  const clock = new ManualClock('2026-04-01T00:00:00.000Z');

  async function record(n: number, from = 0): Promise<void> {
    for (let i = from; i < from + n; i++) {
      clock.advance(10);
      await withTransaction(db, (trx) =>
        services.audit.append(trx, { type: 'user.updated', actorId: 'admin', targetId: `u${i}`, data: { i } }),
      );
    }
  }

  beforeEach(async () => {
    ({ db, cleanup } = await createMigratedTestDb(dialect));
    services = await createTestServices(db, { clock });
    services.audit.feedRevalidateMs = 50;
  });
  afterEach(async () => {
    await services.close();
    await cleanup();
  });

  it('is for admins only', async () => {
    const member = await createTestUser(services, { role: 'member' });
    for (const call of [
      (c: ReturnType<typeof callerFor>) => c.audit.verify(),
      (c: ReturnType<typeof callerFor>) => c.audit.list(),
      (c: ReturnType<typeof callerFor>) => c.audit.checkpoint(),
      (c: ReturnType<typeof callerFor>) => c.audit.inclusionProof({ seq: 1 }),
      (c: ReturnType<typeof callerFor>) => c.audit.consistencyProof({ fromSize: 1 }),
      (c: ReturnType<typeof callerFor>) => c.audit.events({}),
    ]) {
      await expect(call(callerFor(services, null))).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
      await expect(call(callerFor(services, member.token))).rejects.toMatchObject({ code: 'FORBIDDEN' });
    }
  });

  it('lists, verifies, checkpoints and proves', async () => {
    const { token } = await createTestUser(services, { role: 'admin' });
    const admin = callerFor(services, token);
    await record(12);
    const page = await admin.audit.list({ limit: 5, targetId: 'u3' });
    expect(page.items.map((e) => e.seq)).toEqual([4]);
    const all = await admin.audit.list({ limit: 5 });
    expect(all.items.map((e) => e.seq)).toEqual([12, 11, 10, 9, 8]);
    expect((await admin.audit.list({ limit: 5, cursor: all.nextCursor })).items[0]?.seq).toBe(7);
    await expect(admin.audit.list({ limit: 1000 })).rejects.toMatchObject({ code: 'BAD_REQUEST' });

    expect(await admin.audit.verify()).toMatchObject({
      ok: true,
      checked: 12,
      treeSize: 12,
      firstInvalidSeq: null,
      reason: null,
    });

    const cp = await admin.audit.checkpoint();
    expect(cp).toMatchObject({
      origin: 'gatehouse/localhost:3000',
      treeSize: 12,
      publicKey: services.audit.signer.text,
    });
    expect(cp.signedAt).toBeInstanceOf(Date);
    expect(verifyCheckpointNote(cp.note, parseVerifierKey(cp.publicKey)).treeSize).toBe(12);

    const inc = await admin.audit.inclusionProof({ seq: 5 });
    expect(inc.rootHash).toBe(cp.rootHash);
    expect(
      verifyInclusion(
        inc.leafIndex,
        inc.treeSize,
        fromHex(inc.leafHash),
        inc.proof.map(fromHex),
        fromHex(inc.rootHash),
      ),
    ).toBe(true);
    await expect(admin.audit.inclusionProof({ seq: 13 })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(admin.audit.inclusionProof({ seq: 0 })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    await expect(admin.audit.inclusionProof({ seq: 3, treeSize: 13 })).rejects.toMatchObject({ code: 'BAD_REQUEST' });

    const con = await admin.audit.consistencyProof({ fromSize: 7 });
    expect(con).toMatchObject({ fromSize: 7, toSize: 12, toRoot: cp.rootHash });
    expect(verifyConsistency(7, 12, fromHex(con.fromRoot), fromHex(con.toRoot), con.proof.map(fromHex))).toBe(true);
    await expect(admin.audit.consistencyProof({ fromSize: 13 })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
  });

  it('streams events after afterSeq, live, and ends when the session is revoked', async () => {
    const { token, session } = await createTestUser(services, { role: 'admin' });
    const sessionId = session?.id as string;
    await record(3);
    const stream = await callerFor(services, token).audit.events({ afterSeq: 1 });
    const received: AuditEvent[] = [];
    const done = (async () => {
      for await (const event of stream) {
        received.push(event);
        if (event.seq === 4) {
          // Revoke the subscriber's session: the stream must end by itself.
          await withTransaction(db, (trx) => services.sessions.revoke(trx, sessionId));
          await services.sessions.invalidate({ sessionIds: [sessionId] });
        }
      }
    })();
    await waitFor(() => received.length === 2);
    expect(received.map((e) => e.seq)).toEqual([2, 3]);
    await record(1, 3);
    await waitFor(() => received.length === 3);
    await done; // ends on its own once the revocation is noticed
    expect(received.map((e) => e.seq)).toEqual([2, 3, 4]);
    expect(received[2]).toMatchObject({ type: 'user.updated', targetId: 'u3' });
  });

  it('ends the stream when the subscriber is demoted', async () => {
    const { token, user } = await createTestUser(services, { role: 'admin' });
    const stream = await callerFor(services, token).audit.events({});
    const iterator = stream[Symbol.asyncIterator]();
    const next = iterator.next();
    await db.kysely.updateTable('users').set({ role: 'member' }).where('id', '=', user.id).execute();
    await expect(next).resolves.toMatchObject({ done: true });
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > timeoutMs) throw new Error('condition not reached in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
