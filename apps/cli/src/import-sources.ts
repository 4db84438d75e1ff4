/**
 * Where `gatehouse import users` reads the old users from: a CSV or JSON Lines file, a SQLite
 * file, or a PostgreSQL database (with `--query`, default `select * from users`). Each source
 * gives its column names first (for the mapping) and then its records one at a time; a record it
 * cannot read is an ImportSourceError with its row number, which stops the import writing nothing.
 */
import { createReadStream } from 'node:fs';
import { access } from 'node:fs/promises';
import { basename, extname } from 'node:path';
import { createInterface } from 'node:readline';
import { parse as parseCsv, CsvError } from 'csv-parse';
import pg from 'pg';
import { ImportSourceError, type SourceRecord } from '@gatehouse/api';
import { BetterSqlite3 } from '@gatehouse/db';
import { CliError, UsageError } from './io.js';

export interface ImportSource {
  /** What the audit log records as the source: the kind and a file or database name, no credentials. */
  label: string;
  columns: string[];
  records: AsyncIterable<SourceRecord>;
  close(): Promise<void>;
}

export interface SourceOptions {
  file?: string | undefined;
  from?: string | undefined;
  query?: string | undefined;
  format?: 'csv' | 'jsonl' | undefined;
}

const DEFAULT_QUERY = 'select * from users';

async function readable(path: string): Promise<void> {
  try {
    await access(path);
  } catch {
    throw new CliError(`cannot read ${path}`);
  }
}

/** A CSV file with a header row. Row n is the n-th data row (the header is not counted). */
async function csvSource(path: string): Promise<ImportSource> {
  await readable(path);
  const options = { bom: true, skip_empty_lines: true, relax_column_count: false } as const;
  let header: string[] = [];
  try {
    for await (const record of createReadStream(path).pipe(parseCsv({ ...options, to: 1 })))
      header = record as string[];
  } catch (error) {
    throw new CliError(error instanceof CsvError ? `${path}: unreadable CSV header: ${error.message}` : String(error));
  }
  if (header.length === 0) throw new CliError(`${path} is empty: a CSV import needs a header row`);
  if (new Set(header).size !== header.length) throw new CliError(`${path}: the header names a column twice`);
  // Made when reading starts (not before the database is opened): a parser with nobody
  // iterating it yet would raise its first error as an unhandled 'error' event.
  let parser: ReturnType<typeof parseCsv> | undefined;
  async function* records(): AsyncGenerator<SourceRecord> {
    let row = 0;
    const reading = createReadStream(path).pipe(parseCsv({ ...options, from: 2 }));
    parser = reading;
    try {
      for await (const values of reading) {
        row++;
        const record = values as string[];
        yield Object.fromEntries(header.map((column, i) => [column, record[i]]));
      }
    } catch (error) {
      if (!(error instanceof CsvError)) throw error;
      // csv-parse counts the header among its records: the failing data row is `records`.
      const failing = typeof error.records === 'number' ? Math.max(error.records, row + 1) : row + 1;
      throw new ImportSourceError(failing, `unreadable CSV: ${error.message}`);
    }
  }
  return {
    label: `csv:${basename(path)}`,
    columns: header,
    records: records(),
    close: async () => void parser?.destroy(),
  };
}

/** One JSON object per line; blank lines are skipped. Row n is the n-th object. */
async function jsonlSource(path: string): Promise<ImportSource> {
  await readable(path);
  const lines = createInterface({ input: createReadStream(path), crlfDelay: Infinity })[Symbol.asyncIterator]();
  const parse = (line: string, row: number): SourceRecord => {
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw new ImportSourceError(row, 'not valid JSON');
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new ImportSourceError(row, 'not a JSON object');
    }
    return value as SourceRecord;
  };
  let row = 0;
  let first: SourceRecord | undefined;
  let pendingError: ImportSourceError | undefined;
  for (;;) {
    const next = await lines.next();
    if (next.done) break;
    if (next.value.trim() === '') continue;
    row++;
    try {
      first = parse(next.value, row);
    } catch (error) {
      if (!(error instanceof ImportSourceError)) throw error;
      pendingError = error;
    }
    break;
  }
  async function* records(): AsyncGenerator<SourceRecord> {
    if (pendingError) throw pendingError;
    if (first) yield first;
    for (;;) {
      const next = await lines.next();
      if (next.done) return;
      if (next.value.trim() === '') continue;
      row++;
      yield parse(next.value, row);
    }
  }
  // The columns the mapping can name: those of the first object (others may omit some).
  return {
    label: `jsonl:${basename(path)}`,
    columns: first ? Object.keys(first) : [],
    records: records(),
    close: async () => void (await lines.return?.()),
  };
}

/** The old application's SQLite file, opened read-only; `query` runs as given. */
async function sqliteSource(path: string, query: string): Promise<ImportSource> {
  await readable(path);
  let db: InstanceType<typeof BetterSqlite3>;
  let statement: ReturnType<InstanceType<typeof BetterSqlite3>['prepare']>;
  try {
    db = new BetterSqlite3(path, { readonly: true, fileMustExist: true });
    statement = db.prepare(query);
  } catch (error) {
    throw new CliError(`${path}: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (!statement.reader) {
    db.close();
    throw new UsageError('--query must be a select that returns rows');
  }
  const columns = statement.columns().map((c) => c.name);
  async function* records(): AsyncGenerator<SourceRecord> {
    await Promise.resolve();
    for (const row of statement.iterate([])) yield row as SourceRecord;
  }
  return { label: `sqlite:${basename(path)}`, columns, records: records(), close: async () => void db.close() };
}

/** The old application's PostgreSQL database; the query's rows are read in one go. */
async function postgresSource(url: string, query: string): Promise<ImportSource> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError('--from postgres://… is not a valid URL');
  }
  const label = `postgres:${parsed.hostname}${parsed.port ? `:${parsed.port}` : ''}${parsed.pathname}`;
  const client = new pg.Client({ connectionString: url });
  let result: pg.QueryResult<Record<string, unknown>>;
  try {
    await client.connect();
    // Nothing of the old database is changed: the query runs in a read-only transaction.
    await client.query('begin transaction read only');
    result = await client.query<Record<string, unknown>>(query);
    await client.query('rollback');
  } catch (error) {
    await client.end().catch(() => undefined);
    // pg's messages name the server's complaint, never the password of the URL.
    throw new CliError(`${label}: ${error instanceof Error ? error.message : String(error)}`);
  }
  await client.end();
  if (!Array.isArray(result.fields) || result.fields.length === 0)
    throw new UsageError('--query must be a select that returns rows');
  const rows = result.rows;
  async function* records(): AsyncGenerator<SourceRecord> {
    await Promise.resolve();
    yield* rows;
  }
  return { label, columns: result.fields.map((f) => f.name), records: records(), close: async () => undefined };
}

export async function openSource(options: SourceOptions): Promise<ImportSource> {
  if (options.from !== undefined && options.file !== undefined) {
    throw new UsageError('give either a file or --from, not both');
  }
  if (options.from !== undefined) {
    const query = options.query ?? DEFAULT_QUERY;
    if (options.from.startsWith('file:')) return sqliteSource(options.from.slice('file:'.length), query);
    if (/^postgres(ql)?:\/\//.test(options.from)) return postgresSource(options.from, query);
    throw new UsageError('--from must be file:<sqlite path> or postgres://…');
  }
  if (options.query !== undefined)
    throw new UsageError('--query needs --from (a SQLite file or a PostgreSQL database)');
  if (options.file === undefined) throw new UsageError('name a CSV or JSON Lines file, or --from a database');
  const ext = extname(options.file).toLowerCase();
  const format =
    options.format ?? (ext === '.jsonl' || ext === '.ndjson' ? 'jsonl' : ext === '.csv' ? 'csv' : undefined);
  if (format === undefined) throw new UsageError(`cannot tell the format of ${options.file}: use --format csv|jsonl`);
  return format === 'csv' ? csvSource(options.file) : jsonlSource(options.file);
}
