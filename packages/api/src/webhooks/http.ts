/**
 * One webhook POST: to the addresses the SSRF guard checked (a `lookup` that answers with them),
 * a timeout, no redirects followed (a 3xx is a failure), and at most a short excerpt of the
 * response read. The outcome's error text is short and says nothing of the server's internals.
 */
import { request as httpRequest, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';
import type { CheckedTarget } from './ssrf.js';

export interface PostOutcome {
  ok: boolean;
  status: number | null;
  /** Short and generic: `HTTP 500`, `connection refused`, `timed out after 10 s`… */
  error: string | null;
  excerpt: string | null;
  durationMs: number;
}

const EXCERPT_BYTES = 256;

function describe(error: unknown, timeoutMs: number): string {
  const code = typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : '';
  if (code === 'WEBHOOK_TIMEOUT') return `timed out after ${Math.round(timeoutMs / 1000)} s`;
  if (code === 'ECONNREFUSED') return 'connection refused';
  if (code === 'ECONNRESET' || code === 'EPIPE') return 'connection reset';
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH') return 'host unreachable';
  if (code.startsWith('ERR_TLS') || code.includes('CERT') || code.startsWith('ERR_SSL')) return 'TLS error';
  return 'network error';
}

export function postWebhook(
  target: CheckedTarget,
  headers: Record<string, string>,
  body: string,
  timeoutMs: number,
  now: () => number = Date.now,
): Promise<PostOutcome> {
  const started = now();
  const pinned = target.addresses[0];
  const lookup: LookupFunction = (_host, options, callback) => {
    if (!pinned) {
      callback(Object.assign(new Error('no address'), { code: 'ENOTFOUND' }), '', 4);
      return;
    }
    if (options.all) (callback as unknown as (e: null, a: typeof target.addresses) => void)(null, target.addresses);
    else callback(null, pinned.address, pinned.family);
  };
  const { url } = target;
  const options: RequestOptions = {
    method: 'POST',
    hostname: url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname,
    port: url.port || undefined,
    path: `${url.pathname}${url.search}`,
    headers: {
      ...headers,
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(body)),
      'user-agent': 'Gatehouse-Webhooks/1',
    },
    lookup,
    agent: false,
  };
  return new Promise((resolve) => {
    let settled = false;
    const finish = (outcome: Omit<PostOutcome, 'durationMs'>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ ...outcome, durationMs: Math.max(0, now() - started) });
    };
    const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)(options, (res) => {
      const status = res.statusCode ?? 0;
      const chunks: Buffer[] = [];
      let size = 0;
      const done = () => {
        const excerpt = Buffer.concat(chunks)
          .subarray(0, EXCERPT_BYTES)
          .toString('utf8')
          .replace(/[^\x20-\x7e]/g, ' ');
        const ok = status >= 200 && status < 300;
        finish({ ok, status, error: ok ? null : `HTTP ${status}`, excerpt: excerpt === '' ? null : excerpt });
        res.destroy();
      };
      res.on('data', (chunk: Buffer) => {
        if (size < EXCERPT_BYTES) chunks.push(chunk);
        size += chunk.length;
        if (size >= EXCERPT_BYTES) done();
      });
      res.on('end', done);
      res.on('error', done);
    });
    const timer = setTimeout(() => {
      req.destroy(Object.assign(new Error('timeout'), { code: 'WEBHOOK_TIMEOUT' }));
    }, timeoutMs);
    req.on('error', (error) => finish({ ok: false, status: null, error: describe(error, timeoutMs), excerpt: null }));
    req.end(body);
  });
}
