import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import type { Db } from './database.js';
import { COLUMN_KINDS, type ColumnKind, type Database } from './schema.js';
import { createMigratedTestDb, testDialects } from './testing.js';

type TableName = keyof Database;

/** Tables in the order their foreign keys allow inserting them. */
const TABLES = Object.keys(COLUMN_KINDS) as TableName[];

/** Values that satisfy a column's constraints; every other column gets a value of its kind. */
const FIXED: Partial<Record<TableName, Record<string, (row: number) => unknown>>> = {
  users: { role: () => 'member', id: (row) => `user-${row}` },
  sessions: { user_id: (row) => `user-${row}` },
  audit_head: { id: () => 1 },
  invalidations: { kind: () => 'user' },
  // ---- email flows (migration 006) ----
  mail_outbox: { status: () => 'pending' },
  account_tokens: { user_id: (row) => `user-${row}`, purpose: () => 'password_reset' },
  invitations: { role: () => 'member', invited_by: (row) => `user-${row}`, accepted_user_id: (row) => `user-${row}` },
  // issue 15 (MFA)
  totp_factors: { user_id: (row) => `user-${row}` },
  recovery_codes: { user_id: (row) => `user-${row}` },
  passkeys: { user_id: (row) => `user-${row}`, device_type: () => 'singleDevice' },
  mfa_challenges: { user_id: (row) => `user-${row}`, purpose: () => 'sign_in' },
};
// #16 bridges: users.kind is checked; api keys belong to a user.
FIXED.users = { ...FIXED.users, kind: () => 'person' };
FIXED.api_keys = { user_id: (row) => `user-${row}` };
// #19 webhooks: an endpoint's creator is a user; deliveries belong to an endpoint; attempts start at 1.
FIXED.webhook_endpoints = { id: (row) => `wh-${row}`, created_by: (row) => `user-${row}` };
FIXED.webhook_deliveries = { endpoint_id: (row) => `wh-${row}`, attempt: (row) => row };

/** A distinct value of `kind` for row `row`, column number `index`: both booleans appear. */
function sample(kind: ColumnKind, table: string, column: string, row: number, index: number): unknown {
  switch (kind) {
    case 'timestamp':
      return new Date(Date.UTC(2026, 2, 1 + row, 12, index, 56, 789));
    case 'boolean':
      return (row + index) % 2 === 0;
    case 'bytes':
      return new Uint8Array([row, index, 0xff, 0x00]);
    case 'integer':
      return row * 100 + index;
    case 'text':
      return `${table}.${column}#${row}`;
  }
}

function sampleRow(table: TableName, row: number): Record<string, unknown> {
  const kinds = COLUMN_KINDS[table] as Record<string, ColumnKind>;
  return Object.fromEntries(
    Object.entries(kinds).map(([column, kind], index) => [
      column,
      FIXED[table]?.[column]?.(row) ?? sample(kind, table, column, row, index),
    ]),
  );
}

/** What SQLite stores each kind as (`typeof(column)`). */
const SQLITE_STORAGE: Record<ColumnKind, string> = {
  timestamp: 'text',
  boolean: 'integer',
  bytes: 'blob',
  integer: 'integer',
  text: 'text',
};

describe.each(testDialects)('every column of every table on %s', (dialect) => {
  let db: Db;
  let cleanup: () => Promise<void>;
  const written = new Map<TableName, Record<string, unknown>[]>();

  beforeAll(async () => {
    ({ db, cleanup } = await createMigratedTestDb(dialect));
    // The migration wrote the empty tree head; this test writes its own.
    await db.kysely.deleteFrom('audit_head').execute();
    for (const table of TABLES) {
      // audit_head holds a single row (id = 1).
      const rows = table === 'audit_head' ? [sampleRow(table, 1)] : [sampleRow(table, 1), sampleRow(table, 2)];
      await db.kysely.insertInto(table).values(rows).execute();
      written.set(table, rows);
    }
  });
  afterAll(async () => cleanup());

  it.each(TABLES)('%s reads back exactly what was written, as the types say', async (table) => {
    const rows = await db.kysely
      .selectFrom(table)
      .selectAll()
      .orderBy(sql.ref(Object.keys(COLUMN_KINDS[table])[0] as string))
      .execute();
    const normalized = rows.map((row) =>
      Object.fromEntries(
        Object.entries(row).map(([column, value]) => [
          column,
          // Both drivers return Buffers for bytes; compare the bytes.
          value instanceof Uint8Array ? new Uint8Array(value) : value,
        ]),
      ),
    );
    expect(normalized).toEqual(written.get(table));
    for (const row of rows) {
      for (const [column, kind] of Object.entries(COLUMN_KINDS[table] as Record<string, ColumnKind>)) {
        const value = (row as Record<string, unknown>)[column];
        if (kind === 'timestamp') expect(value, `${table}.${column}`).toBeInstanceOf(Date);
        if (kind === 'boolean') expect(typeof value, `${table}.${column}`).toBe('boolean');
      }
    }
  });

  it('audit_events.at is a Date, also under an alias and from RETURNING', async () => {
    const [first] = written.get('audit_events') ?? [];
    const row = await db.kysely
      .selectFrom('audit_events')
      .select(['at', 'audit_events.at as event_time'])
      .where('seq', '=', first?.seq as number)
      .executeTakeFirstOrThrow();
    expect(row.at).toBeInstanceOf(Date);
    expect(row).toEqual({ at: first?.at, event_time: first?.at });

    const updated = await db.kysely
      .updateTable('audit_events')
      .set({ at: new Date('2027-01-02T03:04:05.006Z') })
      .where('seq', '=', first?.seq as number)
      .returning(['at', 'type'])
      .executeTakeFirstOrThrow();
    expect(updated.at).toEqual(new Date('2027-01-02T03:04:05.006Z'));
  });

  it('leaves computed columns as the database computes them', async () => {
    const row = await db.kysely
      .selectFrom('users')
      .select((eb) => [eb.fn.countAll<number>().as('n')])
      .executeTakeFirstOrThrow();
    expect(Number(row.n)).toBe(2);
  });

  it.runIf(dialect === 'sqlite')('stores each kind in its SQLite form', async () => {
    for (const table of TABLES) {
      for (const [column, kind] of Object.entries(COLUMN_KINDS[table] as Record<string, ColumnKind>)) {
        const result = await sql<{
          storage: string;
        }>`select typeof(${sql.ref(column)}) as storage from ${sql.table(table)}`.execute(db.kysely);
        expect(
          result.rows.map((r) => r.storage),
          `${table}.${column}`,
        ).toEqual(result.rows.map(() => SQLITE_STORAGE[kind]));
      }
    }
  });
});
