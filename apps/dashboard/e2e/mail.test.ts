/**
 * The email flows in Chromium: the dashboard's production build served by a real server that
 * sends through a real SMTP server on loopback (mails parsed with mailparser). An administrator
 * invites someone from "New user"; the invitation link from the mail opens the accept screen and
 * signs the new person in. Then "Forgot password?": the reset link from the mail sets a new
 * password, which signs in. Each screen is checked with axe-core and photographed.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGatehouseClient } from '@gatehouse/client';
import { startTestSmtp, type TestSmtp } from '@gatehouse/api/testing';
import {
  checkAndShoot,
  heading,
  launchChromium,
  shotsDir,
  signIn,
  startDashboardServer,
  watchForErrors,
  type DashboardServer,
} from './harness.js';

const SHOTS = shotsDir('dashboard-mail');

const ADMIN = { name: 'Ada Admin', email: 'ada@example.test', password: 'correct horse battery staple' };
const INVITEE = { name: 'Ivy Invited', email: 'ivy@example.test', password: 'lilac-harbour-quiet-58' };
const NEW_PASSWORD = 'cobalt-meadow-lantern-19';

describe('email flows in Chromium', () => {
  let gatehouse: DashboardServer;
  let smtp: TestSmtp;
  let url: string;
  let browser: Browser;
  const problems: string[] = [];
  const accessibility: string[] = [];

  async function newPage(): Promise<Page> {
    const context = await browser.newContext({
      viewport: { width: 1280, height: 900 },
      locale: 'en-GB',
      timezoneId: 'UTC',
    });
    const page = await context.newPage();
    page.setDefaultTimeout(15_000);
    watchForErrors(page, problems);
    return page;
  }

  async function shot(page: Page, name: string): Promise<void> {
    accessibility.push(...(await checkAndShoot(page, SHOTS, name)));
  }

  /** The dashboard link in the latest mail to `to` with `subject`. */
  async function linkFromMail(to: string, subject: string): Promise<string> {
    const mail = await smtp.next((m) => m.to === to && m.subject === subject, 15_000);
    const link = mail.links.find((l) => l.startsWith(`${url}/#/`));
    if (!link) throw new Error(`no dashboard link in "${subject}"`);
    return link;
  }

  beforeAll(async () => {
    rmSync(SHOTS, { recursive: true, force: true });
    mkdirSync(SHOTS, { recursive: true });
    smtp = await startTestSmtp();
    gatehouse = await startDashboardServer({
      tmpPrefix: 'gatehouse-dashboard-mail-',
      env: () => ({ SMTP_URL: `smtp://127.0.0.1:${smtp.port}`, MAIL_FROM: 'Gatehouse <auth@example.test>' }),
    });
    url = gatehouse.url;
    await createGatehouseClient({ url }).auth.createFirstUser.mutate(ADMIN);
    browser = await launchChromium(['--no-first-run', '--disable-background-networking', '--disable-sync']);
  });

  afterAll(async () => {
    await browser?.close();
    await gatehouse?.stop();
    await smtp?.stop();
  });

  it('invites from New user; the mailed link signs the new person in; Forgot password? resets by mail', async () => {
    const admin = await newPage();
    await admin.goto(url);
    await signIn(admin, { identifier: ADMIN.email, password: ADMIN.password });
    await heading(admin, `Welcome, ${ADMIN.name}`);
    await admin.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Users' }).click();
    await heading(admin, 'Users');
    await admin.getByRole('button', { name: 'New user' }).click();
    // Invite is the default.
    expect(await admin.getByLabel('Invite by email: they choose their password').isChecked()).toBe(true);
    const form = admin.getByRole('form', { name: 'New user' });
    await form.getByLabel('Full name').fill(INVITEE.name);
    await form.getByLabel('Email').fill(INVITEE.email);
    await shot(admin, '01-invite');
    await form.getByRole('button', { name: 'Send invitation' }).click();
    await admin.getByText(`Invitation mailed to ${INVITEE.email}.`).waitFor();
    const invitations = admin.getByRole('region', { name: 'Invitations' });
    await invitations
      .getByRole('row', { name: new RegExp(INVITEE.name) })
      .getByText('pending')
      .waitFor();
    await admin.getByRole('region', { name: 'Mail delivery' }).getByText('You are invited to Gatehouse').waitFor();
    await shot(admin, '02-invitations-and-mail');

    // The invited person follows the link from the mail.
    const invitationLink = await linkFromMail(INVITEE.email, 'You are invited to Gatehouse');
    expect(invitationLink).toContain('/#/accept-invitation/');
    const invitee = await newPage();
    await invitee.goto(invitationLink);
    await heading(invitee, 'Accept the invitation');
    await invitee.getByLabel('Password', { exact: true }).fill(INVITEE.password);
    await invitee.getByLabel('Repeat the password').fill(INVITEE.password);
    await shot(invitee, '03-accept-invitation');
    await invitee.getByRole('button', { name: 'Create my account' }).click();
    await heading(invitee, `Welcome, ${INVITEE.name}`);
    await shot(invitee, '04-invited-signed-in');
    // The link worked once.
    const again = await newPage();
    await again.goto(invitationLink);
    await again.getByLabel('Password', { exact: true }).fill(INVITEE.password);
    await again.getByLabel('Repeat the password').fill(INVITEE.password);
    await again.getByRole('button', { name: 'Create my account' }).click();
    await again.getByText('This link is not valid any more').waitFor();

    // Forgot password? from the sign-in screen.
    const forgetful = await newPage();
    await forgetful.goto(url);
    await heading(forgetful, 'Sign in');
    await forgetful.getByRole('link', { name: 'Forgot password?' }).click();
    await heading(forgetful, 'Forgot password');
    await forgetful.getByLabel('Email').fill(INVITEE.email);
    await shot(forgetful, '05-forgot-password');
    await forgetful.getByRole('button', { name: 'Send the link' }).click();
    await forgetful.getByText('If an account has this address').waitFor();

    const resetLink = await linkFromMail(INVITEE.email, 'Reset your Gatehouse password');
    const reset = await newPage();
    await reset.goto(resetLink);
    await heading(reset, 'Choose a new password');
    await reset.getByLabel('New password', { exact: true }).fill(NEW_PASSWORD);
    await reset.getByLabel('Repeat the password').fill(NEW_PASSWORD);
    await shot(reset, '06-reset-password');
    await reset.getByRole('button', { name: 'Set the new password' }).click();
    await reset.getByText('Your password has been changed').waitFor();
    await reset.getByRole('link', { name: 'Back to sign-in' }).click();
    await signIn(reset, { identifier: INVITEE.email, password: NEW_PASSWORD });
    await heading(reset, `Welcome, ${INVITEE.name}`);

    // The reset signed the invitee's earlier browser out, and a notice was mailed.
    await invitee.reload();
    await heading(invitee, 'Sign in');
    await smtp.next((m) => m.to === INVITEE.email && m.subject === 'Your Gatehouse password was changed', 15_000);

    // An administrator's one-time reset link, handed over instead of mailed, works the same.
    await admin.reload();
    await heading(admin, 'Users');
    await admin.getByRole('link', { name: INVITEE.name }).click();
    await heading(admin, INVITEE.name);
    await admin.getByRole('button', { name: 'Create a reset link' }).click();
    const handed = await admin.getByRole('textbox', { name: 'One-time link' }).inputValue();
    expect(handed).toContain('/#/reset-password/');
    await shot(admin, '07-admin-reset-link');
    const handedPage = await newPage();
    await handedPage.goto(handed);
    await handedPage.getByLabel('New password', { exact: true }).fill(INVITEE.password);
    await handedPage.getByLabel('Repeat the password').fill(INVITEE.password);
    await handedPage.getByRole('button', { name: 'Set the new password' }).click();
    await handedPage.getByText('Your password has been changed').waitFor();

    expect(problems).toEqual([]);
    expect(accessibility).toEqual([]);
  });
});
