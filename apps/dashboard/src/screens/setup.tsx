import { useEffect, type FormEvent } from 'react';
import { useMutation } from '@tanstack/react-query';
import { isGatehouseError } from '@gatehouse/client';
import { useTRPC } from '@gatehouse/client/react';
import { AuthPage } from '../components.js';
import { newAccountInput } from '@gatehouse/api/schemas';
import { ErrorNote, Field, useForm } from '../forms.js';

/** First run: nobody exists yet, so the first account becomes the administrator. */
/** `onAlreadySetUp`: someone else finished setup first (reason `already_set_up`): go to sign-in. */
export function SetupScreen({ onDone, onAlreadySetUp }: { onDone: () => Promise<void>; onAlreadySetUp: () => void }) {
  const trpc = useTRPC();
  const { setElement, ...form } = useForm({ name: '', email: '', username: '', password: '', confirm: '' });
  const { values } = form;
  useEffect(() => {
    document.title = 'Set up · Gatehouse';
  }, []);
  const create = useMutation(trpc.auth.createFirstUser.mutationOptions({ onSuccess: () => onDone() }));

  function submit(event: FormEvent) {
    event.preventDefault();
    const input = form.validate(
      newAccountInput,
      {
        name: values.name,
        email: values.email,
        username: values.username.trim() === '' ? undefined : values.username,
        password: values.password,
      },
      values.password === values.confirm ? {} : { confirm: 'The two passwords are not the same' },
    );
    if (!input) return;
    create.mutate(input, {
      onError: (error) => {
        if (isGatehouseError(error, 'PRECONDITION_FAILED', 'already_set_up')) onAlreadySetUp();
        else form.showServerErrors(error);
      },
    });
  }

  return (
    <AuthPage title="Set up Gatehouse">
      <p className="intro">Nobody has an account yet. Create the first one: it becomes the administrator.</p>
      <form ref={setElement} onSubmit={submit} noValidate aria-label="Create the administrator account">
        <Field label="Full name" {...form.field('name')} autoComplete="name" required />
        <Field label="Email" {...form.field('email')} type="email" autoComplete="email" required />
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
          required
        />
        <Field
          label="Repeat the password"
          {...form.field('confirm')}
          type="password"
          autoComplete="new-password"
          required
        />
        <ErrorNote error={create.error} />
        <button type="submit" disabled={create.isPending}>
          {create.isPending ? 'Creating the account…' : 'Create administrator account'}
        </button>
      </form>
    </AuthPage>
  );
}
