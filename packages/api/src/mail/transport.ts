/**
 * How a mail leaves Gatehouse: SMTP through nodemailer (SMTP_URL, SMTP_PASSWORD_FILE), or the
 * log (MAIL_TRANSPORT=log, development only). Only the worker (worker.ts) calls `send`; no request
 * ever waits on it.
 */
import type * as Nodemailer from 'nodemailer';
import type { MailConfig } from '../config.js';
import type { Logger } from '../logger.js';

export interface OutgoingMail {
  to: string;
  subject: string;
  text: string;
  html: string;
}

export interface MailTransport {
  readonly kind: 'smtp' | 'log';
  send(mail: OutgoingMail): Promise<void>;
  close(): void;
}

/** Connection limits: a hung SMTP server must fail the attempt (and be retried), not stall the worker. */
const SMTP_TIMEOUTS = { connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 30_000 } as const;

export function createMailTransport(config: MailConfig, logger: Logger): MailTransport {
  if (config.transport === 'log') {
    return {
      kind: 'log',
      send(mail) {
        // Development only (documented): the mail, links included, goes to the log.
        logger.info(
          { mail: { from: config.from, to: mail.to, subject: mail.subject, text: mail.text } },
          'mail (MAIL_TRANSPORT=log)',
        );
        return Promise.resolve();
      },
      close() {},
    };
  }
  const url = new URL(config.url);
  const secure = url.protocol === 'smtps:';
  const user = decodeURIComponent(url.username);
  const pass = config.password ?? decodeURIComponent(url.password);
  const options = {
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: url.port ? Number(url.port) : secure ? 465 : 587,
    secure,
    ...(user ? { auth: { user, pass } } : {}),
    ...SMTP_TIMEOUTS,
    // One connection per mail: nothing to keep alive between the worker's rounds.
    pool: false,
  };
  // nodemailer loads with the first mail, not when the server starts (issue 18: resident memory).
  let transporter: Promise<Nodemailer.Transporter> | undefined;
  let opened: Nodemailer.Transporter | undefined;
  const open = () =>
    (transporter ??= import('nodemailer').then((nodemailer) => (opened = nodemailer.createTransport(options))));
  return {
    kind: 'smtp',
    async send(mail) {
      await (
        await open()
      ).sendMail({
        from: config.from,
        to: mail.to,
        subject: mail.subject,
        text: mail.text,
        html: mail.html,
      });
    },
    close() {
      opened?.close();
    },
  };
}

/** A delivery error as the outbox keeps it: nodemailer's code and message, short, one line. */
export function describeDeliveryError(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as Error & { code?: unknown }).code;
    const text = `${typeof code === 'string' ? `${code}: ` : ''}${error.message}`;
    return text.replace(/\s+/g, ' ').slice(0, 300);
  }
  return 'unknown error';
}
