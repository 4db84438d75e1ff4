/**
 * The dashboard end to end: its production build served by the real server (temporary SQLite
 * file), driven in Debian's Chromium through playwright-core. Screenshots of every screen go to
 * test-results/dashboard/ at the repository root.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGatehouseClient } from '@gatehouse/client';
// #17 user import
import { cliActor, importUsers, resolveColumnMap } from '@gatehouse/api';
import {
  checkAndShoot,
  heading,
  launchChromium,
  shotsDir,
  signIn as submitSignIn,
  startDashboardServer,
  watchForErrors,
  type DashboardServer,
} from './harness.js';

const SHOTS = shotsDir('dashboard');

const ADMIN = {
  name: 'Ada Admin',
  email: 'ada@example.test',
  username: 'ada',
  password: 'correct horse battery staple',
};
const MEMBER = { name: 'Bob Member', email: 'bob@example.test', username: 'bob', password: 'tulip-quartz-harbor-71' };

describe('dashboard in Chromium', () => {
  let gatehouse: DashboardServer;
  let url: string;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  const problems: string[] = [];
  const accessibility: string[] = [];
  /** The second test changes it. */
  let adminPassword = ADMIN.password;

  async function newPage(
    viewport = { width: 1280, height: 900 },
    colorScheme: 'light' | 'dark' = 'light',
  ): Promise<Page> {
    const context = await browser.newContext({ viewport, colorScheme, locale: 'en-GB', timezoneId: 'UTC' });
    contexts.push(context);
    const page = await context.newPage();
    page.setDefaultTimeout(15_000);
    watchForErrors(page, problems);
    return page;
  }

  /** Screenshot of a screen, after an accessibility check of it (axe-core, WCAG 2 A/AA rules). */
  async function shot(page: Page, name: string): Promise<void> {
    accessibility.push(...(await checkAndShoot(page, SHOTS, name)));
  }

  async function signIn(page: Page, identifier: string, password: string, rememberMe = false): Promise<void> {
    await submitSignIn(page, { identifier, password, rememberMe });
  }

  /**
   * Runs `act` and answers the `error.data.reason` the server gave the call of `procedure` that
   * `act` made (null when it succeeded). The flows check the reason the dashboard received, then
   * what the dashboard made of it: its own words, never the server's message.
   */
  async function reasonOf(page: Page, procedure: string, act: () => Promise<void>): Promise<string | null> {
    const calls = (response: { url(): string }) => decodeURIComponent(new URL(response.url()).pathname).split(/[/,]/);
    const answered = page.waitForResponse((response) => calls(response).includes(procedure));
    await act();
    const response = await answered;
    // A batch answers one entry per call, in the order of the path: `/trpc/auth.me,session.list`.
    const index = calls(response)
      .filter((part) => part.includes('.'))
      .indexOf(procedure);
    const body = (await response.json()) as Array<{ error?: { json?: { data?: { reason?: string } } } }>;
    return body[index]?.error?.json?.data?.reason ?? null;
  }

  async function openNav(page: Page, name: string): Promise<void> {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name }).click();
  }

  beforeAll(async () => {
    gatehouse = await startDashboardServer({ tmpPrefix: 'gatehouse-dashboard-e2e-' });
    url = gatehouse.url;
    browser = await launchChromium([
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ]);
    rmSync(SHOTS, { recursive: true, force: true });
    mkdirSync(SHOTS, { recursive: true });
  });

  afterAll(async () => {
    for (const context of contexts) await context.close().catch(() => undefined);
    await browser?.close();
    await gatehouse?.stop();
  });

  it('setup → sign-in → users → a second session revoked → audit verified; a member cannot open Users', async () => {
    accessibility.splice(0);
    await withFailureShots(mainFlow);
    expect(problems).toEqual([]);
    expect(accessibility).toEqual([]);
  });

  /** On failure, leaves a picture of every open page for whoever reads the report. */
  async function withFailureShots(flow: () => Promise<void>): Promise<void> {
    try {
      await flow();
    } catch (error) {
      let n = 0;
      for (const context of contexts)
        for (const page of context.pages())
          await page.screenshot({ path: join(SHOTS, `failure-${++n}.png`), fullPage: true }).catch(() => undefined);
      throw error;
    }
  }

  /** The label (or text) of the element that has the keyboard focus. */
  function focusedLabel(page: Page): Promise<string> {
    return page.evaluate(() => {
      const el = document.activeElement as HTMLElement | null;
      const label = el && 'labels' in el ? (el as HTMLInputElement).labels?.[0]?.textContent : null;
      return label ?? el?.textContent ?? '';
    });
  }

  async function mainFlow(): Promise<void> {
    const admin = await newPage();

    // First run: the setup screen, with the API's own validation messages. A second browser
    // opens it too, and will lose the race.
    await admin.goto(url);
    await heading(admin, 'Set up Gatehouse');
    const late = await newPage();
    await late.goto(url);
    await heading(late, 'Set up Gatehouse');
    await admin.getByRole('button', { name: 'Create administrator account' }).click();
    await admin.getByText('Enter a name').waitFor();
    await admin.getByText('Enter a valid email address').waitFor();
    expect(await focusedLabel(admin)).toBe('Full name'); // focus lands on the first field to fix
    await shot(admin, '01-setup-validation');
    await admin.getByLabel('Full name').fill(ADMIN.name);
    await admin.getByLabel('Email').fill(ADMIN.email);
    await admin.getByLabel('Username (optional)').fill(ADMIN.username);
    await admin.getByLabel('Password', { exact: true }).fill(ADMIN.password);
    await admin.getByLabel('Repeat the password').fill(`${ADMIN.password}!`);
    await admin.getByRole('button', { name: 'Create administrator account' }).click();
    await admin.getByText('The two passwords are not the same').waitFor();
    expect(await focusedLabel(admin)).toBe('Repeat the password');
    await admin.getByLabel('Repeat the password').fill(ADMIN.password);
    await shot(admin, '02-setup');
    await admin.getByRole('button', { name: 'Create administrator account' }).click();
    await heading(admin, `Welcome, ${ADMIN.name}`);

    // The second browser submits after setup is done: `already_set_up` takes it to sign-in.
    await late.getByLabel('Full name').fill('Late Larry');
    await late.getByLabel('Email').fill('larry@example.test');
    await late.getByLabel('Password', { exact: true }).fill('late-but-long-enough-42');
    await late.getByLabel('Repeat the password').fill('late-but-long-enough-42');
    expect(
      await reasonOf(late, 'auth.createFirstUser', () =>
        late.getByRole('button', { name: 'Create administrator account' }).click(),
      ),
    ).toBe('already_set_up');
    await heading(late, 'Sign in');
    await late.getByText('Gatehouse has already been set up. Sign in with your account.').waitFor();

    // Sign out, then a wrong password (said in words), then sign in with remember-me.
    await admin.getByRole('button', { name: 'Sign out' }).click();
    await heading(admin, 'Sign in');
    await admin.getByText('You have signed out.').waitFor();
    expect(await reasonOf(admin, 'auth.signIn', () => signIn(admin, ADMIN.email, 'not the password'))).toBe(
      'invalid_credentials',
    );
    await admin.getByText('That email or username and password do not match.').waitFor();
    await shot(admin, '03-sign-in-error');
    await signIn(admin, ADMIN.username, ADMIN.password, true);
    await heading(admin, `Welcome, ${ADMIN.name}`);
    await admin.getByTestId('checkpoint-size').waitFor();
    await admin.getByTestId('my-session-count').getByText('1', { exact: true }).waitFor();
    await shot(admin, '04-home-admin');

    // Users: create a member.
    await openNav(admin, 'Users');
    await heading(admin, 'Users');
    await admin.getByRole('row', { name: new RegExp(ADMIN.name) }).waitFor();
    await admin.getByRole('button', { name: 'New user' }).click();
    await admin.getByLabel('Set an initial password').check();
    const create = admin.getByRole('form', { name: 'New user' });
    await create.getByLabel('Full name').fill(MEMBER.name);
    await create.getByLabel('Email').fill('not-an-email');
    await create.getByLabel('Username (optional)').fill(MEMBER.username);
    await create.getByLabel('Initial password').fill('short');
    await create.getByRole('button', { name: 'Create user' }).click();
    await create.getByText('Enter a valid email address').waitFor();
    await create.getByText('Use at least 8 characters').waitFor();
    await create.getByLabel('Email').fill(MEMBER.email);
    await create.getByLabel('Initial password').fill(MEMBER.password);
    await create.getByRole('button', { name: 'Create user' }).click();
    await admin.getByText(`Created ${MEMBER.name}.`).waitFor();
    await admin.getByRole('row', { name: new RegExp(MEMBER.name) }).waitFor();
    expect(await admin.getByText('1–2 of 2').count()).toBe(1);
    await shot(admin, '05-users');

    // The member signs in from a second browser.
    const member = await newPage();
    await member.goto(url);
    await signIn(member, MEMBER.email, MEMBER.password);
    await heading(member, `Welcome, ${MEMBER.name}`);
    const memberNav = member.getByRole('navigation', { name: 'Main' });
    expect(await memberNav.getByRole('link', { name: 'Users' }).count()).toBe(0);
    expect(await memberNav.getByRole('link', { name: 'Audit log' }).count()).toBe(0);
    expect(await member.getByRole('heading', { name: 'Audit log integrity' }).count()).toBe(0);
    await shot(member, '06-home-member');

    // A member cannot open the Users screen, even by its address.
    await member.goto(`${url}/#/users`);
    await heading(member, 'Users');
    await member.getByText('This screen is for administrators.').waitFor();
    expect(await member.getByRole('table').count()).toBe(0);
    await member.waitForFunction(() => document.activeElement?.tagName === 'H1');
    await shot(member, '07-member-users-refused');
    await member.goto(`${url}/#/audit`);
    await member.getByText('This screen is for administrators.').waitFor();
    await member.goto(`${url}/#/no-such-screen`);
    await heading(member, 'Page not found');
    await openNav(member, 'Home');
    await heading(member, `Welcome, ${MEMBER.name}`);

    // The admin opens the member and revokes that session.
    await admin.getByRole('table').getByRole('link', { name: MEMBER.name }).click();
    await heading(admin, MEMBER.name);
    const sessions = admin.getByRole('region', { name: `Sessions of ${MEMBER.name}` });
    await sessions.getByTestId('session').first().waitFor();
    expect(await sessions.getByTestId('session').count()).toBe(1);
    await shot(admin, '08-user-detail');
    await sessions.getByRole('button', { name: 'Revoke', exact: true }).click();
    await admin.getByText('The session was revoked.').waitFor();
    await sessions.getByText(`${MEMBER.name} is not signed in anywhere.`).waitFor();

    // The member's next action lands on sign-in.
    expect(await reasonOf(member, 'session.list', () => openNav(member, 'My sessions'))).toBe('unauthenticated');
    await heading(member, 'Sign in');
    await member.getByText('Your session has ended. Sign in again to continue.').waitFor();
    await shot(member, '09-member-signed-out');

    // The audit log lists these events, live feed included, and verifies.
    await openNav(admin, 'Audit log');
    await heading(admin, 'Audit log');
    const table = admin.getByTestId('audit-table');
    await table.waitFor();
    for (const type of [
      'auth.setup',
      'auth.sign_out',
      'auth.sign_in_failed',
      'auth.sign_in',
      'user.created',
      'session.revoked',
    ]) {
      expect(await table.locator(`tr[data-type="${type}"]`).count(), type).toBeGreaterThan(0);
    }
    await admin
      .getByRole('heading', { name: /Live feed/ })
      .getByText('Live')
      .waitFor();
    // Signing in again continues where the member was going.
    await signIn(member, MEMBER.username, MEMBER.password);
    await heading(member, 'My sessions');
    await admin.getByTestId('live-feed').getByText('Signed in').waitFor();
    await admin.getByRole('button', { name: 'Verify the audit log' }).click();
    const verdict = admin.getByTestId('verify-result');
    await verdict.waitFor();
    expect(await verdict.textContent()).toMatch(/Intact.*event.*check out/);

    // Filters: only session revocations.
    await admin.getByLabel('Type', { exact: true }).fill('session.revoked');
    await admin.getByRole('button', { name: 'Apply filters' }).click();
    await admin.waitForFunction(() => {
      const rows = Array.from(document.querySelectorAll('[data-testid="audit-table"] tbody tr'));
      return rows.length > 0 && rows.every((row) => row.getAttribute('data-type') === 'session.revoked');
    });
    await admin.getByRole('button', { name: 'Clear' }).click();
    await table.locator('tr[data-type="auth.setup"]').waitFor();
    await shot(admin, '10-audit');

    // My sessions and profile.
    await openNav(admin, 'My sessions');
    await heading(admin, 'My sessions');
    await admin.getByText('This device').waitFor();
    await shot(admin, '11-my-sessions');
    await openNav(admin, 'Profile');
    await heading(admin, 'Your profile');
    await admin.getByRole('button', { name: 'Change password' }).click();
    await admin.getByText('Enter your current password').waitFor();
    await shot(admin, '12-profile');

    // A phone-sized screen (in dark mode): the menu folds, nothing scrolls sideways.
    const phone = await newPage({ width: 375, height: 740 }, 'dark');
    await phone.goto(url);
    await signIn(phone, ADMIN.email, ADMIN.password);
    await heading(phone, `Welcome, ${ADMIN.name}`);
    await shot(phone, '13a-phone-home');
    await phone.getByRole('button', { name: 'Menu' }).click();
    await openNav(phone, 'Users');
    await heading(phone, 'Users');
    await shot(phone, '13b-phone-users');
    const overflow = await phone.evaluate(
      () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
    );
    expect(overflow).toBeLessThanOrEqual(0);
  }

  it('manages a user: edit, conflicts, deactivate, set password, revoke all, delete; own sessions and password', async () => {
    const problemsBefore = problems.length;
    accessibility.splice(0);
    await withFailureShots(managementFlow);
    expect(problems.slice(problemsBefore)).toEqual([]);
    expect(accessibility).toEqual([]);
  });

  async function managementFlow(): Promise<void> {
    const admin = await newPage();
    await admin.goto(`${url}/#/users`);
    await signIn(admin, ADMIN.email, ADMIN.password);
    await heading(admin, 'Users');

    const cleo = { name: 'Cleo Contractor', email: 'cleo@example.test', password: 'amber-lantern-quiet-58' };
    await admin.getByRole('button', { name: 'New user' }).click();
    await admin.getByLabel('Set an initial password').check();
    const create = admin.getByRole('form', { name: 'New user' });
    await create.getByLabel('Full name').fill(cleo.name);
    await create.getByLabel('Email').fill(MEMBER.email);
    await create.getByLabel('Initial password').fill(cleo.password);
    expect(
      await reasonOf(admin, 'user.create', () => create.getByRole('button', { name: 'Create user' }).click()),
    ).toBe('email_taken');
    await create.getByText('That email address is already in use').first().waitFor();
    await create.getByLabel('Email').fill(cleo.email);
    await create.getByRole('button', { name: 'Create user' }).click();
    await admin.getByRole('status').getByRole('link', { name: cleo.name }).click();
    await heading(admin, cleo.name);

    // Search finds her, and only her.
    await openNav(admin, 'Users');
    await admin.getByRole('searchbox', { name: 'Search' }).fill('cleo');
    await admin.getByText('1–1 of 1').waitFor();
    await admin.getByRole('table').getByRole('link', { name: cleo.name }).click();
    await heading(admin, cleo.name);

    // Edit: a taken email is refused in words; a new name and role are saved.
    const details = admin.getByRole('form', { name: 'Details' });
    await details.getByLabel('Email').fill(ADMIN.email);
    expect(
      await reasonOf(admin, 'user.update', () => details.getByRole('button', { name: 'Save changes' }).click()),
    ).toBe('email_taken');
    await details.getByText('That email address is already in use').first().waitFor();
    await details.getByLabel('Email').fill(cleo.email);
    await details.getByLabel('Full name').fill('Cleo Changed');
    await details.getByLabel('Role').selectOption('admin');
    await details.getByRole('button', { name: 'Save changes' }).click();
    await heading(admin, 'Cleo Changed');
    await admin.getByRole('form', { name: 'Details' }).getByText('Saved.').waitFor();

    // Deactivate asks first (focus on Cancel), then reactivate.
    const account = admin.getByRole('region', { name: 'Account' });
    await account.getByRole('button', { name: 'Deactivate' }).click();
    const question = account.getByRole('alertdialog', { name: 'Deactivate' });
    await question.waitFor();
    // Focus moves to Cancel (an effect after the render), so a stray Enter cannot confirm.
    await admin.waitForFunction(() => document.activeElement?.textContent === 'Cancel');
    await question.getByRole('button', { name: 'Deactivate' }).click();
    await account.getByText('Cleo Changed is deactivated and was signed out everywhere.').waitFor();
    await account.getByRole('button', { name: 'Reactivate' }).click();
    await account.getByText('Cleo Changed can sign in again.').waitFor();

    // Set a password: the policy speaks first, then it is set.
    const setPassword = admin.getByRole('form', { name: 'Set a new password' });
    await setPassword.getByLabel('New password').fill('short');
    await setPassword.getByRole('button', { name: 'Set password' }).click();
    await setPassword.getByText('Use at least 8 characters').waitFor();
    await setPassword.getByLabel('New password').fill('velvet-orchard-sunrise-19');
    await setPassword.getByRole('button', { name: 'Set password' }).click();
    await setPassword.getByText(/Password set\./).waitFor();

    // She signs in with it; the admin revokes all her sessions.
    const other = await newPage();
    await other.goto(url);
    await signIn(other, cleo.email, 'velvet-orchard-sunrise-19');
    await heading(other, 'Welcome, Cleo Changed');
    await admin.reload();
    await heading(admin, 'Cleo Changed');
    const sessions = admin.getByRole('region', { name: 'Sessions of Cleo Changed' });
    await sessions.getByTestId('session').first().waitFor();
    await sessions.getByRole('button', { name: 'Revoke all sessions' }).click();
    await sessions.getByRole('alertdialog').getByRole('button', { name: 'Revoke all' }).click();
    await sessions.getByText('Revoked 1 session.').waitFor();
    await openNav(other, 'Profile');
    await heading(other, 'Sign in');

    // Cleo is an admin now: make her a member again, so Ada is the last active admin.
    await openNav(admin, 'Users');
    await admin.getByRole('table').getByRole('link', { name: 'Cleo Changed' }).click();
    await heading(admin, 'Cleo Changed');
    await admin.getByRole('form', { name: 'Details' }).getByLabel('Role').selectOption('member');
    await admin.getByRole('form', { name: 'Details' }).getByRole('button', { name: 'Save changes' }).click();
    await admin.getByRole('form', { name: 'Details' }).getByText('Saved.').waitFor();

    // Delete, with confirmation.
    const deleteAccount = admin.getByRole('region', { name: 'Account' });
    await deleteAccount.getByRole('button', { name: 'Delete user' }).click();
    await deleteAccount.getByRole('alertdialog').getByText('cleo@example.test').waitFor();
    await shot(admin, '14-delete-confirmation');
    await deleteAccount.getByRole('alertdialog').getByRole('button', { name: 'Delete permanently' }).click();
    await heading(admin, 'Users');
    await admin.getByText('1–2 of 2').waitFor();
    expect(await admin.getByRole('table').getByRole('link', { name: 'Cleo Changed' }).count()).toBe(0);

    // The last active admin cannot be demoted: said in words.
    await admin.getByRole('table').getByRole('link', { name: ADMIN.name }).click();
    await heading(admin, ADMIN.name);
    await admin.getByRole('form', { name: 'Details' }).getByLabel('Role').selectOption('member');
    expect(
      await reasonOf(admin, 'user.update', () =>
        admin.getByRole('form', { name: 'Details' }).getByRole('button', { name: 'Save changes' }).click(),
      ),
    ).toBe('last_admin');
    await admin.getByText(/last active administrator/).waitFor();
    await shot(admin, '15-last-admin');

    // My sessions: sign out the other ones (the earlier browsers), this one stays.
    await openNav(admin, 'My sessions');
    await heading(admin, 'My sessions');
    await admin.getByTestId('session').nth(2).waitFor();
    const before = await admin.getByTestId('session').count();
    await shot(admin, '16-my-sessions-several');
    await admin
      .getByRole('button', { name: /^Sign out the session/ })
      .first()
      .click();
    await admin.getByText('The session was signed out.').waitFor();
    await admin.waitForFunction((n) => document.querySelectorAll('[data-testid="session"]').length === n, before - 1);
    await admin.getByRole('button', { name: 'Sign out all other sessions' }).click();
    await admin.getByRole('alertdialog').getByRole('button', { name: 'Sign them out' }).click();
    await admin.getByText(/Signed out \d+ other sessions?\./).waitFor();
    // The note comes first, the refreshed list right after it.
    await admin.waitForFunction(() => document.querySelectorAll('[data-testid="session"]').length === 1);

    // Profile: a wrong current password is said in words; then the change and a new name.
    await openNav(admin, 'Profile');
    await heading(admin, 'Your profile');
    const password = admin.getByRole('form', { name: 'Change password' });
    await password.getByLabel('Current password').fill('wrong password');
    await password.getByLabel('New password', { exact: true }).fill('a-brand-new-passphrase-42');
    await password.getByLabel('Repeat the new password').fill('a-brand-new-passphrase-42');
    expect(
      await reasonOf(admin, 'auth.changePassword', () =>
        password.getByRole('button', { name: 'Change password' }).click(),
      ),
    ).toBe('wrong_password');
    // Said beside the field.
    await password.getByText('The current password is not correct').first().waitFor();
    await password.getByLabel('Current password').fill(adminPassword);
    await password.getByRole('button', { name: 'Change password' }).click();
    await password.getByText('Your password is changed.').waitFor();
    adminPassword = 'a-brand-new-passphrase-42';
    const profile = admin.getByRole('form', { name: 'Profile' });
    await profile.getByLabel('Full name').fill('Ada Lovelace');
    await profile.getByRole('button', { name: 'Save profile' }).click();
    await profile.getByText('Your profile is saved.').waitFor();
    await admin.getByRole('banner').getByText('Ada Lovelace').waitFor();
    await shot(admin, '17-profile-saved');
  }

  it('pages through users and events, filters by time, and signs in by keyboard alone', async () => {
    const problemsBefore = problems.length;
    accessibility.splice(0);
    await withFailureShots(pagingFlow);
    expect(problems.slice(problemsBefore)).toEqual([]);
    expect(accessibility).toEqual([]);
  });

  async function pagingFlow(): Promise<void> {
    // Seed 22 more users through the typed client (bearer token, as an internal tool would).
    const signedIn = await createGatehouseClient({ url }).auth.signIn.mutate({
      identifier: ADMIN.email,
      password: adminPassword,
    });
    if (signedIn.status !== 'signed-in') throw new Error(`unexpected sign-in result ${signedIn.status}`);
    const gh = createGatehouseClient({ url, token: signedIn.token });
    for (let i = 0; i < 22; i++) {
      await gh.user.create.mutate({
        email: `person${i}@example.test`,
        name: `Person ${String(i).padStart(2, '0')}`,
        password: `meadow-${i}-lantern-copper`,
      });
    }
    const total = (await gh.user.list.query({ limit: 1 })).total;
    expect(total).toBe(24);

    // Keyboard only: the identifier has focus, Tab walks the form in reading order, Enter submits.
    const page = await newPage();
    await page.goto(`${url}/#/users`);
    await heading(page, 'Sign in');
    const focused = () => focusedLabel(page);
    expect(await focused()).toBe('Email or username');
    await page.keyboard.type(ADMIN.username);
    await page.keyboard.press('Tab');
    expect(await focused()).toBe('Password');
    await page.keyboard.type(adminPassword);
    await page.keyboard.press('Tab');
    expect(await focused()).toBe('Keep me signed in on this device');
    await page.keyboard.press('Tab');
    expect(await focused()).toBe('Sign in');
    await page.keyboard.press('Enter');
    await heading(page, 'Users');

    // Users: 20 a page, then the rest, and back.
    await page.getByText(`1–20 of ${total}`).waitFor();
    expect(await page.locator('table tbody tr').count()).toBe(20);
    await page.getByRole('button', { name: 'Next →' }).click();
    await page.getByText(`21–${total} of ${total}`).waitFor();
    expect(await page.locator('table tbody tr').count()).toBe(total - 20);
    expect(await page.getByRole('button', { name: 'Next →' }).isDisabled()).toBe(true);
    await page.getByRole('button', { name: '← Previous' }).click();
    await page.getByText(`1–20 of ${total}`).waitFor();
    await page.getByRole('searchbox', { name: 'Search' }).fill('Person 1');
    await page.getByText('1–10 of 10').waitFor();
    await page.getByLabel('Role').selectOption('admin');
    await page.getByText('No user matches these filters.').waitFor();
    await page.getByLabel('Role').selectOption('');
    await page.getByLabel('Status').selectOption('active');
    await page.getByText('1–10 of 10').waitFor();

    // #17 user import: an imported user is found by the old id, and the user screen shows it.
    await importUsers(gatehouse.server.services, cliActor(), {
      source: 'csv:e2e.csv',
      records: [{ id: 'legacy-4711', email: 'lee@example.test', name: 'Legacy Lee' }],
      map: resolveColumnMap(['id', 'email', 'name']),
      onConflict: 'skip',
    });
    await page.getByRole('searchbox', { name: 'Search' }).fill('legacy-4711');
    await page.getByText('1–1 of 1').waitFor();
    await page.getByRole('link', { name: 'Legacy Lee' }).click();
    await heading(page, 'Legacy Lee');
    await page.getByText('imported, old id').waitFor();
    expect(await page.locator('code', { hasText: 'legacy-4711' }).count()).toBe(1);

    // Audit: older events on the next page; a time window in the future holds nothing.
    await openNav(page, 'Audit log');
    await heading(page, 'Audit log');
    const seqs = async () =>
      (await page.locator('[data-testid="audit-table"] tbody tr td:first-child').allTextContents()).map(Number);
    await page.getByTestId('audit-table').waitFor();
    const first = await seqs();
    expect(first).toHaveLength(25);
    await page.getByRole('button', { name: 'Next →' }).click();
    await page.waitForFunction(
      (top) => {
        const cell = document.querySelector('[data-testid="audit-table"] tbody tr td');
        return cell !== null && Number(cell.textContent) < top;
      },
      Math.min(...first),
    );
    const second = await seqs();
    expect(Math.max(...second)).toBeLessThan(Math.min(...first));
    const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 16);
    await page.getByLabel('From', { exact: true }).fill(tomorrow);
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await page.getByText('No event matches these filters.').waitFor();
    await page.getByLabel('Until', { exact: true }).fill(new Date(Date.now() - 86_400_000).toISOString().slice(0, 16));
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await page.getByText('The end must come after the start').waitFor();
    await shot(page, '18-audit-filter-error');

    // Throttling is said with the wait, not as a code.
    const guesser = await newPage();
    await guesser.goto(url);
    let reason: string | null = null;
    for (let attempt = 0; attempt < 8 && reason !== 'throttled'; attempt++) {
      reason = await reasonOf(guesser, 'auth.signIn', () =>
        signIn(guesser, 'nobody@example.test', `guess number ${attempt}`),
      );
      if (reason === 'throttled') break;
      expect(reason).toBe('invalid_credentials');
      await guesser.getByRole('alert').getByText('That email or username and password do not match.').waitFor();
    }
    expect(reason).toBe('throttled');
    await guesser
      .getByRole('alert')
      .getByText(/^Too many attempts\. Wait \d+ (seconds?|minutes?) and try again\.$/)
      .waitFor();
    await shot(guesser, '19-sign-in-throttled');
  }
});
