/**
 * A real webhook receiver on loopback for tests (node:http): records every request it answered
 * with a 2xx, answers `status` (set it to 503 to play "down"), and `next(predicate)` waits for a
 * matching request. Nothing here mocks the sender.
 */
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedWebhook {
  path: string;
  headers: Record<string, string>;
  body: string;
  /** The parsed JSON body. */
  json: { type: string; timestamp: string; data: Record<string, unknown> };
}

export interface TestWebhookReceiver {
  readonly port: number;
  /** `http://127.0.0.1:<port>` */
  readonly origin: string;
  /** The status answered from now on (default 200). */
  status: number;
  /** Requests answered with a 2xx, in arrival order. */
  readonly received: ReceivedWebhook[];
  /** Every request (also those answered with an error status). */
  readonly attempts: ReceivedWebhook[];
  next(predicate?: (r: ReceivedWebhook) => boolean): Promise<ReceivedWebhook>;
  stop(): Promise<void>;
}

function flat(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : v;
  return out;
}

export async function startTestWebhookReceiver(): Promise<TestWebhookReceiver> {
  const waiters: { predicate: (r: ReceivedWebhook) => boolean; resolve: (r: ReceivedWebhook) => void }[] = [];
  const state = { status: 200 };
  const received: ReceivedWebhook[] = [];
  const attempts: ReceivedWebhook[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let json: ReceivedWebhook['json'];
      try {
        json = JSON.parse(body) as ReceivedWebhook['json'];
      } catch {
        json = { type: '', timestamp: '', data: {} };
      }
      const entry: ReceivedWebhook = { path: req.url ?? '/', headers: flat(req.headers), body, json };
      attempts.push(entry);
      const status = state.status;
      if (status >= 200 && status < 300) {
        received.push(entry);
        for (const w of waiters.splice(0)) {
          if (w.predicate(entry)) w.resolve(entry);
          else waiters.push(w);
        }
      }
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end(status >= 200 && status < 300 ? 'ok' : 'receiver down');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    origin: `http://127.0.0.1:${port}`,
    get status() {
      return state.status;
    },
    set status(value: number) {
      state.status = value;
    },
    received,
    attempts,
    next(predicate = () => true) {
      const found = received.find(predicate);
      if (found) return Promise.resolve(found);
      return new Promise((resolve) => waiters.push({ predicate, resolve }));
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
