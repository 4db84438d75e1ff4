import { useMutation } from '@tanstack/react-query';
import { useTRPC } from '@gatehouse/client/react';
import { ErrorNote, SuccessNote } from '../forms.js';

/** On sign-in refused with `email_unverified`: mails a new verification link to the address typed. */
export function ResendVerification({ identifier }: { identifier: string }) {
  const trpc = useTRPC();
  const resend = useMutation(trpc.auth.requestEmailVerification.mutationOptions());
  const email = identifier.includes('@') ? identifier.trim() : null;
  if (resend.isSuccess) return <SuccessNote>A new verification link is on its way to {email}.</SuccessNote>;
  if (!email) return <p className="hint">Sign in with your email address to have a new verification link sent.</p>;
  return (
    <>
      <ErrorNote error={resend.error} />
      <button type="button" className="secondary" disabled={resend.isPending} onClick={() => resend.mutate({ email })}>
        {resend.isPending ? 'Sending…' : 'Send a new verification link'}
      </button>
    </>
  );
}
