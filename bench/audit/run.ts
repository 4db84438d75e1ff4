/**
 * Audit log benchmark on SQLite (architecture §8 targets: verify 1M events ≤ 5 s, a proof at 1M ≤ 20 ms).
 *
 *   pnpm --filter @gatehouse/bench exec tsx audit/run.ts [--events 1000000] [--appends 2000]
 *
 * 1. append rate: real `AuditService.append` calls, one transaction each (WAL, synchronous=FULL)
 * 2. verify at 100k and at the full size (default 1M): the log is populated in bulk (batched
 *    inserts in one transaction, with the leaf hashes, stored subtree nodes, head and a signed
 *    checkpoint every 100 events exactly as appends and the checkpointer would write them)
 * 3. inclusion and consistency proofs at the full size (random seqs)
 *
 * Prints a Markdown table for docs/benchmarks.md. Everything lives in a temp dir, removed at the end.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createDb, migrateToLatest, withTransaction, type Db } from '@gatehouse/db';
import { ManualClock } from '../../packages/api/src/clock.js';
import { signCheckpoint, signerFromPrivateKey } from '../../packages/api/src/audit/checkpoint.js';
import { leafHash, normalizeData } from '../../packages/api/src/audit/leaf.js';
import { CompactRange, fromHex, verifyConsistency, verifyInclusion } from '../../packages/api/src/audit/merkle.js';
import { AuditService } from '../../packages/api/src/audit/service.js';
import { isStoredLevel } from '../../packages/api/src/audit/store.js';

const { values: args } = parseArgs({
  options: {
    events: { type: 'string', default: '1000000' },
    appends: { type: 'string', default: '2000' },
    proofs: { type: 'string', default: '200' },
  },
});
const TOTAL = Number(args.events);
const APPENDS = Number(args.appends);
const PROOFS = Number(args.proofs);

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-audit-'));
const signer = signerFromPrivateKey('gatehouse/bench.local', generateKeyPairSync('ed25519').privateKey);
const rows: string[][] = [];

function ms(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e6;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

function sampleEvent(i: number) {
  return {
    type: i % 3 === 0 ? 'auth.sign_in' : 'user.updated',
    actorId: `user_${i % 1000}`,
    targetId: `user_${(i * 7) % 1000}`,
    ip: '203.0.113.7',
    userAgent: 'Mozilla/5.0 (X11; Linux x86_64) bench',
    data: { i, changes: ['name', 'email'], via: 'dashboard' },
  } as const;
}

async function openDb(name: string): Promise<Db> {
  const db = createDb(`file:${join(dir, name)}`);
  await migrateToLatest(db);
  return db;
}

/** Bulk-writes events [from, to) the way appends + the checkpointer would, in one transaction. */
async function populate(db: Db, range: CompactRange, from: number, to: number, start: number): Promise<void> {
  const BATCH = 2000; // 9 columns × 2000 rows stays under SQLite's 32766 bound parameters
  await withTransaction(db, async (trx) => {
    for (let b = from; b < to; b += BATCH) {
      const events = [];
      const nodes: { level: number; idx: number; hash: Buffer }[] = [];
      const checkpoints = [];
      for (let seq = b + 1; seq <= Math.min(to, b + BATCH); seq++) {
        const e = sampleEvent(seq);
        const data = normalizeData(e.data);
        const at = new Date(start + seq * 1000);
        const hash = leafHash({
          seq,
          at,
          type: e.type,
          actorId: e.actorId,
          targetId: e.targetId,
          ip: e.ip,
          userAgent: e.userAgent,
          data: data.value,
        });
        range.append(hash, (level, idx, h) => {
          if (isStoredLevel(level)) nodes.push({ level, idx, hash: h });
        });
        events.push({
          seq,
          at,
          type: e.type,
          actor_id: e.actorId,
          target_id: e.targetId,
          ip: e.ip,
          user_agent: e.userAgent,
          data: data.json,
          leaf_hash: hash,
        });
        if (seq % 100 === 0) {
          const root = range.root();
          const note = signCheckpoint({ origin: signer.name, treeSize: seq, rootHash: root }, signer);
          checkpoints.push({ tree_size: seq, root_hash: root, origin: signer.name, note, signed_at: at });
        }
      }
      await trx.insertInto('audit_events').values(events).execute();
      if (nodes.length > 0) await trx.insertInto('audit_nodes').values(nodes).execute();
      if (checkpoints.length > 0) await trx.insertInto('audit_checkpoints').values(checkpoints).execute();
    }
    await trx
      .updateTable('audit_head')
      .set({ tree_size: range.size, frontier: range.serialize(), root_hash: range.root() })
      .where('id', '=', 1)
      .execute();
  });
}

async function benchAppend(): Promise<void> {
  const db = await openDb('append.db');
  const audit = new AuditService({
    db,
    clock: new ManualClock(),
    config: { publicOrigin: 'http://bench.local', auditKeyFile: '' },
    signer,
  });
  try {
    for (let i = 0; i < 50; i++) await withTransaction(db, (trx) => audit.append(trx, sampleEvent(i))); // warm-up
    const start = process.hrtime.bigint();
    for (let i = 0; i < APPENDS; i++) await withTransaction(db, (trx) => audit.append(trx, sampleEvent(i)));
    const elapsed = ms(start);
    rows.push([
      'append (own transaction each, WAL + synchronous=FULL)',
      `${APPENDS} events`,
      `${Math.round((APPENDS / elapsed) * 1000)} events/s`,
      `${(elapsed / APPENDS).toFixed(3)} ms/event`,
    ]);
    const v = await audit.verify();
    if (!v.ok) throw new Error(`append log does not verify: ${v.reason}`);
  } finally {
    await audit.close();
    await db.close();
  }
}

async function benchVerify(audit: AuditService, size: number): Promise<void> {
  const runs: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < 3; i++) {
    const start = process.hrtime.bigint();
    const cpuStart = process.cpuUsage();
    const result = await audit.verify();
    runs.push(ms(start));
    const used = process.cpuUsage(cpuStart);
    cpu.push((used.user + used.system) / 1e6);
    if (!result.ok || result.checked !== size) throw new Error(`verify failed at ${size}: ${result.reason}`);
  }
  runs.sort((a, b) => a - b);
  cpu.sort((a, b) => a - b);
  rows.push([
    `verify (${size / 100} signed checkpoints)`,
    `${size.toLocaleString('en-US')} events`,
    `${(percentile(runs, 50) / 1000).toFixed(2)} s (median of 3)`,
    `best ${((runs[0] as number) / 1000).toFixed(2)} s; CPU ${(cpu[0] as number).toFixed(2)} s (all threads)`,
  ]);
}

async function benchProofs(audit: AuditService, size: number): Promise<void> {
  const inclusion: number[] = [];
  const consistency: number[] = [];
  for (let i = 0; i < PROOFS; i++) {
    const seq = 1 + Math.floor(Math.random() * size);
    let start = process.hrtime.bigint();
    const p = await audit.log.inclusionProof(seq);
    inclusion.push(ms(start));
    if (!verifyInclusion(p.leafIndex, p.treeSize, fromHex(p.leafHash), p.proof.map(fromHex), fromHex(p.rootHash)))
      throw new Error('bad inclusion proof');
    start = process.hrtime.bigint();
    const c = await audit.log.consistencyProof(seq);
    consistency.push(ms(start));
    if (!verifyConsistency(c.fromSize, c.toSize, fromHex(c.fromRoot), fromHex(c.toRoot), c.proof.map(fromHex)))
      throw new Error('bad consistency proof');
  }
  for (const [name, list] of [
    ['inclusion proof', inclusion],
    ['consistency proof (to head)', consistency],
  ] as const) {
    list.sort((a, b) => a - b);
    rows.push([
      name,
      `${size.toLocaleString('en-US')} events`,
      `${percentile(list, 50).toFixed(2)} ms p50`,
      `${percentile(list, 99).toFixed(2)} ms p99 (${PROOFS} random seqs)`,
    ]);
  }
}

async function main(): Promise<void> {
  await benchAppend();

  const db = await openDb('bulk.db');
  const audit = new AuditService({
    db,
    clock: new ManualClock(),
    config: { publicOrigin: 'http://bench.local', auditKeyFile: '' },
    signer,
  });
  try {
    const range = CompactRange.empty();
    const start = Date.UTC(2026, 0, 1);
    const first = Math.min(100_000, TOTAL);
    let t = process.hrtime.bigint();
    await populate(db, range, 0, first, start);
    console.error(`populated ${first} in ${(ms(t) / 1000).toFixed(1)} s`);
    await benchVerify(audit, first);
    if (TOTAL > first) {
      t = process.hrtime.bigint();
      await populate(db, range, first, TOTAL, start);
      console.error(`populated ${TOTAL} in ${(ms(t) / 1000).toFixed(1)} s`);
      await benchVerify(audit, TOTAL);
    }
    await benchProofs(audit, TOTAL);
  } finally {
    await audit.close();
    await db.close();
    if (!process.env.KEEP) rmSync(dir, { recursive: true, force: true });
  }

  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  console.log(`Machine: ${cpus().length} × ${cpu}, Node ${process.version}, SQLite (better-sqlite3) on ${tmpdir()}\n`);
  console.log('| operation | size | result | detail |');
  console.log('|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
}

await main();
