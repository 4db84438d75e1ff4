/**
 * `gatehouse audit verify-proof`: a member downloads the receipt of their sign-in from a real
 * server (audit.myReceipt over HTTP), and the CLI verifies the file with no server at all; a
 * tampered file and a wrong key fail (exit 1, with the failed check named).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createGatehouseClient } from '@gatehouse/client';
import { createTestUser } from '@gatehouse/api/testing';
import { startTestServer, type RunningServer } from '../../server/src/testing.js';
import { gatehouse, json } from './run.js';

describe('gatehouse audit verify-proof', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gh-receipts-cli-'));
  let server: RunningServer;
  let proofFile: string;
  let eventFile: string;
  let logKey: string;
  let seq: number;
  let leaf: string;

  beforeAll(async () => {
    server = await startTestServer();
    const member = await createTestUser(server.services, { email: 'receipt@example.test' });
    const anonymous = createGatehouseClient({ url: server.url });
    await anonymous.auth.signIn.mutate({ identifier: 'receipt@example.test', password: member.password });
    const client = createGatehouseClient({ url: server.url, token: member.token });
    const history = await client.audit.myHistory.query({ limit: 10 });
    seq = history.items.find((e) => e.type === 'auth.sign_in')?.seq as number;
    const receipt = await client.audit.myReceipt.query({ seq });
    logKey = receipt.logKey;
    leaf = receipt.leaf;
    proofFile = join(dir, receipt.fileName);
    eventFile = join(dir, `event-${seq}.json`);
    writeFileSync(proofFile, receipt.tlogProof);
    writeFileSync(eventFile, `${receipt.leaf}\n`);
    // From here on, no server: the CLI works from the files alone.
    await server.stop();
  }, 60_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('verifies a downloaded receipt offline', async () => {
    const result = json<{ ok: boolean; seq: number; checks: { step: string; ok: boolean }[] }>(
      await gatehouse(['audit', 'verify-proof', proofFile, '--key', logKey, '--event', eventFile, '--json']),
    );
    expect(result).toMatchObject({ ok: true, seq });
    expect(result.checks.map((c) => c.step)).toEqual(['event', 'leaf', 'inclusion', 'signature']);
    const text = await gatehouse(['audit', 'verify-proof', proofFile, '--key', logKey]);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`verified: event ${seq} is in the log`);
  });

  test('fails on a tampered event, a tampered proof and the wrong key', async () => {
    const original = await import('node:fs').then((fs) => fs.readFileSync(proofFile, 'utf8'));
    const lines = original.split('\n');
    const forged = leaf.replace('"type":"auth.sign_in"', '"type":"auth.sign_out"');
    const tamperedEvent = join(dir, 'tampered-event.tlog-proof');
    writeFileSync(
      tamperedEvent,
      [lines[0], `extra ${Buffer.from(forged).toString('base64')}`, ...lines.slice(2)].join('\n'),
    );
    const bad = await gatehouse(['audit', 'verify-proof', tamperedEvent, '--key', logKey]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain('FAIL inclusion');

    const otherEvent = join(dir, 'other.json');
    writeFileSync(otherEvent, forged);
    const mismatch = await gatehouse(['audit', 'verify-proof', proofFile, '--key', logKey, '--event', otherEvent]);
    expect(mismatch.code).toBe(1);
    expect(mismatch.stdout).toContain('differs from the one inside the proof');

    const tamperedRoot = join(dir, 'tampered-root.tlog-proof');
    const noteStart = lines.indexOf('') + 1;
    writeFileSync(
      tamperedRoot,
      lines.map((l, i) => (i === noteStart + 2 ? Buffer.alloc(32, 9).toString('base64') : l)).join('\n'),
    );
    expect((await gatehouse(['audit', 'verify-proof', tamperedRoot, '--key', logKey])).code).toBe(1);

    const [name] = logKey.split('+');
    const wrong = await gatehouse([
      'audit',
      'verify-proof',
      proofFile,
      '--key',
      `${name}+00000000+${Buffer.alloc(33, 1).toString('base64')}`,
    ]);
    expect(wrong.code).toBe(1);
    expect(wrong.stdout).toContain('FAIL signature');
    expect((await gatehouse(['audit', 'verify-proof', join(dir, 'missing'), '--key', logKey])).code).toBe(2);
  });
});
