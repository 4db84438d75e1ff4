/**
 * The screens a mailed (or handed-over) link opens, and "Forgot password?": reset a password,
 * accept an invitation, verify an address, confirm an email change. They work signed in or not;
 * the token comes from the URL fragment and never leaves the browser except to the API call.
 */
import { useEffect, useRef, type FormEvent } from 'react';
import { useMutation } from '@tanstack/react-query';
import { useTRPC } from '@gatehouse/client/react';
import { acceptInvitationInput, requestPasswordResetInput, resetPasswordInput } from '@gatehouse/api/schemas';
import { AuthPage, Loading } from '../components.js';
import { ErrorNote, Field, SuccessNote, useForm } from '../forms.js';
import { href, navigate, type LinkRoute } from '../router.js';

const backToSignIn = (
  <p>
    <a href={href({ name: 'home' })}>Back to sign-in</a>
  </p>
);

export function AccountLinkScreen({ route, onSignedIn }: { route: LinkRoute; onSignedIn: () => Promise<void> }) {
  switch (route.name) {
    case 'forgot-password':
      return <ForgotPasswordScreen />;
    case 'reset-password':
      return <ResetPasswordScreen token={route.token} />;
    case 'accept-invitation':
      return <AcceptInvitationScreen token={route.token} onSignedIn={onSignedIn} />;
    case 'verify-email':
      return <FollowLinkScreen kind="verify" token={route.token} />;
    case 'confirm-email':
      return <FollowLinkScreen kind="confirm" token={route.token} />;
  }
}

function ForgotPasswordScreen() {
  const trpc = useTRPC();
  const { setElement, ...form } = useForm({ email: '' });
  useEffect(() => {
    document.title = 'Forgot password · Gatehouse';
  }, []);
  const request = useMutation(trpc.auth.requestPasswordReset.mutationOptions({ onError: form.showServerErrors }));
  function submit(event: FormEvent) {
    event.preventDefault();
    const input = form.validate(requestPasswordResetInput, form.values);
    if (input) request.mutate(input);
  }
  return (
    <AuthPage title="Forgot password">
      {request.isSuccess ? (
        <SuccessNote>
          If an account has this address, a mail with a link to choose a new password is on its way. The link works
          once, for 30 minutes.
        </SuccessNote>
      ) : (
        <form ref={setElement} onSubmit={submit} noValidate aria-label="Forgot password">
          <p className="intro">
            Enter the email address of your account. We will mail you a link to choose a new password.
          </p>
          <Field label="Email" {...form.field('email')} type="email" autoComplete="email" autoFocus required />
          <ErrorNote error={request.error} />
          <button type="submit" disabled={request.isPending}>
            {request.isPending ? 'Sending…' : 'Send the link'}
          </button>
        </form>
      )}
      {backToSignIn}
    </AuthPage>
  );
}

function ResetPasswordScreen({ token }: { token: string }) {
  const trpc = useTRPC();
  const { setElement, ...form } = useForm({ newPassword: '', confirm: '' });
  useEffect(() => {
    document.title = 'Choose a new password · Gatehouse';
  }, []);
  const reset = useMutation(trpc.auth.resetPassword.mutationOptions({ onError: form.showServerErrors }));
  function submit(event: FormEvent) {
    event.preventDefault();
    const input = form.validate(
      resetPasswordInput,
      { token, newPassword: form.values.newPassword },
      form.values.newPassword === form.values.confirm ? {} : { confirm: 'The two passwords are not the same' },
    );
    if (input) reset.mutate(input);
  }
  return (
    <AuthPage title="Choose a new password">
      {reset.isSuccess ? (
        <SuccessNote>
          Your password has been changed and every session signed out. Sign in with the new password.
        </SuccessNote>
      ) : (
        <form ref={setElement} onSubmit={submit} noValidate aria-label="Choose a new password">
          <Field
            label="New password"
            {...form.field('newPassword')}
            type="password"
            autoComplete="new-password"
            hint="At least 8 characters; not a common password, your email or your username."
            autoFocus
            required
          />
          <Field
            label="Repeat the password"
            {...form.field('confirm')}
            type="password"
            autoComplete="new-password"
            required
          />
          <ErrorNote error={reset.error} />
          <button type="submit" disabled={reset.isPending}>
            {reset.isPending ? 'Saving…' : 'Set the new password'}
          </button>
        </form>
      )}
      {backToSignIn}
    </AuthPage>
  );
}

function AcceptInvitationScreen({ token, onSignedIn }: { token: string; onSignedIn: () => Promise<void> }) {
  const trpc = useTRPC();
  const { setElement, ...form } = useForm({ username: '', password: '', confirm: '' });
  useEffect(() => {
    document.title = 'Accept the invitation · Gatehouse';
  }, []);
  const accept = useMutation(
    trpc.auth.acceptInvitation.mutationOptions({
      onSuccess: async () => {
        navigate(href({ name: 'home' }));
        await onSignedIn();
      },
      onError: form.showServerErrors,
    }),
  );
  function submit(event: FormEvent) {
    event.preventDefault();
    const input = form.validate(
      acceptInvitationInput,
      {
        token,
        password: form.values.password,
        username: form.values.username.trim() === '' ? undefined : form.values.username,
      },
      form.values.password === form.values.confirm ? {} : { confirm: 'The two passwords are not the same' },
    );
    if (input) accept.mutate(input);
  }
  return (
    <AuthPage title="Accept the invitation">
      <form ref={setElement} onSubmit={submit} noValidate aria-label="Accept the invitation">
        <p className="intro">
          Choose the password of your new account. Your email address is the one the invitation went to.
        </p>
        <Field
          label="Username (optional)"
          {...form.field('username')}
          autoComplete="username"
          hint="3–32 letters, digits, dots, dashes or underscores. You can sign in with it instead of your email."
        />
        <Field
          label="Password"
          {...form.field('password')}
          type="password"
          autoComplete="new-password"
          hint="At least 8 characters; not a common password, your email or your username."
          autoFocus
          required
        />
        <Field
          label="Repeat the password"
          {...form.field('confirm')}
          type="password"
          autoComplete="new-password"
          required
        />
        <ErrorNote error={accept.error} />
        <button type="submit" disabled={accept.isPending}>
          {accept.isPending ? 'Creating your account…' : 'Create my account'}
        </button>
      </form>
      {backToSignIn}
    </AuthPage>
  );
}

/** Verify an address or confirm an email change: one click, so that a mail scanner fetching the link changes nothing. */
function FollowLinkScreen({ kind, token }: { kind: 'verify' | 'confirm'; token: string }) {
  const trpc = useTRPC();
  const verify = useMutation(trpc.auth.verifyEmail.mutationOptions());
  const confirm = useMutation(trpc.auth.confirmEmailChange.mutationOptions());
  const action = kind === 'verify' ? verify : confirm;
  const button = useRef<HTMLButtonElement>(null);
  const title = kind === 'verify' ? 'Verify your email address' : 'Confirm your new email address';
  useEffect(() => {
    document.title = `${title} · Gatehouse`;
    button.current?.focus();
  }, [title]);
  return (
    <AuthPage title={title}>
      {action.isSuccess ? (
        <SuccessNote>
          {kind === 'verify'
            ? 'Your email address is verified.'
            : `Your email address is now ${confirm.data?.email ?? 'the new one'}. Sign in with it from now on.`}
        </SuccessNote>
      ) : (
        <>
          <p className="intro">
            {kind === 'verify'
              ? 'Confirm that this address belongs to your Gatehouse account.'
              : 'Confirm the change: your account will use this new address from now on.'}
          </p>
          <ErrorNote error={action.error} />
          {action.isPending ? <Loading label="Confirming…" /> : null}
          <button ref={button} type="button" disabled={action.isPending} onClick={() => action.mutate({ token })}>
            {kind === 'verify' ? 'Verify my address' : 'Confirm the new address'}
          </button>
        </>
      )}
      {backToSignIn}
    </AuthPage>
  );
}
