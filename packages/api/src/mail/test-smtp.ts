/**
 * A real SMTP server on loopback for tests (smtp-server), every mail it receives parsed with
 * mailparser. Never a mock: the mails go through nodemailer, the network and a real parser.
 *
 * ```ts
 * const smtp = await startTestSmtp();
 * const config = { mail: smtp.mailConfig() };     // smtp://127.0.0.1:<port>
 * const mail = await smtp.next((m) => m.to === 'ada@example.com');
 * await smtp.stop();  await smtp.start();          // an outage, then the same port again
 * ```
 */
import type { AddressInfo } from 'node:net';
import { simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import type { MailConfig } from '../config.js';

export interface ReceivedMail {
  from: string;
  to: string;
  subject: string;
  text: string;
  html: string;
  /** Every http(s) link in the text part. */
  links: string[];
}

export interface TestSmtp {
  readonly port: number;
  readonly received: ReceivedMail[];
  mailConfig(from?: string): MailConfig;
  /** The first mail (already received or arriving within `timeoutMs`) matching `match`. */
  next(match?: (mail: ReceivedMail) => boolean, timeoutMs?: number): Promise<ReceivedMail>;
  stop(): Promise<void>;
  /** Listens again on the same port (after `stop`). */
  start(): Promise<void>;
}

export interface TestSmtpOptions {
  /** Require AUTH PLAIN/LOGIN with these credentials (plain text on loopback is allowed). */
  auth?: { user: string; pass: string };
}

export async function startTestSmtp(options: TestSmtpOptions = {}): Promise<TestSmtp> {
  const received: ReceivedMail[] = [];
  const waiters = new Set<() => void>();
  let server: SMTPServer | null = null;
  let port = 0;

  const listen = async () => {
    const auth = options.auth;
    const instance = new SMTPServer({
      authOptional: !auth,
      allowInsecureAuth: true,
      disabledCommands: auth ? ['STARTTLS'] : ['STARTTLS', 'AUTH'],
      logger: false,
      onAuth(credentials, _session, callback) {
        if (auth && credentials.username === auth.user && credentials.password === auth.pass) {
          callback(null, { user: credentials.username });
        } else {
          callback(new Error('Invalid username or password'));
        }
      },
      onData(stream, _session, callback) {
        simpleParser(stream)
          .then((parsed) => {
            const text = parsed.text ?? '';
            const to = Array.isArray(parsed.to) ? parsed.to.map((a) => a.text).join(', ') : (parsed.to?.text ?? '');
            received.push({
              from: parsed.from?.text ?? '',
              to,
              subject: parsed.subject ?? '',
              text,
              html: typeof parsed.html === 'string' ? parsed.html : '',
              links: text.match(/https?:\/\/[^\s<>"]+/g) ?? [],
            });
            for (const wake of waiters) wake();
            callback();
          })
          .catch((error: unknown) => callback(error instanceof Error ? error : new Error(String(error))));
      },
    });
    instance.on('error', () => {});
    await new Promise<void>((resolve, reject) => {
      instance.server.once('error', reject);
      instance.listen(port, '127.0.0.1', () => resolve());
    });
    port = (instance.server.address() as AddressInfo).port;
    server = instance;
  };
  await listen();

  return {
    get port() {
      return port;
    },
    received,
    mailConfig: (from = 'Gatehouse <gatehouse@example.test>') => ({
      transport: 'smtp',
      url: `smtp://127.0.0.1:${port}`,
      password: null,
      from,
    }),
    async next(match = () => true, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = received.find(match);
        if (found) return found;
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`no matching mail within ${timeoutMs} ms (received ${received.length})`);
        await new Promise<void>((resolve) => {
          const wake = () => {
            waiters.delete(wake);
            clearTimeout(timer);
            resolve();
          };
          const timer = setTimeout(wake, left);
          waiters.add(wake);
        });
      }
    },
    async stop() {
      const current = server;
      server = null;
      if (current) await new Promise<void>((resolve) => current.close(() => resolve()));
    },
    start: listen,
  };
}

/** The token in a mailed dashboard link (`…/#/<screen>/<token>`). */
export function tokenFromLink(link: string): string {
  const match = /#\/[a-z-]+\/([^\s/]+)$/.exec(link);
  if (!match?.[1]) throw new Error(`not a Gatehouse link: ${link}`);
  return decodeURIComponent(match[1]);
}
