/**
 * `audit.activity` on a big log (#19, architecture §20), on SQLite and PostgreSQL.
 *
 *   pnpm --filter @gatehouse/bench exec tsx audit/activity.ts [--events 1000000] [--days 90] [--runs 5]
 *
 * Fills audit_events with `--events` rows spread evenly over the last `--days` days (a mix of
 * types like a busy deployment's: 30 % sign-ins, 4 % failed sign-ins, 1 % MFA failures, 1 %
 * throttled, 1 % new users, the rest other events), then times `auditActivity` for 90 daily and
 * 48 hourly buckets (median of `--runs`), prints each dialect's query plan, and does the same with
 * migration 013's (type, at) index dropped, to show what it buys. The leaf hashes are dummies: no
 * tree is built (this measures the aggregation only). PostgreSQL is TEST_POSTGRES_URL, as the tests'.
 */
import { parseArgs } from 'node:util';
import { cpus } from 'node:os';
import { sql, withTransaction, type Db, type DialectName } from '@gatehouse/db';
import { createMigratedTestDb, testDialects } from '@gatehouse/db/testing';
import { ManualClock } from '../../packages/api/src/clock.js';
import { auditActivity } from '../../packages/api/src/audit/activity.js';

const { values: args } = parseArgs({
  options: {
    events: { type: 'string', default: '1000000' },
    days: { type: 'string', default: '90' },
    runs: { type: 'string', default: '5' },
  },
});
const TOTAL = Number(args.events);
const DAYS = Number(args.days);
const RUNS = Number(args.runs);
const NOW = Date.parse('2026-06-01T12:00:00.000Z');
const clock = new ManualClock(new Date(NOW));

function typeOf(i: number): string {
  const r = i % 100;
  if (r < 30) return 'auth.sign_in';
  if (r < 34) return 'auth.sign_in_failed';
  if (r < 35) return 'auth.mfa_failed';
  if (r < 36) return 'auth.throttled';
  if (r < 37) return 'user.created';
  return ['user.updated', 'auth.sign_out', 'session.revoked', 'auth.profile_updated'][r % 4] as string;
}

async function populate(db: Db): Promise<void> {
  const BATCH = 2000;
  const span = DAYS * 86_400_000;
  const leaf = Buffer.alloc(32);
  await withTransaction(db, async (trx) => {
    for (let b = 0; b < TOTAL; b += BATCH) {
      const rows = [];
      for (let seq = b + 1; seq <= Math.min(TOTAL, b + BATCH); seq++) {
        rows.push({
          seq,
          at: new Date(NOW - span + Math.floor((seq * span) / TOTAL)),
          type: typeOf(seq),
          actor_id: `user_${seq % 1000}`,
          target_id: null,
          ip: '203.0.113.7',
          user_agent: 'bench',
          data: '{}',
          leaf_hash: leaf,
        });
      }
      await trx.insertInto('audit_events').values(rows).execute();
    }
  });
  if (db.dialect === 'postgres') await sql`vacuum analyze audit_events`.execute(db.kysely);
  else await sql`analyze`.execute(db.kysely);
}

async function time(db: Db, interval: 'hour' | 'day'): Promise<{ median: number; rows: number }> {
  const times: number[] = [];
  let rows = 0;
  for (let i = 0; i < RUNS; i++) {
    const start = process.hrtime.bigint();
    const result = await auditActivity(
      { db, clock },
      { interval, from: new Date(NOW - (interval === 'day' ? 89 * 86_400_000 : 47 * 3_600_000)) },
    );
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
    rows = Object.values(result.totals).reduce((a, b) => a + b, 0);
  }
  times.sort((a, b) => a - b);
  return { median: times[Math.floor(times.length / 2)] as number, rows };
}

/** The plan of the day query (the same statement auditActivity runs). */
async function plan(db: Db): Promise<string> {
  const from = new Date(NOW - 89 * 86_400_000).toISOString();
  const to = new Date(NOW + 86_400_000).toISOString();
  const types = `'auth.sign_in','auth.sign_in_failed','auth.mfa_failed','auth.throttled','auth.setup','auth.sign_up','user.created','auth.invitation_accepted','user.imported'`;
  if (db.dialect === 'postgres') {
    const r = await sql
      .raw<{
        'QUERY PLAN': string;
      }>(
        `explain (analyze, costs off, timing off) select type, cast(floor((date_part('epoch', at) - ${Date.parse(from) / 1000}) / 86400) as integer) as bucket, count(*) from audit_events where type in (${types}) and at >= '${from}' and at < '${to}' group by type, bucket`,
      )
      .execute(db.kysely);
    return r.rows.map((row) => row['QUERY PLAN']).join('\n');
  }
  const r = await sql
    .raw<{
      detail: string;
    }>(
      `explain query plan select type, cast((unixepoch(at) - ${Date.parse(from) / 1000}) / 86400 as integer) as bucket, count(*) from audit_events where type in (${types}) and at >= '${from}' and at < '${to}' group by type, bucket`,
    )
    .execute(db.kysely);
  return r.rows.map((row) => row.detail).join('\n');
}

const table: string[] = [];
for (const dialect of testDialects as DialectName[]) {
  const test = await createMigratedTestDb(dialect);
  const db = test.db;
  try {
    let start = process.hrtime.bigint();
    await populate(db);
    console.error(
      `${dialect}: ${TOTAL} events written in ${(Number(process.hrtime.bigint() - start) / 1e9).toFixed(1)} s`,
    );
    console.log(`\n${dialect} plan (with audit_events_type_at):\n${await plan(db)}`);
    for (const interval of ['day', 'hour'] as const) {
      const t = await time(db, interval);
      table.push(
        `| ${dialect} | ${interval === 'day' ? '90 days' : '48 hours'} | ${t.rows.toLocaleString('en')} | ${t.median.toFixed(1)} ms | with (type, at) |`,
      );
    }
    await sql`drop index audit_events_type_at`.execute(db.kysely);
    if (dialect === 'postgres') await sql`analyze audit_events`.execute(db.kysely);
    else await sql`analyze`.execute(db.kysely);
    console.log(`\n${dialect} plan (without it):\n${await plan(db)}`);
    for (const interval of ['day', 'hour'] as const) {
      start = process.hrtime.bigint();
      const t = await time(db, interval);
      table.push(
        `| ${dialect} | ${interval === 'day' ? '90 days' : '48 hours'} | ${t.rows.toLocaleString('en')} | ${t.median.toFixed(1)} ms | without |`,
      );
    }
  } finally {
    await test.cleanup();
  }
}
console.log(
  `\n${TOTAL.toLocaleString('en')} events over ${DAYS} days; ${cpus().length} × ${cpus()[0]?.model ?? '?'}, Node ${process.version}; median of ${RUNS}\n`,
);
console.log('| dialect | range | events counted | time | index |\n|---|---|---|---|---|');
console.log(table.join('\n'));
