/**
 * issue 15: passkeys end to end in Debian's Chromium with a virtual authenticator (Chrome DevTools
 * Protocol `WebAuthn.addVirtualAuthenticator`: CTAP2, resident keys, user verification), against
 * the real server and the dashboard's production build. WebAuthn needs a secure context and a
 * domain as RP ID: the page is served as http://localhost:<port> (PUBLIC_ORIGIN), which is one.
 *
 * Register a passkey on the Security screen, sign out, sign in with the passkey alone
 * (discoverable credential), sign out, then sign in with the password and the passkey as the
 * second factor.
 */
import * as OTPAuth from 'otpauth';
import { type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGatehouseClient } from '@gatehouse/client';
import { ManualClock } from '@gatehouse/api';
import {
  axeViolations,
  heading,
  launchChromium,
  signIn,
  startDashboardServer,
  type DashboardServer,
} from './harness.js';

const ADMIN = { name: 'Pat Passkey', email: 'pat@example.test', password: 'correct horse battery staple' };
const MEMBER = { name: 'Tess Totp', email: 'tess@example.test', password: 'tulip-quartz-harbor-71' };

describe('passkeys in Chromium (virtual authenticator)', () => {
  let gatehouse: DashboardServer;
  let url: string;
  let browser: Browser;
  const problems: string[] = [];
  /** The server's clock: moved past the 10-minute step-up window; TOTP codes are made at its time. */
  const clock = new ManualClock(new Date());

  beforeAll(async () => {
    gatehouse = await startDashboardServer({
      tmpPrefix: 'gatehouse-passkeys-e2e-',
      hostname: 'localhost',
      build: { clock },
    });
    url = gatehouse.url;
    const first = await createGatehouseClient({ url: gatehouse.apiUrl }).auth.createFirstUser.mutate(ADMIN);
    if (first.status !== 'signed-in') throw new Error('expected the first admin signed in');
    await createGatehouseClient({ url: gatehouse.apiUrl, token: first.token }).user.create.mutate(MEMBER);
    browser = await launchChromium([
      '--no-first-run',
      '--disable-background-networking',
      '--host-resolver-rules=MAP localhost 127.0.0.1',
    ]);
  });

  afterAll(async () => {
    await browser?.close();
    await gatehouse?.stop();
  });

  async function signOut(page: Page) {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await heading(page, 'Sign in');
  }

  it('registers a passkey, signs in with it alone, and uses it as the second factor', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'en-GB' });
    const page = await context.newPage();
    page.setDefaultTimeout(15_000);
    page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
    const cdp = await context.newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: {
        protocol: 'ctap2',
        transport: 'internal',
        hasResidentKey: true,
        hasUserVerification: true,
        isUserVerified: true,
        automaticPresenceSimulation: true,
      },
    });

    // Password sign-in, then a passkey on the Security screen.
    await page.goto(url);
    await signIn(page, { identifier: ADMIN.email, password: ADMIN.password });
    await heading(page, `Welcome, ${ADMIN.name}`);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Security', exact: true }).click();
    await heading(page, 'Security');
    await page.getByLabel('Passkey name').fill('Test laptop');
    await page.getByRole('button', { name: 'Add a passkey' }).click();
    const list = page.getByRole('list', { name: 'Your passkeys' });
    await list.getByText('Test laptop', { exact: true }).waitFor();
    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    expect(credentials).toHaveLength(1);
    expect(credentials[0]?.isResidentCredential).toBe(true);

    // Rename it.
    await list.getByRole('button', { name: 'Rename' }).click();
    await page.getByLabel('New name').fill('Work laptop');
    await page.getByRole('button', { name: 'Save name' }).click();
    await list.getByText('Work laptop', { exact: true }).waitFor();

    // Passwordless: the discoverable credential names the account.
    await signOut(page);
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    await heading(page, `Welcome, ${ADMIN.name}`);
    await signOut(page);

    // The password is now followed by a second step, answered by the same passkey.
    await signIn(page, { identifier: ADMIN.email, password: ADMIN.password });
    await page.getByRole('heading', { name: 'Confirm it is you' }).waitFor();
    await page.getByRole('button', { name: 'Use passkey' }).click();
    await heading(page, `Welcome, ${ADMIN.name}`);

    // The signature counter moved with each use, and the server agrees on what happened.
    const after = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    expect(after.credentials[0]?.signCount).toBeGreaterThanOrEqual(2);
    const admin = await createGatehouseClient({ url: gatehouse.apiUrl }).auth.signIn.mutate({
      identifier: ADMIN.email,
      password: ADMIN.password,
    });
    expect(admin).toMatchObject({ status: 'mfa-required', methods: ['passkey'] });
    await context.close();
    expect(problems).toEqual([]);
  });

  it('enrols an authenticator app on the Security screen and asks for its code at sign-in', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'en-GB' });
    const page = await context.newPage();
    page.setDefaultTimeout(15_000);
    page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
    const violations: string[] = [];

    await page.goto(url);
    await signIn(page, { identifier: MEMBER.email, password: MEMBER.password });
    await heading(page, `Welcome, ${MEMBER.name}`);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Security', exact: true }).click();
    await heading(page, 'Security');
    violations.push(...(await axeViolations(page)));
    await page.getByRole('button', { name: 'Set up an authenticator app' }).click();
    await page.getByRole('img', { name: 'QR code for your authenticator app' }).waitFor();
    const secret = (await page.getByLabel('Secret key').textContent()) ?? '';
    const app = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(secret) });
    violations.push(...(await axeViolations(page)));
    await page.getByLabel('Code from the app').fill(app.generate({ timestamp: clock.now().getTime() }));
    await page.getByRole('button', { name: 'Turn on' }).click();
    const codes = page.getByRole('list', { name: 'Recovery codes' }).getByRole('listitem');
    await codes.first().waitFor();
    expect(await codes.count()).toBe(10);
    const recovery = (await codes.first().textContent()) ?? '';
    violations.push(...(await axeViolations(page)));
    await page.getByRole('button', { name: 'I have saved them' }).first().click();
    await page.getByText('Sign-in asks for a code from your app.').waitFor();

    await signOut(page);
    await signIn(page, { identifier: MEMBER.email, password: MEMBER.password });
    await page.getByRole('heading', { name: 'Confirm it is you' }).waitFor();
    violations.push(...(await axeViolations(page)));
    // A wrong code says so in the dashboard's words; the right one (from the same app) signs in.
    await page.getByLabel('Code from your authenticator app').fill('000000');
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByText('That code is not correct. Check it and try again.').waitFor();
    await page
      .getByLabel('Code from your authenticator app')
      .fill(app.generate({ timestamp: clock.now().getTime() + 30_000 }));
    await page.getByRole('button', { name: 'Continue' }).click();
    await heading(page, `Welcome, ${MEMBER.name}`);

    // And a recovery code, once.
    await signOut(page);
    await signIn(page, { identifier: MEMBER.email, password: MEMBER.password });
    await page.getByRole('button', { name: 'Use a recovery code' }).click();
    await page.getByLabel('Recovery code').fill(recovery);
    await page.getByRole('button', { name: 'Continue' }).click();
    await heading(page, `Welcome, ${MEMBER.name}`);

    // Step-up: ten minutes later, new recovery codes need the password again, then go ahead.
    clock.advance(11 * 60_000);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Security', exact: true }).click();
    await heading(page, 'Security');
    await page.getByRole('button', { name: 'Make new recovery codes' }).click();
    await page.getByRole('button', { name: 'Make new codes' }).click();
    await page.getByRole('heading', { name: 'Confirm it is you' }).waitFor();
    violations.push(...(await axeViolations(page)));
    await page.getByLabel('Your password').fill(MEMBER.password);
    await page.getByRole('button', { name: 'Confirm', exact: true }).click();
    await page.getByRole('list', { name: 'Recovery codes' }).waitFor();
    expect(await page.getByRole('list', { name: 'Recovery codes' }).getByRole('listitem').count()).toBe(10);

    // Anywhere else (a password change on the profile), the error note offers the same prompt.
    clock.advance(11 * 60_000);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Profile' }).click();
    await heading(page, 'Your profile');
    const newPassword = 'a brand new passphrase 42';
    await page.getByLabel('Current password').fill(MEMBER.password);
    await page.getByLabel('New password', { exact: true }).fill(newPassword);
    await page.getByLabel('Repeat the new password').fill(newPassword);
    await page.getByRole('button', { name: 'Change password' }).click();
    await page.getByText('For your security, confirm it is you before doing that.').waitFor();
    violations.push(...(await axeViolations(page)));
    await page.getByLabel('Your password').fill(MEMBER.password);
    await page.getByLabel('Your password').press('Enter');
    await page.getByText('Confirmed. Now try again.').waitFor();
    await page.getByRole('button', { name: 'Change password' }).click();
    await page.getByText(/Your password is changed/).waitFor();
    await context.close();
    expect(violations).toEqual([]);
    expect(problems).toEqual([]);
  });
});
