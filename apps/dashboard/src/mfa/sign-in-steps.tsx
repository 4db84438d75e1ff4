/**
 * issue 15: the sign-in second step (authenticator code, recovery code or passkey) and
 * "Sign in with a passkey" (passwordless, discoverable credentials). The sign-in screen renders
 * these; everything about second factors at sign-in lives here.
 */
import { useState, type FormEvent } from 'react';
import { useMutation } from '@tanstack/react-query';
import { startAuthentication, WebAuthnError } from '@simplewebauthn/browser';
import type { RouterOutputs } from '@gatehouse/client';
import { useTRPC } from '@gatehouse/client/react';
import { ErrorNote, Field, useForm } from '../forms.js';

type MfaRequired = Extract<RouterOutputs['auth']['signIn'], { status: 'mfa-required' }>;

/** What a failed browser ceremony means to the person (cancelled, no passkey here…). */
export function ceremonyMessage(error: unknown): string {
  if (error instanceof WebAuthnError && error.code === 'ERROR_CEREMONY_ABORTED')
    return 'The passkey request was cancelled.';
  if (error instanceof Error && error.name === 'NotAllowedError') {
    return 'No passkey was used. Try again, or choose another way.';
  }
  return 'This browser could not use a passkey. Try again, or choose another way.';
}

export function SecondFactorStep({
  challenge,
  onSignedIn,
  onCancel,
}: {
  challenge: MfaRequired;
  onSignedIn: () => Promise<void>;
  onCancel: () => void;
}) {
  const trpc = useTRPC();
  const initial = challenge.methods.includes('totp')
    ? 'totp'
    : challenge.methods.includes('passkey')
      ? 'passkey'
      : 'recovery';
  const [method, setMethod] = useState<'totp' | 'recovery' | 'passkey'>(initial);
  const [ceremonyError, setCeremonyError] = useState<string | null>(null);
  const { setElement, ...form } = useForm({ code: '' });
  const verify = useMutation(
    trpc.auth.verifyMfa.mutationOptions({
      onSuccess: () => onSignedIn(),
      onError: () => form.setValues({ code: '' }),
    }),
  );

  function submit(event: FormEvent) {
    event.preventDefault();
    if (method === 'passkey') return;
    const code = form.values.code.trim();
    if (!code) {
      form.setErrors({ code: 'Enter the code' });
      return;
    }
    verify.mutate({ challengeToken: challenge.challengeToken, method, code });
  }

  async function signInWithPasskeyNow() {
    setCeremonyError(null);
    if (!challenge.passkeyOptions) return;
    try {
      const response = await startAuthentication({ optionsJSON: challenge.passkeyOptions });
      verify.mutate({ challengeToken: challenge.challengeToken, method: 'passkey', response });
    } catch (error) {
      setCeremonyError(ceremonyMessage(error));
    }
  }

  const others = challenge.methods.filter((m) => m !== method);
  const LABEL = {
    totp: 'Use your authenticator app',
    recovery: 'Use a recovery code',
    passkey: 'Use a passkey',
  } as const;
  return (
    <section aria-labelledby="second-step-heading">
      <h2 id="second-step-heading">Confirm it is you</h2>
      {method === 'passkey' ? (
        <div>
          <p>Use the passkey saved on this device or your security key.</p>
          <ErrorNote error={verify.error} />
          {ceremonyError ? <ErrorNote>{ceremonyError}</ErrorNote> : null}
          <button type="button" onClick={() => void signInWithPasskeyNow()} disabled={verify.isPending}>
            {verify.isPending ? 'Checking…' : 'Use passkey'}
          </button>
        </div>
      ) : (
        <form ref={setElement} onSubmit={submit} noValidate aria-label="Second step">
          {method === 'totp' ? (
            <Field
              label="Code from your authenticator app"
              {...form.field('code')}
              inputMode="numeric"
              autoComplete="one-time-code"
              autoFocus
              hint="Six digits; a new one every 30 seconds."
            />
          ) : (
            <Field
              label="Recovery code"
              {...form.field('code')}
              autoComplete="off"
              autoFocus
              hint="One of the codes you saved when you set up two-step sign-in. Each works once."
            />
          )}
          <ErrorNote error={verify.error} />
          <button type="submit" disabled={verify.isPending}>
            {verify.isPending ? 'Checking…' : 'Continue'}
          </button>
        </form>
      )}
      <div className="row">
        {others.map((m) => (
          <button
            key={m}
            type="button"
            className="secondary"
            onClick={() => {
              verify.reset();
              setCeremonyError(null);
              form.setValues({ code: '' });
              form.setErrors({});
              setMethod(m);
            }}
          >
            {LABEL[m]}
          </button>
        ))}
        <button type="button" className="secondary" onClick={onCancel}>
          Start again
        </button>
      </div>
    </section>
  );
}

export function PasskeySignIn({ onSignedIn, rememberMe }: { onSignedIn: () => Promise<void>; rememberMe: boolean }) {
  const trpc = useTRPC();
  const [ceremonyError, setCeremonyError] = useState<string | null>(null);
  const options = useMutation(trpc.auth.passkeyOptions.mutationOptions());
  const signIn = useMutation(trpc.auth.signInWithPasskey.mutationOptions({ onSuccess: () => onSignedIn() }));

  async function start() {
    setCeremonyError(null);
    signIn.reset();
    const { challengeToken, options: optionsJSON } = await options.mutateAsync();
    let response;
    try {
      response = await startAuthentication({ optionsJSON });
    } catch (error) {
      setCeremonyError(ceremonyMessage(error));
      return;
    }
    signIn.mutate({ challengeToken, response, rememberMe });
  }

  const busy = options.isPending || signIn.isPending;
  return (
    <div className="passkey-sign-in">
      <ErrorNote error={signIn.error ?? options.error} />
      {ceremonyError ? <ErrorNote>{ceremonyError}</ErrorNote> : null}
      <button type="button" className="secondary" onClick={() => void start().catch(() => undefined)} disabled={busy}>
        {busy ? 'Waiting for your passkey…' : 'Sign in with a passkey'}
      </button>
    </div>
  );
}
