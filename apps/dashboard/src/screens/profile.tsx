import { useState, type FormEvent } from 'react';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import type { User } from '@gatehouse/client';
import { useTRPC } from '@gatehouse/client/react';
import { changePasswordInput, updateProfileInput } from '@gatehouse/api/schemas';
import { Page } from '../components.js';
import { ErrorNote, Field, identityChanges, SuccessNote, useForm } from '../forms.js';

/** `user`: the signed-in user. */
export function ProfileScreen({ user }: { user: User }) {
  return (
    <Page title="Your profile">
      <div className="cards">
        <ProfileForm user={user} />
        <ChangePasswordForm />
      </div>
    </Page>
  );
}

function ProfileForm({ user }: { user: User }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [saved, setSaved] = useState(false);
  // ---- email flows: with mail, a new address waits for its confirmation link ----
  const [pendingEmail, setPendingEmail] = useState<string | null>(null);
  const { setElement, ...form } = useForm({ name: user.name, email: user.email, username: user.username ?? '' }, () =>
    setSaved(false),
  );
  const { values } = form;
  const update = useMutation(
    trpc.auth.updateProfile.mutationOptions({
      onSuccess: async (result, input) => {
        setSaved(true);
        setPendingEmail(input.email !== undefined && result.email !== input.email ? input.email : null);
        await queryClient.invalidateQueries({ queryKey: trpc.auth.me.queryKey() });
      },
      onError: form.showServerErrors,
    }),
  );

  function submit(event: FormEvent) {
    event.preventDefault();
    const changes = identityChanges(values, user);
    const input = form.validate(updateProfileInput, changes);
    if (!input) return;
    if (Object.keys(changes).length === 0) {
      setSaved(true);
      return;
    }
    update.mutate(input);
  }

  return (
    <section className="card" aria-labelledby="profile-heading">
      <h2 id="profile-heading">Profile</h2>
      <form ref={setElement} onSubmit={submit} noValidate aria-labelledby="profile-heading">
        <Field label="Full name" {...form.field('name')} autoComplete="name" />
        <Field label="Email" {...form.field('email')} type="email" autoComplete="email" />
        <Field
          label="Username (optional)"
          {...form.field('username')}
          autoComplete="username"
          hint="Leave empty to remove it."
        />
        <ErrorNote error={update.error} />
        {saved && !update.isPending ? <SuccessNote>Your profile is saved.</SuccessNote> : null}
        {pendingEmail && !update.isPending ? (
          <SuccessNote>
            We sent a link to {pendingEmail}: your email address changes when you follow it (within 24 hours).
          </SuccessNote>
        ) : null}
        {user.emailVerifiedAt === null ? <VerifyOwnEmail /> : null}
        <button type="submit" disabled={update.isPending}>
          {update.isPending ? 'Saving…' : 'Save profile'}
        </button>
      </form>
    </section>
  );
}

function ChangePasswordForm() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [done, setDone] = useState<string | null>(null);
  const { setElement, ...form } = useForm({ currentPassword: '', newPassword: '', confirm: '' }, () => setDone(null));
  const { values } = form;
  const change = useMutation(
    trpc.auth.changePassword.mutationOptions({
      onSuccess: async ({ revokedSessions }) => {
        form.setValues({ currentPassword: '', newPassword: '', confirm: '' });
        setDone(
          revokedSessions === 0
            ? 'Your password is changed.'
            : `Your password is changed. ${revokedSessions} other session${revokedSessions === 1 ? ' was' : 's were'} signed out.`,
        );
        await queryClient.invalidateQueries({ queryKey: trpc.session.list.queryKey() });
      },
      onError: form.showServerErrors,
    }),
  );

  function submit(event: FormEvent) {
    event.preventDefault();
    const input = form.validate(
      changePasswordInput,
      { currentPassword: values.currentPassword, newPassword: values.newPassword },
      values.newPassword === values.confirm ? {} : { confirm: 'The two new passwords are not the same' },
    );
    if (input) change.mutate(input);
  }

  return (
    <section className="card" aria-labelledby="password-heading">
      <h2 id="password-heading">Change password</h2>
      <p className="muted">Changing your password signs out all your other sessions.</p>
      <form ref={setElement} onSubmit={submit} noValidate aria-labelledby="password-heading">
        <Field
          label="Current password"
          {...form.field('currentPassword')}
          type="password"
          autoComplete="current-password"
        />
        <Field
          label="New password"
          {...form.field('newPassword')}
          type="password"
          autoComplete="new-password"
          hint="At least 8 characters; not a common password, your email or your username."
        />
        <Field label="Repeat the new password" {...form.field('confirm')} type="password" autoComplete="new-password" />
        <ErrorNote error={change.error} />
        {done ? <SuccessNote>{done}</SuccessNote> : null}
        <button type="submit" disabled={change.isPending}>
          {change.isPending ? 'Changing…' : 'Change password'}
        </button>
      </form>
    </section>
  );
}

/** Email flows: the signed-in user's address is not verified yet; mails a verification link. */
function VerifyOwnEmail() {
  const trpc = useTRPC();
  const request = useMutation(trpc.auth.requestEmailVerification.mutationOptions());
  if (request.isSuccess) return <SuccessNote>A verification link is on its way to your email address.</SuccessNote>;
  return (
    <div className="hint">
      Your email address is not verified yet.{' '}
      <button
        type="button"
        className="secondary"
        disabled={request.isPending}
        onClick={() => request.mutate(undefined)}
      >
        {request.isPending ? 'Sending…' : 'Send a verification link'}
      </button>
      {request.isError ? <ErrorNote error={request.error} /> : null}
    </div>
  );
}
