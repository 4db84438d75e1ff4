/** The one load generator of every HTTP benchmark: autocannon's programmatic API. */
import autocannon from 'autocannon';

export interface LoadOptions {
  url: string;
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
  connections?: number;
  /** Seconds. */
  duration?: number;
  /** Requests per second over all connections (open-loop latency probe); unset = as fast as possible. */
  overallRate?: number;
}

export interface LoadResult {
  rps: number;
  p50: number;
  p99: number;
  requests: number;
  non2xx: number;
  errors: number;
  /** Status code → count, for the non-2xx answers. */
  statuses: Record<string, number>;
}

export async function load(options: LoadOptions): Promise<LoadResult> {
  const result = await autocannon({
    url: options.url,
    method: options.method ?? 'GET',
    headers: options.headers ?? {},
    ...(options.body !== undefined ? { body: options.body } : {}),
    connections: options.connections ?? 10,
    duration: options.duration ?? 5,
    ...(options.overallRate !== undefined ? { overallRate: options.overallRate } : {}),
    pipelining: 1,
  });
  const statuses: Record<string, number> = {};
  for (const [code, stat] of Object.entries(result.statusCodeStats ?? {})) {
    if (!code.startsWith('2')) statuses[code] = stat.count ?? 0;
  }
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    requests: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors,
    statuses,
  };
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? at(sorted, mid) : (at(sorted, mid - 1) + at(sorted, mid)) / 2;
}

/** `items[key]`, or an error naming the key: the bench's lists and tables have no holes. */
export function at<T>(items: readonly T[] | Readonly<Record<string, T>>, key: number | string): T {
  const value = (items as Readonly<Record<string | number, T | undefined>>)[key];
  if (value === undefined) throw new Error(`bench: no entry ${String(key)}`);
  return value;
}
