/**
 * Every mail Gatehouse sends, as plain text and HTML: the product's name, the PUBLIC_ORIGIN link
 * (when there is one) and nothing else — no images, no tracking pixels, no external resources.
 */
import type { OutgoingMail } from './transport.js';

const PRODUCT_NAME = 'Gatehouse';

export type MailKind =
  | 'password_reset'
  | 'invitation'
  | 'email_verification'
  | 'email_change'
  | 'notice_password_changed'
  | 'notice_email_changed'
  | 'notice_email_change_requested'
  | 'notice_new_sign_in'
  // ---- seams: MFA notices (issue 15) ----
  | 'notice_recovery_code_used'
  | 'notice_mfa_reset'
  | 'notice_mfa_changed';

export type NoticeKind = Extract<MailKind, `notice_${string}`>;

export interface TemplatedMail extends OutgoingMail {
  kind: MailKind;
}

function escapeHtml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c,
  );
}

interface Layout {
  kind: MailKind;
  to: string;
  subject: string;
  greeting: string;
  paragraphs: string[];
  action?: { label: string; url: string };
  footer: string;
}

function render(layout: Layout): TemplatedMail {
  const text = [
    layout.greeting,
    '',
    ...layout.paragraphs.flatMap((p) => [p, '']),
    ...(layout.action ? [`${layout.action.label}:`, layout.action.url, ''] : []),
    layout.footer,
    '',
    `— ${PRODUCT_NAME}`,
  ].join('\n');
  const html = [
    '<!doctype html>',
    `<html><head><meta charset="utf-8"><title>${escapeHtml(layout.subject)}</title></head>`,
    '<body style="font-family: sans-serif; line-height: 1.5; color: #1f2328;">',
    `<p>${escapeHtml(layout.greeting)}</p>`,
    ...layout.paragraphs.map((p) => `<p>${escapeHtml(p)}</p>`),
    ...(layout.action
      ? [
          `<p><a href="${escapeHtml(layout.action.url)}">${escapeHtml(layout.action.label)}</a></p>`,
          `<p style="font-size: 0.9em; color: #59636e;">${escapeHtml(layout.action.url)}</p>`,
        ]
      : []),
    `<p style="font-size: 0.9em; color: #59636e;">${escapeHtml(layout.footer)}</p>`,
    `<p>— ${PRODUCT_NAME}</p>`,
    '</body></html>',
  ].join('\n');
  return { kind: layout.kind, to: layout.to, subject: layout.subject, text, html };
}

const greet = (name: string | null) => (name ? `Hello ${name},` : 'Hello,');
const ignore = 'If you did not ask for this, ignore this mail: nothing changes.';

export function passwordResetMail(to: string, name: string, url: string, validMinutes: number): TemplatedMail {
  return render({
    kind: 'password_reset',
    to,
    subject: `Reset your ${PRODUCT_NAME} password`,
    greeting: greet(name),
    paragraphs: [
      `Someone asked to reset the password of your ${PRODUCT_NAME} account. The link works once, for ${validMinutes} minutes.`,
    ],
    action: { label: 'Choose a new password', url },
    footer: ignore,
  });
}

export function invitationMail(
  to: string,
  name: string,
  inviter: string | null,
  url: string,
  validDays: number,
): TemplatedMail {
  return render({
    kind: 'invitation',
    to,
    subject: `You are invited to ${PRODUCT_NAME}`,
    greeting: greet(name),
    paragraphs: [
      `${inviter ? `${inviter} invited you` : 'You are invited'} to an account on ${PRODUCT_NAME}. Follow the link to choose your password; it works once, for ${validDays} days.`,
    ],
    action: { label: 'Accept the invitation', url },
    footer: 'If you did not expect this invitation, ignore this mail.',
  });
}

export function verificationMail(to: string, name: string, url: string, validHours: number): TemplatedMail {
  return render({
    kind: 'email_verification',
    to,
    subject: `Verify your email address for ${PRODUCT_NAME}`,
    greeting: greet(name),
    paragraphs: [
      `Follow the link to confirm that this address belongs to your ${PRODUCT_NAME} account. It works once, for ${validHours} hours.`,
    ],
    action: { label: 'Verify this address', url },
    footer: ignore,
  });
}

export function emailChangeMail(to: string, name: string, url: string, validHours: number): TemplatedMail {
  return render({
    kind: 'email_change',
    to,
    subject: `Confirm your new email address for ${PRODUCT_NAME}`,
    greeting: greet(name),
    paragraphs: [
      `Someone asked to change the email address of a ${PRODUCT_NAME} account to this one. The change takes effect when you follow the link; it works once, for ${validHours} hours.`,
    ],
    action: { label: 'Confirm the new address', url },
    footer: ignore,
  });
}

/** Security notices carry no link with a secret in it: only the sign-in page. */
export function noticeMail(
  kind: NoticeKind,
  to: string,
  name: string,
  origin: string,
  detail: {
    newEmail?: string;
    ip?: string | null;
    userAgent?: string | null;
    at: Date;
    /** notice_recovery_code_used: how many unused codes are left. */
    remaining?: number;
    /** notice_mfa_changed: what changed, as a phrase ("An authenticator app was added"). */
    change?: string;
  },
): TemplatedMail {
  const when = detail.at
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, ' UTC');
  const from = [detail.ip ? `address ${detail.ip}` : null, detail.userAgent ? `browser “${detail.userAgent}”` : null]
    .filter(Boolean)
    .join(', ');
  const subjects = {
    notice_password_changed: `Your ${PRODUCT_NAME} password was changed`,
    notice_email_changed: `Your ${PRODUCT_NAME} email address was changed`,
    notice_email_change_requested: `A change of your ${PRODUCT_NAME} email address was requested`,
    notice_new_sign_in: `New sign-in to your ${PRODUCT_NAME} account`,
    notice_recovery_code_used: `A recovery code was used on your ${PRODUCT_NAME} account`,
    notice_mfa_reset: `The second factors of your ${PRODUCT_NAME} account were removed`,
    notice_mfa_changed: `The second factors of your ${PRODUCT_NAME} account changed`,
  } as const;
  const facts = {
    notice_password_changed: `The password of your account was changed at ${when}. Every other session was signed out.`,
    notice_email_changed: `The email address of your account was changed at ${when}${detail.newEmail ? ` to ${detail.newEmail}` : ''}. This address no longer signs in.`,
    notice_email_change_requested: `At ${when} someone signed in to your account asked to change its email address${detail.newEmail ? ` to ${detail.newEmail}` : ''}. Nothing changes unless the link sent to the new address is followed.`,
    notice_new_sign_in: `Your account was signed in to at ${when} from a browser that had not signed in to it before${from ? ` (${from})` : ''}.`,
    notice_recovery_code_used: `A recovery code was used to sign in to your account at ${when}${from ? ` (${from})` : ''}. Each code works once${detail.remaining !== undefined ? `; ${detail.remaining} unused ${detail.remaining === 1 ? 'code is' : 'codes are'} left` : ''}.`,
    notice_mfa_reset: `At ${when} an administrator removed every second factor of your account (authenticator app, passkeys and recovery codes) and signed out its sessions. You sign in with your password alone until you set up a second factor again.`,
    notice_mfa_changed: `${detail.change ?? 'The second factors of your account changed'} at ${when}${from ? ` (${from})` : ''}.`,
  } as const;
  return render({
    kind,
    to,
    subject: subjects[kind],
    greeting: greet(name),
    paragraphs: [facts[kind], 'If this was you, there is nothing to do.'],
    action: { label: `Sign in to ${PRODUCT_NAME}`, url: new URL('/', origin).toString() },
    footer: 'If it was not you, reset your password now and tell your administrator.',
  });
}
