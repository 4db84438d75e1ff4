/**
 * Webhooks from a running server over real HTTP (#19): the worker starts with the server and is
 * woken by the append, so a sign-in reaches the loopback receiver (allowed explicitly through
 * WEBHOOK_ALLOWED_HOSTS) signed per Standard Webhooks, without anyone calling the worker; the
 * delivery log says so; and the SSRF guard answers a typed error, never a 500.
 */
import { createGatehouseClient } from '@gatehouse/client';
import { createTestUser, startTestWebhookReceiver, type TestWebhookReceiver } from '@gatehouse/api/testing';
import { Webhook } from 'standardwebhooks';
import { afterEach, describe, expect, it } from 'vitest';
import { startTestServer, type RunningServer } from './testing.js';

const PASSWORD = 'quiet harbour lantern';

describe('webhooks from a running server', () => {
  let server: RunningServer | null = null;
  let receiver: TestWebhookReceiver | null = null;
  afterEach(async () => {
    await server?.stop();
    await receiver?.stop();
    server = null;
    receiver = null;
  });

  it('delivers a sign-in to the receiver in the background, signed, and logs the delivery', async () => {
    receiver = await startTestWebhookReceiver();
    server = await startTestServer({ WEBHOOK_ALLOWED_HOSTS: `127.0.0.1:${receiver.port}` });
    const admin = await createTestUser(server.services, {
      role: 'admin',
      email: 'hooks@example.com',
      password: PASSWORD,
    });
    const client = createGatehouseClient({ url: server.url, token: admin.token });

    const refused = await client.webhook.create
      .mutate({ url: 'http://localhost:1/hook', events: ['*'] })
      .catch((error: unknown) => error as { data?: { reason?: string; httpStatus?: number } });
    expect(refused).toMatchObject({ data: { reason: 'webhook_url_refused', httpStatus: 400 } });

    const { secret, webhook } = await client.webhook.create.mutate({
      url: `${receiver.origin}/gatehouse`,
      events: ['auth.sign_in'],
    });
    await createGatehouseClient({ url: server.url }).auth.signIn.mutate({
      identifier: 'hooks@example.com',
      password: PASSWORD,
    });
    // Nobody calls the worker: the server's own delivers it.
    const got = await receiver.next((r) => r.json.type === 'auth.sign_in');
    expect(got.path).toBe('/gatehouse');
    expect(new Webhook(secret).verify(got.body, got.headers)).toMatchObject({ type: 'auth.sign_in' });
    await expect
      .poll(async () => (await client.webhook.deliveries.query({ id: webhook.id })).items[0]?.statusCode)
      .toBe(200);
  });
});
