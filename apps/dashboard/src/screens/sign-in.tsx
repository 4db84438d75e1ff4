import { useEffect, useState, type FormEvent } from 'react';
import { useMutation } from '@tanstack/react-query';
import { useTRPC } from '@gatehouse/client/react';
import { AuthPage } from '../components.js';
import { signInInput } from '@gatehouse/api/schemas';
import { Checkbox, ErrorNote, Field, fieldErrorsOf, useForm } from '../forms.js';
// ---- email flows ----
import { isGatehouseError, type RouterOutputs } from '@gatehouse/client';
import { href } from '../router.js';
import { ResendVerification } from './resend-verification.js';
import { PasskeySignIn, SecondFactorStep } from '../mfa/sign-in-steps.js'; // issue 15

export function SignInScreen({ notice, onSignedIn }: { notice: string | null; onSignedIn: () => Promise<void> }) {
  const trpc = useTRPC();
  const { setElement, ...form } = useForm({ identifier: '', password: '' });
  const [rememberMe, setRememberMe] = useState(false);
  // issue 15: the password was right and a second factor is asked.
  const [challenge, setChallenge] = useState<Extract<
    RouterOutputs['auth']['signIn'],
    { status: 'mfa-required' }
  > | null>(null);
  useEffect(() => {
    document.title = 'Sign in · Gatehouse';
  }, []);
  const signIn = useMutation(
    trpc.auth.signIn.mutationOptions({
      onSuccess: async (result) => {
        if (result.status === 'mfa-required') {
          form.setValues((v) => ({ ...v, password: '' }));
          setChallenge(result);
          return;
        }
        await onSignedIn();
      },
      // No focus move: `invalid_credentials` belongs to no one field, and the person retypes.
      onError: (error) => {
        form.setErrors(fieldErrorsOf({}, error));
        form.setValues((v) => ({ ...v, password: '' }));
      },
    }),
  );

  function submit(event: FormEvent) {
    event.preventDefault();
    const input = form.validate(signInInput, { ...form.values, rememberMe });
    if (input) signIn.mutate(input);
  }

  if (challenge) {
    return (
      <AuthPage title="Sign in">
        <SecondFactorStep challenge={challenge} onSignedIn={onSignedIn} onCancel={() => setChallenge(null)} />
      </AuthPage>
    );
  }

  return (
    <AuthPage title="Sign in">
      {notice && !signIn.isError ? (
        <p className="note note-info" role="status">
          {notice}
        </p>
      ) : null}
      <form ref={setElement} onSubmit={submit} noValidate aria-label="Sign in">
        <Field label="Email or username" {...form.field('identifier')} autoComplete="username" autoFocus required />
        <Field label="Password" {...form.field('password')} type="password" autoComplete="current-password" required />
        <Checkbox
          label="Keep me signed in on this device"
          name="rememberMe"
          checked={rememberMe}
          onChecked={setRememberMe}
        />
        <ErrorNote error={signIn.error} />
        {isGatehouseError(signIn.error, 'FORBIDDEN', 'email_unverified') ? (
          <ResendVerification identifier={form.values.identifier} />
        ) : null}
        <button type="submit" disabled={signIn.isPending}>
          {signIn.isPending ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
      <p>
        <a href={href({ name: 'forgot-password' })}>Forgot password?</a>
      </p>
      <PasskeySignIn onSignedIn={onSignedIn} rememberMe={rememberMe} />
    </AuthPage>
  );
}
