/**
 * `gatehouse witness serve` as its own process, and a real Gatehouse server sending it
 * checkpoints over loopback HTTP (C2SP tlog-witness), configured only through AUDIT_WITNESSES.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, createPublicKey, generateKeyPairSync, verify } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { loadOrCreateSigningKey } from '@gatehouse/api';
import { withTransaction } from '@gatehouse/db';
import { startTestServer, type RunningServer } from '../../server/src/testing.js';
import { bin, gatehouse } from './run.js';

/** Independent cosignature/v1 check (C2SP tlog-cosignature), from the spec text. */
function cosignatureVerifies(body: string, line: string, vkey: string): boolean {
  const [name, idHex] = vkey.split('+');
  const raw = Buffer.from(vkey.split('+').slice(2).join('+'), 'base64').subarray(1);
  const id = createHash('sha256').update(`${name}\n\u0004`).update(raw).digest().subarray(0, 4);
  if (id.toString('hex') !== idHex) return false;
  const blob = Buffer.from(line.slice(`\u2014 ${name} `.length), 'base64');
  const msg = `cosignature/v1\ntime ${blob.readBigUInt64BE(4)}\n${body}`;
  const spki = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), raw]);
  return verify(null, Buffer.from(msg), createPublicKey({ key: spki, format: 'der', type: 'spki' }), blob.subarray(12));
}

describe('gatehouse witness serve', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gh-witness-cli-'));
  let witness: ChildProcess;
  let witnessLine: string;
  let witnessOutput = '';
  let server: RunningServer;
  const auditKey = join(dir, 'audit.key');
  let logKeyText = '';

  beforeAll(async () => {
    writeFileSync(
      auditKey,
      generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
      { mode: 0o600 },
    );
    const logKey = loadOrCreateSigningKey(auditKey, 'gatehouse/witness-e2e.test').text;
    witness = spawn(
      process.execPath,
      [
        bin,
        'witness',
        'serve',
        '--key-file',
        join(dir, 'w.key'),
        '--data',
        join(dir, 'w'),
        '--log',
        logKey,
        '--name',
        'e2e/w1',
        '--port',
        '0',
      ],
      { env: { PATH: process.env.PATH ?? '' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    witness.stderr?.on('data', (d: Buffer) => (witnessOutput += d.toString()));
    witnessLine = await new Promise<string>((resolve, reject) => {
      let out = '';
      witness.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /AUDIT_WITNESSES entry: (\S+)/.exec(out);
        if (m) resolve(m[1] as string);
      });
      witness.once('exit', (code) => reject(new Error(`witness exited ${code}: ${witnessOutput}`)));
    });
    server = await startTestServer({
      PUBLIC_ORIGIN: 'http://witness-e2e.test',
      AUDIT_KEY_FILE: auditKey,
      AUDIT_WITNESSES: witnessLine,
      AUDIT_PUBLIC_TILES: 'true',
    });
    logKeyText = logKey;
  }, 60_000);

  afterAll(async () => {
    await server?.stop();
    witness?.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  });

  test('cosigns each checkpoint the server sends, and the server stores cosignatures that verify independently', async () => {
    const audit = server.services.audit;
    for (let i = 0; i < 3; i++) {
      await withTransaction(server.db, (trx) => audit.append(trx, { type: 'auth.sign_in', data: { i } }));
      await audit.checkpointer.tick(true);
      expect(await audit.witnesses?.sync()).toEqual({ 'e2e/w1': 'cosigned' });
    }
    const rows = await server.db.kysely.selectFrom('audit_cosignatures').selectAll().orderBy('tree_size').execute();
    expect(rows.map((r) => Number(r.tree_size))).toEqual([1, 2, 3]);
    const vkey = witnessLine.split(';key=')[1] as string;
    for (const row of rows) {
      const { note } = await server.db.kysely
        .selectFrom('audit_checkpoints')
        .select('note')
        .where('tree_size', '=', row.tree_size)
        .executeTakeFirstOrThrow();
      expect(cosignatureVerifies(note.slice(0, note.lastIndexOf('\n\n') + 1), row.line, vkey)).toBe(true);
    }
    const result = await audit.verify();
    expect(result.ok).toBe(true);
    expect(result.witnesses).toMatchObject({ witnessedSize: 3, latestCosignedBy: ['e2e/w1'], problems: [] });
  });

  test('audit export --tiles writes static tiles that verify offline with the cosignature policy', async () => {
    const out = join(dir, 'tiles');
    const exported = await gatehouse(['--json', 'audit', 'export', '--tiles', out, '--url', server.url]);
    expect(exported.code).toBe(0);
    expect(JSON.parse(exported.stdout)).toMatchObject({ treeSize: 3, tiles: 1, bundles: 1 });
    const vkey = witnessLine.split(';key=')[1] as string;
    const verify = (extra: string[]) =>
      gatehouse(['--json', 'audit', 'verify', '--offline', out, '--public-key', logKeyText, ...extra]);

    const ok = await verify(['--witness', vkey]);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({
      ok: true,
      checked: 3,
      cosignatures: { cosignedBy: ['e2e/w1'], problem: null },
    });

    // A policy asking for a second witness that never saw the checkpoint fails.
    const other = 'e2e/w2+c6551c6b+BAJaI5PO0R27wevDC0QBTWY6331c97LxSUqZ5z7B7Yae';
    const { createHash: h } = await import('node:crypto');
    const raw = Buffer.from(other.split('+')[2] as string, 'base64').subarray(1);
    const id = h('sha256').update('e2e/w2\n\u0004').update(raw).digest().subarray(0, 4).toString('hex');
    const w2 = `e2e/w2+${id}+${other.split('+')[2] as string}`;
    const unmet = await verify(['--witness', vkey, '--witness', w2, '--witness-policy', '2']);
    expect(unmet.code).toBe(1);
    expect((JSON.parse(unmet.stdout) as { reason: string }).reason).toMatch(
      /not seen by enough witnesses: cosigned by 1 \(e2e\/w1\)/,
    );

    // An edited entry no longer matches its tile.
    const bundlePath = join(out, 'tile/entries/000.p/3');
    const bundle = readFileSync(bundlePath);
    writeFileSync(bundlePath, Buffer.from(bundle.toString('latin1').replace(`"i":1`, `"i":7`), 'latin1'));
    const edited = await verify(['--witness', vkey]);
    expect(edited.code).toBe(1);
    expect(JSON.parse(edited.stdout)).toMatchObject({
      ok: false,
      firstInvalidSeq: 2,
      reason: 'event 2 does not match its hash in tile/0/000.p/3',
    });
  });

  test('refuses to start without a log to witness', async () => {
    const child = spawn(process.execPath, [bin, 'witness', 'serve', '--key-file', join(dir, 'x.key'), '--data', dir], {
      env: { PATH: process.env.PATH ?? '' },
    });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise((ok) => child.once('exit', ok));
    expect(code).toBe(2);
    expect(err).toMatch(/--log <verifier key> is required/);
  });
});
