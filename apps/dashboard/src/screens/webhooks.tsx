import { useState, type FormEvent } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import type { RouterOutputs } from '@gatehouse/client';
import { useTRPC } from '@gatehouse/client/react';
import { AUDIT_EVENT_TYPES } from '@gatehouse/api/schemas';
import { Badge, ConfirmButton, Empty, Loading, Page } from '../components.js';
import { formatDate, formatRelative } from '../format.js';
import { Checkbox, ErrorNote, Field, SuccessNote } from '../forms.js';

type WebhookInfo = RouterOutputs['webhook']['list'][number];

/** The prefixes of the event types (`auth`, `user`…): each can be chosen whole as `auth.*`. */
const PREFIXES = [...new Set(AUDIT_EVENT_TYPES.map((t) => t.slice(0, t.indexOf('.'))))];

/** Webhooks (#19): endpoints receiving the audit log, signed per Standard Webhooks. Admins only. */
export function WebhooksScreen() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const hooks = useQuery(trpc.webhook.list.queryOptions());
  const refresh = () => queryClient.invalidateQueries({ queryKey: trpc.webhook.list.queryKey() });
  const [shown, setShown] = useState<{ url: string; secret: string } | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const [open, setOpen] = useState<string | null>(null);
  const after = (message: string) => () => {
    setDone(message);
    return refresh();
  };
  const rotate = useMutation(
    trpc.webhook.rotateSecret.mutationOptions({
      onSuccess: ({ secret, webhook }) => {
        setShown({ url: webhook.url, secret });
        setDone('A new secret was made; the old one keeps signing too for 24 hours.');
        return refresh();
      },
    }),
  );
  const disable = useMutation(trpc.webhook.disable.mutationOptions({ onSuccess: after('The webhook was disabled.') }));
  const enable = useMutation(
    trpc.webhook.enable.mutationOptions({
      onSuccess: after('The webhook was enabled: delivery resumes where it stopped.'),
    }),
  );
  const remove = useMutation(trpc.webhook.delete.mutationOptions({ onSuccess: after('The webhook was deleted.') }));
  const test = useMutation(
    trpc.webhook.sendTest.mutationOptions({
      onSuccess: (d) => {
        setDone(
          d.ok ? `The test message was delivered (HTTP ${d.statusCode}).` : `The test message failed: ${d.error}.`,
        );
        return queryClient.invalidateQueries({ queryKey: trpc.webhook.deliveries.queryKey() });
      },
    }),
  );

  return (
    <Page
      title="Webhooks"
      intro="Endpoints that receive audit events as they happen, signed per Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature). See docs/webhooks.md to verify them."
    >
      {shown ? (
        <section className="card" aria-labelledby="new-secret-heading">
          <h2 id="new-secret-heading">Copy the signing secret for {shown.url} now</h2>
          <p>It is shown only this once; Gatehouse keeps it encrypted.</p>
          <p>
            <code data-testid="new-webhook-secret">{shown.secret}</code>
          </p>
          <button type="button" className="secondary" onClick={() => setShown(null)}>
            I have copied it
          </button>
        </section>
      ) : null}
      {done ? <SuccessNote>{done}</SuccessNote> : null}
      <ErrorNote error={rotate.error ?? disable.error ?? enable.error ?? remove.error ?? test.error} />
      <CreateWebhookForm
        onCreated={(url, secret) => {
          setShown({ url, secret });
          setDone(null);
          return refresh();
        }}
      />
      {hooks.isPending ? <Loading label="Loading webhooks…" /> : null}
      {hooks.isError ? <ErrorNote error={hooks.error} /> : null}
      {hooks.data && hooks.data.length === 0 ? <Empty>No webhooks yet.</Empty> : null}
      {hooks.data?.map((w) => (
        <section className="card" key={w.id} aria-labelledby={`hook-${w.id}`}>
          <h2 id={`hook-${w.id}`}>
            <code>{w.url}</code>{' '}
            {w.enabled ? (
              w.failures > 0 ? (
                <Badge tone="warn">Failing</Badge>
              ) : (
                <Badge tone="ok">Enabled</Badge>
              )
            ) : (
              <Badge tone="bad">Disabled</Badge>
            )}
          </h2>
          {w.description ? <p>{w.description}</p> : null}
          <p>Events: {w.events.join(', ')}</p>
          <p>Delivered up to audit event #{w.cursorSeq}.</p>
          {!w.enabled && w.disabledReason ? (
            <p className="note note-error" data-testid="disabled-reason">
              {w.disabledReason} ({formatDate(w.disabledAt)})
            </p>
          ) : null}
          {w.enabled && w.failures > 0 ? (
            <p className="note note-error">
              {w.failures} failed attempt{w.failures === 1 ? '' : 's'}: {w.lastError}. Next try{' '}
              {formatRelative(w.nextAttemptAt)}.
            </p>
          ) : null}
          {w.previousSecretExpiresAt ? (
            <p>The previous secret keeps signing until {formatDate(w.previousSecretExpiresAt)}.</p>
          ) : null}
          <div className="actions">
            <button
              type="button"
              className="secondary"
              onClick={() => setOpen(open === w.id ? null : w.id)}
              aria-expanded={open === w.id}
              aria-controls={`deliveries-${w.id}`}
            >
              {open === w.id ? 'Hide deliveries' : 'Show deliveries'}
            </button>
            <button
              type="button"
              className="secondary"
              onClick={() => test.mutate({ id: w.id })}
              disabled={test.isPending}
            >
              Send test
            </button>
            <button
              type="button"
              className="secondary"
              onClick={() => rotate.mutate({ id: w.id })}
              disabled={rotate.isPending}
              aria-label={`Rotate secret of ${w.url}`}
            >
              Rotate secret
            </button>
            {w.enabled ? (
              <button type="button" className="secondary" onClick={() => disable.mutate({ id: w.id })}>
                Disable
              </button>
            ) : (
              <button type="button" className="secondary" onClick={() => enable.mutate({ id: w.id })}>
                Enable
              </button>
            )}
            <ConfirmButton
              label="Delete"
              question={`Delete the webhook to ${w.url}? Its delivery log goes with it.`}
              confirmLabel="Delete it"
              onConfirm={() => remove.mutate({ id: w.id })}
              busy={remove.isPending}
            />
          </div>
          {open === w.id ? <Deliveries webhook={w} /> : null}
        </section>
      ))}
    </Page>
  );
}

function Deliveries({ webhook }: { webhook: WebhookInfo }) {
  const trpc = useTRPC();
  const [cursor, setCursor] = useState<string | null>(null);
  const log = useQuery({
    ...trpc.webhook.deliveries.queryOptions({ id: webhook.id, cursor, limit: 20 }),
    refetchInterval: 5000,
  });
  return (
    <div id={`deliveries-${webhook.id}`}>
      {log.isPending ? <Loading label="Loading deliveries…" /> : null}
      {log.isError ? <ErrorNote error={log.error} /> : null}
      {log.data && log.data.items.length === 0 ? <Empty>Nothing delivered yet.</Empty> : null}
      {log.data && log.data.items.length > 0 ? (
        <table>
          <caption>Deliveries to {webhook.url}</caption>
          <thead>
            <tr>
              <th scope="col">When</th>
              <th scope="col">Event</th>
              <th scope="col">Attempt</th>
              <th scope="col">Result</th>
              <th scope="col">Duration</th>
            </tr>
          </thead>
          <tbody>
            {log.data.items.map((d) => (
              <tr key={d.n}>
                <td>{formatDate(d.at)}</td>
                <td>
                  {d.eventType}
                  {d.seq !== null ? ` (#${d.seq})` : ''}
                </td>
                <td>{d.attempt}</td>
                <td>
                  {d.ok ? (
                    <Badge tone="ok">{`HTTP ${d.statusCode}`}</Badge>
                  ) : (
                    <Badge tone="bad">{d.error ?? 'failed'}</Badge>
                  )}
                </td>
                <td>{d.durationMs} ms</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      {log.data?.nextCursor ? (
        <button type="button" className="secondary" onClick={() => setCursor(log.data.nextCursor)}>
          Older deliveries
        </button>
      ) : null}
      {cursor ? (
        <button type="button" className="secondary" onClick={() => setCursor(null)}>
          Newest deliveries
        </button>
      ) : null}
    </div>
  );
}

function CreateWebhookForm({ onCreated }: { onCreated: (url: string, secret: string) => Promise<unknown> }) {
  const trpc = useTRPC();
  const [url, setUrl] = useState('');
  const [description, setDescription] = useState('');
  const [events, setEvents] = useState<ReadonlySet<string>>(new Set());
  const create = useMutation(
    trpc.webhook.create.mutationOptions({
      onSuccess: async ({ secret, webhook }) => {
        setUrl('');
        setDescription('');
        setEvents(new Set());
        await onCreated(webhook.url, secret);
      },
    }),
  );
  const toggle = (pattern: string) => (checked: boolean) => {
    const next = new Set(events);
    if (checked) next.add(pattern);
    else next.delete(pattern);
    setEvents(next);
  };

  function submit(event: FormEvent) {
    event.preventDefault();
    create.mutate({ url, events: [...events], ...(description ? { description } : {}) });
  }

  return (
    <section className="card" aria-labelledby="create-webhook-heading">
      <h2 id="create-webhook-heading">New webhook</h2>
      <form onSubmit={submit} noValidate aria-labelledby="create-webhook-heading">
        <Field label="URL" name="url" value={url} onValue={setUrl} hint="https://… — where the events are POSTed" />
        <Field label="Description" name="description" value={description} onValue={setDescription} />
        <fieldset>
          <legend>Events</legend>
          <Checkbox label="Every event (*)" name="event-all" checked={events.has('*')} onChecked={toggle('*')} />
          {PREFIXES.map((p) => (
            <Checkbox
              key={p}
              label={`All ${p}.* events`}
              name={`event-${p}`}
              checked={events.has(`${p}.*`)}
              onChecked={toggle(`${p}.*`)}
            />
          ))}
          <details>
            <summary>Single event types</summary>
            {AUDIT_EVENT_TYPES.map((t) => (
              <Checkbox key={t} label={t} name={`event-${t}`} checked={events.has(t)} onChecked={toggle(t)} />
            ))}
          </details>
        </fieldset>
        <ErrorNote error={create.error} />
        <button type="submit" disabled={create.isPending}>
          Create webhook
        </button>
      </form>
    </section>
  );
}
