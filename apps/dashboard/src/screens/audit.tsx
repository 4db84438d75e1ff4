import { useEffect, useMemo, useState, type FormEvent } from 'react';
import { keepPreviousData, useQueries, useQuery, useQueryClient } from '@tanstack/react-query';
import type { AuditEvent } from '@gatehouse/client';
import { useTRPC } from '@gatehouse/client/react';
import { useSubscription } from '@trpc/tanstack-react-query';
import { AUDIT_EVENT_TYPES, auditListInput, type AuditEventType } from '@gatehouse/api/schemas';
import { reportCallError } from '../api.js';
import { Badge, Empty, Loading, Page, Pager, usePager } from '../components.js';
import { errorMessage } from '../errors.js';
import { formatDate, formatRelative } from '../format.js';
import { ErrorNote, Field, useForm } from '../forms.js';
import { auditHref, href, navigate, useAuditFilter, type AuditFilter } from '../router.js';
import { VerifyPanel } from './audit-integrity.js';

const PAGE_SIZE = 25;

/** Words for every event type of architecture §8; typed so a new event type cannot go unnamed. */
const TYPE_WORDS: Record<AuditEventType, string> = {
  'auth.setup': 'Gatehouse set up',
  'auth.sign_up': 'Signed up',
  'auth.sign_in': 'Signed in',
  'auth.sign_in_failed': 'Failed sign-in',
  'auth.throttled': 'Sign-in throttled',
  'auth.sign_out': 'Signed out',
  'auth.password_changed': 'Changed own password',
  'auth.password_change_failed': 'Wrong current password given',
  'auth.profile_updated': 'Updated own profile',
  'user.created': 'User created',
  'user.updated': 'User updated',
  'user.role_changed': 'Role changed',
  'user.deactivated': 'User deactivated',
  'user.reactivated': 'User reactivated',
  'user.password_set': 'Password set by admin',
  'user.deleted': 'User deleted',
  'session.revoked': 'Session revoked',
  'session.revoked_all': 'All sessions revoked',
  'session.evicted': 'Oldest session evicted',
  'session.expired_cleanup': 'Expired sessions removed',
  // #17 user import
  'user.imported': 'User imported',
  // ---- email flows ----
  'auth.password_reset_requested': 'Password reset requested',
  'auth.password_reset': 'Password reset by link',
  'auth.email_verification_requested': 'Email verification requested',
  'auth.email_verified': 'Email address verified',
  'auth.email_change_requested': 'Email change requested',
  'auth.email_changed': 'Email address changed',
  'auth.invitation_accepted': 'Invitation accepted',
  'user.invited': 'User invited',
  'user.invitation_resent': 'Invitation resent',
  'user.invitation_revoked': 'Invitation revoked',
  'user.reset_link_created': 'Reset link created by admin',
  // issue 15: second factors and step-up
  'auth.mfa_required': 'Password accepted, second factor asked',
  'auth.mfa_failed': 'Wrong second factor',
  'auth.reauthenticated': 'Confirmed identity',
  'auth.reauthentication_failed': 'Failed to confirm identity',
  'mfa.totp_enrolment_started': 'Authenticator app set-up started',
  'mfa.totp_enabled': 'Authenticator app turned on',
  'mfa.totp_disabled': 'Authenticator app turned off',
  'mfa.recovery_codes_generated': 'New recovery codes',
  'mfa.recovery_code_used': 'Recovery code used',
  'mfa.passkey_registered': 'Passkey added',
  'mfa.passkey_renamed': 'Passkey renamed',
  'mfa.passkey_deleted': 'Passkey removed',
  'mfa.reset': 'Second factors reset by admin',
  // #16 bridges
  'api_key.created': 'API key created',
  'api_key.revoked': 'API key revoked',
  'api_key.rotated': 'API key rotated',
  // #19 webhooks
  'webhook.created': 'Webhook created',
  'webhook.updated': 'Webhook changed',
  'webhook.secret_rotated': 'Webhook secret rotated',
  'webhook.disabled': 'Webhook disabled',
  'webhook.enabled': 'Webhook enabled',
  'webhook.deleted': 'Webhook deleted',
  'webhook.auto_disabled': 'Webhook disabled after failures',
};

export function eventWords(type: string): string {
  return (TYPE_WORDS as Record<string, string | undefined>)[type] ?? type;
}

/** #19 charts: the filter lives in the URL hash (router.ts `auditHref`), so it can be linked and reloaded. */
type Filters = AuditFilter;

/** A Date as a datetime-local input shows it (local time, to the minute). */
function toLocalInput(date: Date | undefined): string {
  if (date === undefined) return '';
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

function toDate(local: string): Date | undefined {
  if (local === '') return undefined;
  const date = new Date(local);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

export function AuditScreen() {
  const trpc = useTRPC();
  const pager = usePager();
  const filters = useAuditFilter();
  const setFilters = (next: Filters) => navigate(auditHref(next));
  const filterKey = auditHref(filters);
  // A new filter (applied here, or a link, back or forward) starts at the first page.
  const [pagedFor, setPagedFor] = useState(filterKey);
  if (pagedFor !== filterKey) {
    setPagedFor(filterKey);
    pager.reset();
  }
  const { types, ...rest } = filters;
  const events = useQuery(
    trpc.audit.list.queryOptions(
      {
        limit: PAGE_SIZE,
        cursor: pager.cursor,
        ...rest,
        ...(types ? { type: types.length === 1 ? types[0] : types } : {}),
      },
      { placeholderData: keepPreviousData },
    ),
  );
  const names = useActorNames(events.data?.items ?? []);
  const filtered = Object.keys(filters).length > 0;

  return (
    <Page
      title="Audit log"
      intro="Every security-relevant change, newest first. The log is a signed Merkle tree: Verify recomputes all of it."
    >
      <div className="cards">
        <section className="card" aria-labelledby="verify-heading">
          <h2 id="verify-heading">Integrity</h2>
          <VerifyPanel />
        </section>
        <LiveFeed names={names} />
      </div>

      {filtered ? <ActiveFilter filter={filters} onClear={() => setFilters({})} /> : null}

      <FilterForm
        key={filterKey}
        initial={filters}
        onApply={(next) => {
          setFilters(next);
          pager.reset();
        }}
      />

      {events.isPending ? <Loading label="Loading events…" /> : null}
      {events.isError ? <ErrorNote error={events.error} /> : null}
      {events.data ? (
        events.data.items.length === 0 ? (
          <Empty>{filtered ? 'No event matches these filters.' : 'Nothing has been recorded yet.'}</Empty>
        ) : (
          <>
            <EventTable
              events={events.data.items}
              names={names}
              onActor={(actorId) => {
                setFilters({ actorId });
                pager.reset();
              }}
            />
            <Pager
              label="Pages of events"
              page={pager.page}
              hasNext={events.data.nextCursor !== null && !events.isPlaceholderData}
              summary={events.isPlaceholderData ? 'Loading…' : undefined}
              onPrevious={pager.previous}
              onNext={() => events.data.nextCursor && pager.next(events.data.nextCursor)}
            />
          </>
        )
      ) : null}
    </Page>
  );
}

/** The filter in force, in words, with a way back to the whole log. */
function ActiveFilter({ filter, onClear }: { filter: Filters; onClear: () => void }) {
  const parts = [
    filter.types ? filter.types.map(eventWords).join(' or ') : null,
    filter.actorId ? `by ${filter.actorId}` : null,
    filter.since ? `from ${formatDate(filter.since)}` : null,
    filter.until ? `until ${formatDate(filter.until)}` : null,
  ].filter(Boolean);
  return (
    <p className="active-filter" data-testid="active-filter">
      <span>
        Showing only: <strong>{parts.join(', ')}</strong>
      </span>{' '}
      <button type="button" className="secondary" onClick={onClear}>
        Show all events
      </button>
    </p>
  );
}

function FilterForm({ initial, onApply }: { initial: Filters; onApply: (filters: Filters) => void }) {
  const { setElement, ...form } = useForm({
    type: initial.types?.join(',') ?? '',
    actorId: initial.actorId ?? '',
    since: toLocalInput(initial.since),
    until: toLocalInput(initial.until),
  });
  const { values } = form;

  function submit(event: FormEvent) {
    event.preventDefault();
    const since = toDate(values.since);
    const until = toDate(values.until);
    const types = values.type
      .split(',')
      .map((t) => t.trim())
      .filter(Boolean);
    const candidate: Filters = {
      ...(types.length > 0 ? { types } : {}),
      ...(values.actorId.trim() ? { actorId: values.actorId.trim() } : {}),
      ...(since ? { since } : {}),
      ...(until ? { until } : {}),
    };
    const inOrder = !(since && until && since > until);
    if (
      !form.validate(
        auditListInput,
        {
          limit: PAGE_SIZE,
          ...(candidate.actorId ? { actorId: candidate.actorId } : {}),
          ...(since ? { since } : {}),
          ...(until ? { until } : {}),
          ...(types.length > 0 ? { type: types.length === 1 ? types[0] : types } : {}),
        },
        inOrder ? {} : { until: 'The end must come after the start' },
      )
    )
      return;
    onApply(candidate);
  }

  return (
    <form ref={setElement} className="filters" role="search" aria-label="Filter events" onSubmit={submit} noValidate>
      <Field label="Type" {...form.field('type')} list="audit-types" placeholder="e.g. user.created" />
      <datalist id="audit-types">
        {AUDIT_EVENT_TYPES.map((t) => (
          <option key={t} value={t}>
            {TYPE_WORDS[t]}
          </option>
        ))}
      </datalist>
      <Field label="Actor (user id)" {...form.field('actorId')} />
      <Field label="From" type="datetime-local" {...form.field('since')} />
      <Field label="Until" type="datetime-local" {...form.field('until')} />
      <div className="filter-buttons">
        <button type="submit">Apply filters</button>
        <button
          type="button"
          className="secondary"
          onClick={() => {
            form.setValues({ type: '', actorId: '', since: '', until: '' });
            form.setErrors({});
            onApply({});
          }}
        >
          Clear
        </button>
      </div>
    </form>
  );
}

/** Names for the actors on screen (one batched request); a deleted user keeps showing as an id. */
function useActorNames(events: AuditEvent[]): Map<string, string> {
  const trpc = useTRPC();
  const ids = useMemo(
    () => [
      ...new Set(
        events
          .flatMap((e) => [e.actorId, e.targetId])
          .filter((id): id is string => typeof id === 'string' && /^[0-9a-f-]{36}$/i.test(id)),
      ),
    ],
    [events],
  );
  const results = useQueries({
    queries: ids.map((id) => ({ ...trpc.user.byId.queryOptions({ id }), staleTime: 60_000, retry: false })),
  });
  return useMemo(() => {
    const map = new Map<string, string>();
    results.forEach((r, i) => {
      const id = ids[i];
      if (id && r.data) map.set(id, r.data.name);
    });
    return map;
  }, [results, ids]);
}

function Who({ id, names }: { id: string | null; names: Map<string, string> }) {
  if (!id) return <span className="muted">—</span>;
  const name = names.get(id);
  return name ? (
    <a href={href({ name: 'user', id })} title={id}>
      {name}
    </a>
  ) : (
    <code title={id}>{id.slice(0, 8)}</code>
  );
}

export function describeData(data: Record<string, unknown>): string {
  return Object.entries(data)
    .map(([k, v]) => `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(', ');
}

function EventTable({
  events,
  names,
  onActor,
}: {
  events: AuditEvent[];
  names: Map<string, string>;
  onActor: (actorId: string) => void;
}) {
  return (
    <div className="table-wrap">
      <table className="table" data-testid="audit-table">
        <caption className="visually-hidden">Audit events</caption>
        <thead>
          <tr>
            <th scope="col">#</th>
            <th scope="col">When</th>
            <th scope="col">Event</th>
            <th scope="col">Actor</th>
            <th scope="col" className="hide-narrow">
              Target
            </th>
            <th scope="col" className="hide-narrow">
              Details
            </th>
          </tr>
        </thead>
        <tbody>
          {events.map((e) => (
            <tr key={e.seq} data-type={e.type}>
              <td>{e.seq}</td>
              <td>
                <time dateTime={e.at.toISOString()} title={formatDate(e.at)}>
                  {formatRelative(e.at)}
                </time>
              </td>
              <td>
                <span className="event-name">{eventWords(e.type)}</span>
                <code className="event-type">{e.type}</code>
              </td>
              <td>
                <Who id={e.actorId} names={names} />
                {e.actorId ? (
                  <button type="button" className="link" onClick={() => onActor(e.actorId as string)}>
                    filter<span className="visually-hidden"> by this actor</span>
                  </button>
                ) : null}
              </td>
              <td className="hide-narrow">
                <Who id={e.targetId} names={names} />
              </td>
              <td className="hide-narrow details">
                {describeData(e.data)}
                {e.ip ? <span className="muted"> · {e.ip}</span> : null}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** Events as they happen, from the `audit.events` subscription (Server-Sent Events). */
function LiveFeed({ names }: { names: Map<string, string> }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [live, setLive] = useState<AuditEvent[]>([]);
  const subscription = useSubscription(
    trpc.audit.events.subscriptionOptions(undefined, {
      onData: (event) => {
        setLive((prev) => [event, ...prev.filter((e) => e.seq !== event.seq)].slice(0, 50));
        void queryClient.invalidateQueries({ queryKey: trpc.audit.list.pathKey() });
      },
      onError: (error) => reportCallError(error, 'audit.events'),
    }),
  );
  // The server ends the stream when this session stops being an admin's: check which it was.
  const ended = subscription.status === 'idle' || subscription.status === 'error';
  useEffect(() => {
    if (ended) void queryClient.invalidateQueries({ queryKey: trpc.auth.me.queryKey() });
  }, [ended, queryClient, trpc]);
  const status =
    subscription.status === 'pending' ? (
      <Badge tone="ok">Live</Badge>
    ) : subscription.status === 'connecting' ? (
      <Badge tone="warn">Connecting…</Badge>
    ) : subscription.status === 'idle' ? (
      <Badge tone="warn">Stopped</Badge>
    ) : (
      <Badge tone="bad">Disconnected</Badge>
    );
  return (
    <section className="card" aria-labelledby="live-heading">
      <div className="section-head">
        <h2 id="live-heading">Live feed {status}</h2>
        {ended ? (
          <button type="button" className="secondary" onClick={() => subscription.reset()}>
            Reconnect
          </button>
        ) : null}
      </div>
      {subscription.status === 'error' ? (
        <ErrorNote>{`The live feed stopped: ${errorMessage(subscription.error)}`}</ErrorNote>
      ) : null}
      {live.length === 0 ? (
        <Empty>New events appear here as they happen.</Empty>
      ) : (
        <ol className="feed" aria-live="polite" data-testid="live-feed">
          {live.map((e) => (
            <li key={e.seq}>
              <span className="muted">#{e.seq}</span> <strong>{eventWords(e.type)}</strong> by{' '}
              <Who id={e.actorId} names={names} /> <time dateTime={e.at.toISOString()}>{formatDate(e.at)}</time>
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}
