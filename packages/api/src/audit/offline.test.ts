import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { signCheckpoint, signerFromPrivateKey } from './checkpoint.js';
import { leafHash } from './leaf.js';
import { CompactRange } from './merkle.js';
import { EXPORT_CHECKPOINT_FILE, EXPORT_EVENTS_FILE, verifyAuditExport, writeAuditExport } from './offline.js';
import type { AuditEvent } from './types.js';

const origin = 'gatehouse/offline.test';
const signer = signerFromPrivateKey(origin, generateKeyPairSync('ed25519').privateKey);
const root = mkdtempSync(join(tmpdir(), 'gatehouse-export-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function makeEvents(n: number): AuditEvent[] {
  return Array.from({ length: n }, (_, i) => {
    const fields = {
      seq: i + 1,
      at: new Date(Date.UTC(2026, 0, 1, 0, 0, i)),
      type: 'auth.sign_in',
      actorId: `u${i % 4}`,
      targetId: null,
      ip: '192.0.2.1',
      userAgent: i % 2 ? 'ua' : null,
      data: { method: 'password', attempt: i },
    };
    return { ...fields, leafHash: leafHash(fields).toString('hex') };
  });
}

function note(events: AuditEvent[], size: number): string {
  const range = CompactRange.empty();
  for (const e of events.slice(0, size)) range.append(Buffer.from(e.leafHash, 'hex'));
  return signCheckpoint({ origin, treeSize: size, rootHash: range.root() }, signer);
}

let counter = 0;
async function exportDir(events: AuditEvent[], checkpointSize = events.length): Promise<string> {
  const dir = join(root, `export-${counter++}`);
  await writeAuditExport(dir, events, note(events, checkpointSize));
  return dir;
}

function editLines(dir: string, edit: (lines: string[]) => string[]): void {
  const file = join(dir, EXPORT_EVENTS_FILE);
  const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
  writeFileSync(file, `${edit(lines).join('\n')}\n`);
}

describe('offline export verification', () => {
  let events: AuditEvent[];
  let dir: string;
  beforeEach(async () => {
    events = makeEvents(23);
    dir = await exportDir(events);
  });

  it('accepts an intact export', async () => {
    expect(await verifyAuditExport(dir, signer.text)).toMatchObject({
      ok: true,
      checked: 23,
      uncovered: 0,
      checkpoint: { origin, treeSize: 23 },
      firstInvalidSeq: null,
    });
  });

  it('accepts events newer than the checkpoint, reporting them as uncovered', async () => {
    const newer = await exportDir(events, 20);
    expect(await verifyAuditExport(newer, signer.text)).toMatchObject({ ok: true, checked: 23, uncovered: 3 });
  });

  it('rejects an edited event (and names it)', async () => {
    editLines(dir, (lines) => lines.map((l, i) => (i === 6 ? l.replace('"attempt":6', '"attempt":60') : l)));
    expect(await verifyAuditExport(dir, signer.text)).toMatchObject({ ok: false, firstInvalidSeq: 7 });
  });

  it('rejects an edited event whose leafHash field was dropped', async () => {
    editLines(dir, (lines) =>
      lines.map((l) => {
        const e = JSON.parse(l) as Record<string, unknown>;
        delete e.leafHash;
        if (e.seq === 9) e.ip = '203.0.113.9';
        return JSON.stringify(e);
      }),
    );
    const result = await verifyAuditExport(dir, signer.text);
    expect(result.ok).toBe(false);
    expect(result.reason).toMatch(/do not match the signed checkpoint/);
  });

  it('rejects a deleted, a reordered and an inserted event', async () => {
    editLines(dir, (lines) => lines.filter((_, i) => i !== 4));
    expect(await verifyAuditExport(dir, signer.text)).toMatchObject({ ok: false, firstInvalidSeq: 5 });
    const swapped = await exportDir(events);
    editLines(swapped, (lines) => [lines[1] as string, lines[0] as string, ...lines.slice(2)]);
    expect(await verifyAuditExport(swapped, signer.text)).toMatchObject({ ok: false, firstInvalidSeq: 1 });
    const inserted = await exportDir(events);
    editLines(inserted, (lines) => [...lines.slice(0, 3), lines[2] as string, ...lines.slice(3)]);
    expect(await verifyAuditExport(inserted, signer.text)).toMatchObject({ ok: false, firstInvalidSeq: 4 });
  });

  it('rejects a truncated export', async () => {
    editLines(dir, (lines) => lines.slice(0, 15));
    const result = await verifyAuditExport(dir, signer.text);
    expect(result).toMatchObject({ ok: false, firstInvalidSeq: 16 });
    expect(result.reason).toMatch(/truncated/);
  });

  it('rejects a checkpoint forged or signed by another key', async () => {
    const other = signerFromPrivateKey(origin, generateKeyPairSync('ed25519').privateKey);
    expect((await verifyAuditExport(dir, other.text)).reason).toMatch(/not signed/);
    const file = join(dir, EXPORT_CHECKPOINT_FILE);
    writeFileSync(file, readFileSync(file, 'utf8').replace('\n23\n', '\n22\n'));
    expect((await verifyAuditExport(dir, signer.text)).reason).toMatch(/signature/);
    expect((await verifyAuditExport(dir, 'garbage')).ok).toBe(false);
  });

  it('rejects malformed lines', async () => {
    editLines(dir, (lines) => [...lines.slice(0, 2), '{"seq":3}', ...lines.slice(3)]);
    expect(await verifyAuditExport(dir, signer.text)).toMatchObject({ ok: false, firstInvalidSeq: 3 });
  });
});
