import { useState, type FormEvent } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { isGatehouseError, type User } from '@gatehouse/client';
import { useTRPC } from '@gatehouse/client/react';
import { ROLES, userSetPasswordInput, userUpdateInput } from '@gatehouse/api/schemas';
import { Badge, ConfirmButton, Loading, Page, ROLE_LABEL, UserBadge } from '../components.js';
import { formatDate, formatRelative } from '../format.js';
import { ErrorNote, Field, identityChanges, SelectField, SuccessNote, useForm } from '../forms.js';
import { href, navigate } from '../router.js';
import { UserFactorsCard } from '../mfa/security.js'; // issue 15
import { SessionList } from './session-list.js';
// ---- email flows ----
import { ResetLinkCard } from './invitations.js';

/** One user, for administrators: edit, (de)activate, set a password, sessions, delete. `viewer`: who is looking. */
export function UserScreen({ id, viewer }: { id: string; viewer: User }) {
  const trpc = useTRPC();
  const user = useQuery(trpc.user.byId.queryOptions({ id }));
  if (user.isPending) {
    return (
      <Page title="User">
        <Loading label="Loading the user…" />
      </Page>
    );
  }
  if (user.isError) {
    // A deleted user, or an address that holds no user id at all.
    const gone =
      isGatehouseError(user.error, 'NOT_FOUND') || isGatehouseError(user.error, undefined, 'validation_failed');
    return (
      <Page title="User">
        <ErrorNote>{gone ? 'There is no such user. They may have been deleted.' : undefined}</ErrorNote>
        {gone ? null : <ErrorNote error={user.error} />}
        <p>
          <a href={href({ name: 'users' })}>Back to all users</a>
        </p>
      </Page>
    );
  }
  const u = user.data;
  const isSelf = u.id === viewer.id;
  return (
    <Page
      title={u.name}
      intro={
        <>
          <a href={href({ name: 'users' })}>← All users</a> · <UserBadge user={u} show="role" />{' '}
          <UserBadge user={u} show="status" /> {isSelf ? <Badge>You</Badge> : null} · created {formatDate(u.createdAt)}{' '}
          · last sign-in {formatRelative(u.lastSignInAt)}
          {/* #17 user import: the id this user had in the backend they were imported from. */}
          {u.externalId !== null ? (
            <>
              {' '}
              · imported, old id <code>{u.externalId}</code>
            </>
          ) : null}
        </>
      }
    >
      <div className="cards">
        <EditUserForm user={u} />
        <AccountActions user={u} isSelf={isSelf} />
        {isSelf ? (
          <section className="card" aria-labelledby="set-password-heading">
            <h2 id="set-password-heading">Password</h2>
            <p>
              This is your own account. Change your password on <a href={href({ name: 'profile' })}>your profile</a>: it
              keeps this session signed in, where setting it here would sign you out everywhere.
            </p>
          </section>
        ) : (
          <SetPasswordForm user={u} />
        )}
        {/* ---- email flows ---- */}
        {isSelf ? null : <ResetLinkCard userId={u.id} />}
        <UserSessions user={u} />
        <UserFactorsCard userId={u.id} isSelf={isSelf} />
      </div>
    </Page>
  );
}

function useInvalidateUser() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  return async () => {
    await Promise.all([
      queryClient.invalidateQueries({ queryKey: trpc.user.pathKey() }),
      queryClient.invalidateQueries({ queryKey: trpc.session.pathKey() }),
    ]);
  };
}

function valuesOf(user: User) {
  return { name: user.name, email: user.email, username: user.username ?? '', role: user.role as string };
}

function EditUserForm({ user }: { user: User }) {
  const trpc = useTRPC();
  const invalidate = useInvalidateUser();
  const [saved, setSaved] = useState(false);
  const { setElement, ...form } = useForm(
    () => valuesOf(user),
    () => setSaved(false),
  );
  const { values, setValues } = form;
  // When the user changes on the server (this save, or another admin's), show what is stored now:
  // adjusted while rendering, the way React's docs adjust state to a changed prop.
  const version = user.updatedAt.getTime();
  const [shownVersion, setShownVersion] = useState(version);
  if (version !== shownVersion) {
    setShownVersion(version);
    setValues(valuesOf(user));
  }
  const update = useMutation(
    trpc.user.update.mutationOptions({
      onSuccess: async () => {
        setSaved(true);
        await invalidate();
      },
      onError: form.showServerErrors,
    }),
  );

  function submit(event: FormEvent) {
    event.preventDefault();
    const changes: Record<string, unknown> = { id: user.id, ...identityChanges(values, user) };
    if (values.role !== user.role) changes.role = values.role;
    const input = form.validate(userUpdateInput, changes);
    if (!input) return;
    if (Object.keys(changes).length === 1) {
      setSaved(true);
      return;
    }
    update.mutate(input);
  }

  return (
    <section className="card" aria-labelledby="edit-heading">
      <h2 id="edit-heading">Details</h2>
      <form ref={setElement} onSubmit={submit} noValidate aria-labelledby="edit-heading">
        <Field label="Full name" {...form.field('name')} autoComplete="off" />
        <Field label="Email" {...form.field('email')} type="email" autoComplete="off" />
        <Field
          label="Username (optional)"
          {...form.field('username')}
          autoComplete="off"
          hint="Leave empty to remove it."
        />
        <SelectField
          label="Role"
          {...form.field('role')}
          options={ROLES.map((r) => ({ value: r, label: ROLE_LABEL[r] }))}
        />
        <ErrorNote error={update.error} />
        {saved && !update.isPending ? <SuccessNote>Saved.</SuccessNote> : null}
        <button type="submit" disabled={update.isPending}>
          {update.isPending ? 'Saving…' : 'Save changes'}
        </button>
      </form>
    </section>
  );
}

function AccountActions({ user, isSelf }: { user: User; isSelf: boolean }) {
  const trpc = useTRPC();
  const invalidate = useInvalidateUser();
  const [done, setDone] = useState<string | null>(null);
  const setActive = useMutation(
    trpc.user.update.mutationOptions({
      onSuccess: async (updated) => {
        setDone(
          updated.isActive
            ? `${updated.name} can sign in again.`
            : `${updated.name} is deactivated and was signed out everywhere.`,
        );
        await invalidate();
      },
    }),
  );
  const remove = useMutation(
    trpc.user.delete.mutationOptions({
      onSuccess: async () => {
        await invalidate();
        navigate(href({ name: 'users' }));
      },
    }),
  );
  return (
    <section className="card" aria-labelledby="account-heading">
      <h2 id="account-heading">Account</h2>
      {done ? <SuccessNote>{done}</SuccessNote> : null}
      <ErrorNote error={setActive.error ?? remove.error} />
      <div className="stack">
        {user.isActive ? (
          <ConfirmButton
            label="Deactivate"
            tone="secondary"
            question={`Deactivate ${user.name}? They are signed out everywhere and cannot sign in until reactivated.${isSelf ? ' This is your own account: you will be signed out.' : ''}`}
            confirmLabel="Deactivate"
            busy={setActive.isPending}
            onConfirm={() => setActive.mutate({ id: user.id, isActive: false })}
          />
        ) : (
          <button
            type="button"
            className="secondary"
            onClick={() => setActive.mutate({ id: user.id, isActive: true })}
            disabled={setActive.isPending}
          >
            Reactivate
          </button>
        )}
        <ConfirmButton
          label="Delete user"
          question={
            <>
              Delete <strong>{user.name}</strong> ({user.email}) for good? Their sessions end at once. This cannot be
              undone; the audit log keeps the record.
            </>
          }
          confirmLabel="Delete permanently"
          busy={remove.isPending}
          onConfirm={() => remove.mutate({ id: user.id })}
        />
      </div>
    </section>
  );
}

function SetPasswordForm({ user }: { user: User }) {
  const trpc = useTRPC();
  const invalidate = useInvalidateUser();
  const { setElement, ...form } = useForm({ newPassword: '' });
  const [done, setDone] = useState<string | null>(null);
  const setPasswordMutation = useMutation(
    trpc.user.setPassword.mutationOptions({
      onSuccess: async ({ revokedSessions }) => {
        form.setValues({ newPassword: '' });
        setDone(`Password set. ${revokedSessions} session${revokedSessions === 1 ? ' was' : 's were'} signed out.`);
        await invalidate();
      },
      onError: form.showServerErrors,
    }),
  );

  function submit(event: FormEvent) {
    event.preventDefault();
    setDone(null);
    const input = form.validate(userSetPasswordInput, { id: user.id, newPassword: form.values.newPassword });
    if (input) setPasswordMutation.mutate(input);
  }

  return (
    <section className="card" aria-labelledby="set-password-heading">
      <h2 id="set-password-heading">Set a new password</h2>
      <p className="muted">For someone who lost theirs. All their sessions end.</p>
      <form ref={setElement} onSubmit={submit} noValidate aria-labelledby="set-password-heading">
        <Field label="New password" {...form.field('newPassword')} type="password" autoComplete="new-password" />
        <ErrorNote error={setPasswordMutation.error} />
        {done ? <SuccessNote>{done}</SuccessNote> : null}
        <button type="submit" disabled={setPasswordMutation.isPending}>
          {setPasswordMutation.isPending ? 'Setting…' : 'Set password'}
        </button>
      </form>
    </section>
  );
}

function UserSessions({ user }: { user: User }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const sessions = useQuery(trpc.session.listForUser.queryOptions({ userId: user.id }));
  const [done, setDone] = useState<string | null>(null);
  const refresh = () => queryClient.invalidateQueries({ queryKey: trpc.session.pathKey() });
  const revoke = useMutation(
    trpc.session.revoke.mutationOptions({
      onSuccess: () => {
        setDone('The session was revoked.');
        return refresh();
      },
    }),
  );
  const revokeAll = useMutation(
    trpc.session.revokeAllForUser.mutationOptions({
      onSuccess: ({ revoked }) => {
        setDone(`Revoked ${revoked} session${revoked === 1 ? '' : 's'}.`);
        return refresh();
      },
    }),
  );
  const count = sessions.data?.length ?? 0;
  return (
    <section className="card card-wide" aria-labelledby="user-sessions-heading">
      <div className="section-head">
        <h2 id="user-sessions-heading">Sessions of {user.name}</h2>
        <ConfirmButton
          label="Revoke all sessions"
          question={`Sign ${user.name} out of all ${count} session${count === 1 ? '' : 's'}?`}
          confirmLabel="Revoke all"
          busy={revokeAll.isPending}
          disabled={count === 0}
          onConfirm={() => revokeAll.mutate({ userId: user.id })}
        />
      </div>
      {done ? <SuccessNote>{done}</SuccessNote> : null}
      <ErrorNote error={revoke.error ?? revokeAll.error} />
      {sessions.isPending ? <Loading label="Loading sessions…" /> : null}
      {sessions.isError ? <ErrorNote error={sessions.error} /> : null}
      {sessions.data ? (
        <SessionList
          sessions={sessions.data}
          emptyText={`${user.name} is not signed in anywhere.`}
          action={(s) => (
            <button
              type="button"
              className="secondary"
              onClick={() => revoke.mutate({ id: s.id })}
              disabled={revoke.isPending}
            >
              Revoke
            </button>
          )}
        />
      ) : null}
    </section>
  );
}
