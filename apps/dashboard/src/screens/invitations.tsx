/**
 * Administrators' email screens: invite a new user (the default of "New user"), the invitations
 * with resend and revoke, one-time links when the server has no mail, and mail delivery status.
 */
import { useState, type FormEvent } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useTRPC } from '@gatehouse/client/react';
import { ROLES, userInviteInput } from '@gatehouse/api/schemas';
import { Badge, ConfirmButton, Empty, Loading, ROLE_LABEL } from '../components.js';
import { formatRelative } from '../format.js';
import { ErrorNote, Field, SelectField, SuccessNote, useForm } from '../forms.js';

/** A one-time link to hand over: shown once, selectable, with how long it works. */
function OneTimeLink({ url, expiresAt, what }: { url: string; expiresAt: Date; what: string }) {
  return (
    <SuccessNote>
      {what} (works once, until {expiresAt.toLocaleString()}). Give it to the person through a safe channel:
      <input
        className="one-time-link"
        readOnly
        value={url}
        aria-label="One-time link"
        onFocus={(e) => e.target.select()}
      />
    </SuccessNote>
  );
}

export function InviteUserForm({ onInvited }: { onInvited: (note: string) => void }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const status = useQuery(trpc.mail.status.queryOptions({ limit: 1 }));
  const mailConfigured = status.data?.configured ?? true;
  const { setElement, ...form } = useForm({ name: '', email: '', role: 'member' });
  const [link, setLink] = useState<{ url: string; expiresAt: Date } | null>(null);
  const refresh = () => queryClient.invalidateQueries({ queryKey: trpc.user.invitations.pathKey() });
  const invite = useMutation(
    trpc.user.invite.mutationOptions({
      onSuccess: async (invitation) => {
        await refresh();
        onInvited(`Invitation mailed to ${invitation.email}.`);
      },
      onError: form.showServerErrors,
    }),
  );
  const createLink = useMutation(
    trpc.user.createInvitationLink.mutationOptions({
      onSuccess: async ({ invitation, url }) => {
        await refresh();
        setLink({ url, expiresAt: invitation.expiresAt });
      },
      onError: form.showServerErrors,
    }),
  );
  function submit(event: FormEvent) {
    event.preventDefault();
    const input = form.validate(userInviteInput, form.values);
    if (!input) return;
    if (mailConfigured) invite.mutate(input);
    else createLink.mutate(input);
  }
  const busy = invite.isPending || createLink.isPending;
  return (
    <form ref={setElement} onSubmit={submit} noValidate aria-labelledby="create-heading" className="grid-form">
      <Field label="Full name" {...form.field('name')} autoComplete="off" autoFocus />
      <Field label="Email" {...form.field('email')} type="email" autoComplete="off" />
      <SelectField
        label="Role"
        {...form.field('role')}
        options={ROLES.map((r) => ({ value: r, label: ROLE_LABEL[r] }))}
      />
      <div className="form-end">
        {!mailConfigured ? (
          <p className="hint">This server sends no mail: you get a one-time link to hand over instead.</p>
        ) : null}
        <ErrorNote error={invite.error ?? createLink.error} />
        {link ? <OneTimeLink what="The invitation link" {...link} /> : null}
        <button type="submit" disabled={busy}>
          {busy ? 'Inviting…' : mailConfigured ? 'Send invitation' : 'Create invitation link'}
        </button>
      </div>
    </form>
  );
}

const STATUS_TONE = { pending: 'info', accepted: 'ok', revoked: 'neutral', expired: 'warn' } as const;

export function InvitationsCard() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const invitations = useQuery(trpc.user.invitations.queryOptions({}));
  const refresh = () => queryClient.invalidateQueries({ queryKey: trpc.user.invitations.pathKey() });
  const resend = useMutation(trpc.user.resendInvitation.mutationOptions({ onSuccess: refresh }));
  const revoke = useMutation(trpc.user.revokeInvitation.mutationOptions({ onSuccess: refresh }));
  return (
    <section className="card" aria-labelledby="invitations-heading">
      <h2 id="invitations-heading">Invitations</h2>
      {invitations.isPending ? <Loading label="Loading invitations…" /> : null}
      <ErrorNote error={invitations.error ?? resend.error ?? revoke.error} />
      {invitations.data && invitations.data.length === 0 ? <Empty>Nobody has been invited yet.</Empty> : null}
      {invitations.data && invitations.data.length > 0 ? (
        <div className="table-wrap">
          <table className="table">
            <caption className="visually-hidden">Invitations</caption>
            <thead>
              <tr>
                <th scope="col">Invited</th>
                <th scope="col">Role</th>
                <th scope="col">Status</th>
                <th scope="col" className="hide-narrow">
                  Sent
                </th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {invitations.data.map((inv) => (
                <tr key={inv.id}>
                  <th scope="row">
                    {inv.name} <span className="muted break">{inv.email}</span>
                  </th>
                  <td>{ROLE_LABEL[inv.role]}</td>
                  <td>
                    <Badge tone={STATUS_TONE[inv.status]}>{inv.status}</Badge>
                  </td>
                  <td className="hide-narrow">{formatRelative(inv.createdAt)}</td>
                  <td>
                    {inv.status === 'pending' || inv.status === 'expired' ? (
                      <div className="row">
                        <button
                          type="button"
                          className="secondary"
                          disabled={resend.isPending}
                          onClick={() => resend.mutate({ id: inv.id })}
                        >
                          Resend
                        </button>
                        <ConfirmButton
                          label="Revoke"
                          question={`Revoke the invitation of ${inv.email}? Its link stops working.`}
                          confirmLabel="Revoke"
                          busy={revoke.isPending}
                          onConfirm={() => revoke.mutate({ id: inv.id })}
                        />
                      </div>
                    ) : null}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </section>
  );
}

export function MailStatusCard() {
  const trpc = useTRPC();
  const status = useQuery(trpc.mail.status.queryOptions({ limit: 10 }, { refetchInterval: 15_000 }));
  return (
    <section className="card" aria-labelledby="mail-heading">
      <h2 id="mail-heading">Mail delivery</h2>
      {status.isPending ? <Loading label="Loading mail status…" /> : null}
      <ErrorNote error={status.error} />
      {status.data ? (
        status.data.configured ? (
          <>
            <p>
              {status.data.transport === 'log' ? 'Mails are written to the server log (MAIL_TRANSPORT=log). ' : ''}
              {status.data.pending} waiting, {status.data.sent} sent, {status.data.failed} given up
              {status.data.oldestPendingAt
                ? `; the oldest waiting since ${formatRelative(status.data.oldestPendingAt)}`
                : ''}
              .
            </p>
            {status.data.recent.length > 0 ? (
              <ul className="plain">
                {status.data.recent.map((m) => (
                  <li key={m.id}>
                    <Badge tone={m.status === 'sent' ? 'ok' : m.status === 'failed' ? 'bad' : 'warn'}>{m.status}</Badge>{' '}
                    {m.subject} → <span className="break">{m.to}</span>, {formatRelative(m.createdAt)}
                    {m.attempts > 1 ? `, ${m.attempts} attempts` : ''}
                    {m.lastError && m.status !== 'sent' ? <span className="muted"> — {m.lastError}</span> : null}
                  </li>
                ))}
              </ul>
            ) : null}
          </>
        ) : (
          <p>
            Mail is not configured (SMTP_URL). Invitations and password resets work through one-time links that you hand
            over.
          </p>
        )
      ) : null}
    </section>
  );
}

/** On a user's screen: a one-time password reset link (30 minutes) for the administrator to hand over. */
export function ResetLinkCard({ userId }: { userId: string }) {
  const trpc = useTRPC();
  const create = useMutation(trpc.user.createResetLink.mutationOptions());
  return (
    <section className="card" aria-labelledby="reset-link-heading">
      <h2 id="reset-link-heading">Reset link</h2>
      <p className="muted">
        A link with which they choose a new password themselves, for when they cannot receive mail. It works once, for
        30 minutes.
      </p>
      <ErrorNote error={create.error} />
      {create.data ? <OneTimeLink what="The reset link" {...create.data} /> : null}
      <button
        type="button"
        className="secondary"
        disabled={create.isPending}
        onClick={() => create.mutate({ id: userId })}
      >
        {create.isPending ? 'Creating…' : 'Create a reset link'}
      </button>
    </section>
  );
}
