/** How users, sessions and audit events look in the CLI's human (non --json) output. */
import type { AuditEvent, Session, User } from '@gatehouse/client';
import { print, type CliIO } from './io.js';

/** What a table cell can show. */
export type Cell = string | number | boolean | Date | null | undefined;

function cell(value: Cell): string {
  if (value === null || value === undefined) return '-';
  if (value instanceof Date) return value.toISOString();
  return String(value);
}

/** A plain aligned table. */
export function printTable(io: CliIO, columns: readonly string[], rows: readonly (readonly Cell[])[]): void {
  const text = [columns, ...rows.map((row) => row.map(cell))];
  const widths = columns.map((_, i) => Math.max(...text.map((row) => String(row[i] ?? '').length)));
  for (const row of text) {
    print(
      io,
      row
        .map((value, i) => String(value).padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd(),
    );
  }
}

export const userColumns = ['id', 'email', 'username', 'name', 'role', 'active', 'last sign-in'] as const;

export const userRow = (u: User): Cell[] => [
  u.id,
  u.email,
  u.username,
  u.name,
  u.role,
  u.isActive ? 'yes' : 'no',
  u.lastSignInAt,
];

export const sessionColumns = ['id', 'created', 'expires', 'last seen', 'ip', 'user agent', 'current'] as const;

export const sessionRow = (s: Session): Cell[] => [
  s.id,
  s.createdAt,
  s.expiresAt,
  s.lastSeenAt,
  s.ip,
  s.userAgent,
  s.current ? 'yes' : '',
];

/** One audit event on one tab-separated line (`audit tail`). */
export const eventLine = (e: AuditEvent) =>
  `${e.seq}\t${e.at.toISOString()}\t${e.type}\tactor=${e.actorId ?? '-'}\ttarget=${e.targetId ?? '-'}\t${JSON.stringify(e.data)}`;
