/**
 * #19: /audit/tlog/ over real HTTP, read by an independent tlog-tiles client written here
 * (its own SHA-256 leaf/node hashing, its own paths): entries hash to the level-0 tile, and the
 * tile's tree root is the root of the served (signed) checkpoint.
 */
import { createHash } from 'node:crypto';
import { createGatehouseClient } from '@gatehouse/client';
import { withTransaction } from '@gatehouse/db';
import { createTestDatabase, testDialects, type TestDatabase } from '@gatehouse/db/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { startTestServer, type RunningServer } from './testing.js';

const sha = (...parts: Buffer[]): Buffer => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
};
function mth(hashes: Buffer[]): Buffer {
  if (hashes.length === 1) return hashes[0] as Buffer;
  let k = 1;
  while (k * 2 < hashes.length) k *= 2;
  return sha(Buffer.from([1]), mth(hashes.slice(0, k)), mth(hashes.slice(k)));
}

describe('audit tiles at /audit/tlog/', () => {
  let server: RunningServer | undefined;
  afterEach(async () => {
    await server?.stop();
    server = undefined;
  });

  async function withEvents(s: RunningServer, count: number): Promise<void> {
    const audit = s.services.audit;
    await withTransaction(s.db, async (trx) => {
      for (let i = 0; i < count; i++) await audit.append(trx, { type: 'auth.sign_in', data: { i } });
    });
    await audit.checkpointer.tick(true);
  }

  it('serves the checkpoint, hash tiles and entry bundles publicly when AUDIT_PUBLIC_TILES=true', async () => {
    server = await startTestServer({ AUDIT_PUBLIC_TILES: 'true' });
    await withEvents(server, 5);
    const checkpoint = await fetch(`${server.url}/audit/tlog/checkpoint`);
    expect(checkpoint.status).toBe(200);
    const note = await checkpoint.text();
    const [, size, root] = note.split('\n');
    const n = Number(size);
    expect(n).toBeGreaterThanOrEqual(5);

    const tile = Buffer.from(await (await fetch(`${server.url}/audit/tlog/tile/0/000.p/${n}`)).arrayBuffer());
    const bundleRes = await fetch(`${server.url}/audit/tlog/tile/entries/000.p/${n}`);
    expect(bundleRes.headers.get('cache-control')).toBe('no-cache');
    const bundle = Buffer.from(await bundleRes.arrayBuffer());
    const leaves: Buffer[] = [];
    for (let off = 0; off < bundle.length;) {
      const len = bundle.readUInt16BE(off);
      leaves.push(sha(Buffer.from([0]), bundle.subarray(off + 2, off + 2 + len)));
      off += 2 + len;
    }
    expect(leaves).toHaveLength(n);
    leaves.forEach((l, i) => expect(l.equals(tile.subarray(i * 32, i * 32 + 32))).toBe(true));
    expect(mth(leaves).toString('base64')).toBe(root);

    // A tile the tree does not have yet, and paths that are not tiles.
    expect((await fetch(`${server.url}/audit/tlog/tile/0/000.p/${n + 1}`)).status).toBe(404);
    expect((await fetch(`${server.url}/audit/tlog/tile/0/000`)).status).toBe(404);
    expect((await fetch(`${server.url}/audit/tlog/tile/0/5`)).status).toBe(404);
  });

  it.each(testDialects)('requires an admin session or an admin key with audit:read otherwise (%s)', async (dialect) => {
    const database: TestDatabase | null = dialect === 'postgres' ? await createTestDatabase('postgres') : null;
    server = await startTestServer(database ? { DATABASE_URL: database.url } : {});
    const url = server.url;
    const first = await createGatehouseClient({ url }).auth.createFirstUser.mutate({
      email: 'root@example.com',
      name: 'Root',
      password: 'a long root passphrase',
    });
    if (first.status !== 'signed-in') throw new Error('expected a signed-in first user');
    const admin = createGatehouseClient({ url, token: first.token });
    await admin.user.create.mutate({
      email: 'member@example.com',
      name: 'M',
      password: 'a long member passphrase',
      role: 'member',
    });
    const member = await createGatehouseClient({ url }).auth.signIn.mutate({
      identifier: 'member@example.com',
      password: 'a long member passphrase',
    });
    if (member.status !== 'signed-in') throw new Error('expected a signed-in member');
    await withEvents(server, 2);
    const asAdmin = await fetch(`${url}/audit/tlog/checkpoint`, {
      headers: { authorization: `Bearer ${first.token}` },
    });
    expect(asAdmin.status).toBe(200);
    expect(asAdmin.headers.get('cache-control')).toBe('private, no-cache');
    expect((await asAdmin.text()).split('\n')[0]).toBe(server.services.audit.checkpointer.origin);
    const asMember = await fetch(`${url}/audit/tlog/checkpoint`, {
      headers: { authorization: `Bearer ${member.token}` },
    });
    expect(asMember.status).toBe(401);
    // An admin's API key reaches the tiles with audit:read, not with another scope.
    const auditKey = await admin.apiKey.create.mutate({ name: 'tile mirror', scopes: ['audit:read'] });
    const otherKey = await admin.apiKey.create.mutate({ name: 'user sync', scopes: ['users:read'] });
    const withKey = (key: string) =>
      fetch(`${url}/audit/tlog/checkpoint`, { headers: { authorization: `Bearer ${key}` } });
    expect((await withKey(auditKey.key)).status).toBe(200);
    expect((await withKey(otherKey.key)).status).toBe(401);
    await server.stop();
    server = undefined;
    await database?.drop();
  });

  it('refuses anonymous and unknown tokens', async () => {
    server = await startTestServer();
    await withEvents(server, 2);
    const anonymous = await fetch(`${server.url}/audit/tlog/checkpoint`);
    expect(anonymous.status).toBe(401);
    expect(await anonymous.text()).toMatch(/admin session is required/);
    const forged = await fetch(`${server.url}/audit/tlog/checkpoint`, { headers: { authorization: 'Bearer nope' } });
    expect(forged.status).toBe(401);
  });
});
