/**
 * issue 15: the Security screen — authenticator app (TOTP) with its QR code, recovery codes,
 * passkeys — and the step-up prompt: a sensitive action refused with `reauthentication_required`
 * asks for the password (or a code, or a passkey), then runs again.
 */
import { useState, type FormEvent, type KeyboardEvent, type ReactNode } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { startAuthentication, startRegistration } from '@simplewebauthn/browser';
import { isGatehouseError, type RouterOutputs } from '@gatehouse/client';
import { useTRPC } from '@gatehouse/client/react';
import { Badge, ConfirmButton, Empty, Loading, Page } from '../components.js';
import { formatDate } from '../format.js';
import { ErrorNote, Field, SuccessNote, useForm } from '../forms.js';
import { ceremonyMessage } from './sign-in-steps.js';

type Status = RouterOutputs['mfa']['status'];
type Passkey = Status['passkeys'][number];

const needsStepUp = (error: unknown) => isGatehouseError(error, 'FORBIDDEN', 'reauthentication_required');

/** Holds an action refused for want of a recent sign-in, and runs it again once confirmed. */
function useStepUp() {
  const [retry, setRetry] = useState<(() => void) | null>(null);
  return {
    retry,
    /** Call from a mutation's onError: true when it was the step-up refusal (then it is kept for later). */
    caught: (error: unknown, again: () => void): boolean => {
      if (!needsStepUp(error)) return false;
      setRetry(() => again);
      return true;
    },
    done: () => {
      const again = retry;
      setRetry(null);
      again?.();
    },
    cancel: () => setRetry(null),
  };
}

export function SecurityScreen({ enrolmentRequired }: { enrolmentRequired: boolean }) {
  const trpc = useTRPC();
  const status = useQuery(trpc.mfa.status.queryOptions());
  const stepUp = useStepUp();
  return (
    <Page title="Security" intro="Two-step sign-in: after your password, a code from an app or a passkey.">
      {enrolmentRequired ? (
        <p className="note note-info" role="status">
          This server requires two-step sign-in for your account. Set up an authenticator app or a passkey to continue.
        </p>
      ) : null}
      {stepUp.retry && status.data ? (
        <Reauthenticate status={status.data} onDone={stepUp.done} onCancel={stepUp.cancel} />
      ) : null}
      {status.isPending ? <Loading /> : null}
      <ErrorNote error={status.error} />
      {status.data ? (
        <div className="cards">
          <TotpCard status={status.data} stepUp={stepUp} />
          <RecoveryCard status={status.data} stepUp={stepUp} />
          <PasskeysCard status={status.data} stepUp={stepUp} />
        </div>
      ) : null}
    </Page>
  );
}

type StepUp = ReturnType<typeof useStepUp>;

function useRefreshStatus() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  return async () => {
    await queryClient.invalidateQueries({ queryKey: trpc.mfa.status.queryKey() });
    await queryClient.invalidateQueries({ queryKey: trpc.auth.me.queryKey() });
  };
}

function RecoveryCodes({ codes, children }: { codes: string[]; children?: ReactNode }) {
  const text = `${codes.join('\n')}\n`;
  const [copied, setCopied] = useState(false);
  return (
    <div className="recovery-codes">
      <p>
        <strong>Save these recovery codes now: they are shown only once.</strong> Each one signs you in once if you lose
        your phone or passkey.
      </p>
      <ul aria-label="Recovery codes" className="codes">
        {codes.map((code) => (
          <li key={code}>
            <code>{code}</code>
          </li>
        ))}
      </ul>
      <div className="row">
        <button
          type="button"
          className="secondary"
          onClick={() =>
            void navigator.clipboard.writeText(text).then(
              () => setCopied(true),
              () => setCopied(false),
            )
          }
        >
          Copy codes
        </button>
        <a
          className="button secondary"
          href={`data:text/plain;charset=utf-8,${encodeURIComponent(text)}`}
          download="gatehouse-recovery-codes.txt"
        >
          Download codes
        </a>
        {children}
      </div>
      {copied ? <SuccessNote>Copied.</SuccessNote> : null}
    </div>
  );
}

function TotpCard({ status, stepUp }: { status: Status; stepUp: StepUp }) {
  const trpc = useTRPC();
  const refresh = useRefreshStatus();
  const [codes, setCodes] = useState<string[] | null>(null);
  const { setElement, ...form } = useForm({ code: '' });
  const begin = useMutation(trpc.mfa.totpBegin.mutationOptions());
  const confirm = useMutation(
    trpc.mfa.totpConfirm.mutationOptions({
      onSuccess: async (result) => {
        begin.reset();
        form.setValues({ code: '' });
        setCodes(result.recoveryCodes);
        await refresh();
      },
      onError: () => form.setValues({ code: '' }),
    }),
  );
  const disable = useMutation(
    trpc.mfa.totpDisable.mutationOptions({
      onSuccess: refresh,
      onError: (error) => stepUp.caught(error, () => disable.mutate()),
    }),
  );

  function submit(event: FormEvent) {
    event.preventDefault();
    const code = form.values.code.trim();
    if (!/^\d{6}$/.test(code.replace(/\s/g, ''))) {
      form.setErrors({ code: 'Enter the six digits the app shows' });
      return;
    }
    confirm.mutate({ code });
  }

  return (
    <section className="card" aria-labelledby="totp-heading">
      <h2 id="totp-heading">Authenticator app</h2>
      {codes ? (
        <RecoveryCodes codes={codes}>
          <button type="button" onClick={() => setCodes(null)}>
            I have saved them
          </button>
        </RecoveryCodes>
      ) : status.totp.enabled ? (
        <>
          <p>
            <Badge tone="ok">On</Badge> Sign-in asks for a code from your app.
          </p>
          {disable.error && !needsStepUp(disable.error) ? <ErrorNote error={disable.error} /> : null}
          <ConfirmButton
            label="Turn off the authenticator app"
            question="Sign-in will no longer ask for a code from the app."
            confirmLabel="Turn it off"
            busy={disable.isPending}
            onConfirm={() => disable.mutate()}
          />
        </>
      ) : begin.data ? (
        <form ref={setElement} onSubmit={submit} noValidate aria-label="Confirm the authenticator app">
          <p>Scan this QR code with your authenticator app, then enter the code it shows.</p>
          <img
            className="qr"
            width={200}
            height={200}
            alt="QR code for your authenticator app"
            src={`data:image/svg+xml;charset=utf-8,${encodeURIComponent(begin.data.qrSvg)}`}
          />
          <p className="hint">
            Cannot scan? Enter this key by hand: <code aria-label="Secret key">{begin.data.secret}</code>
          </p>
          <Field
            label="Code from the app"
            {...form.field('code')}
            inputMode="numeric"
            autoComplete="one-time-code"
            autoFocus
          />
          <ErrorNote error={confirm.error} />
          <button type="submit" disabled={confirm.isPending}>
            {confirm.isPending ? 'Checking…' : 'Turn on'}
          </button>
        </form>
      ) : (
        <>
          <p>Use an app such as a password manager or an authenticator app to make sign-in codes.</p>
          <ErrorNote error={begin.error} />
          <button type="button" onClick={() => begin.mutate()} disabled={begin.isPending}>
            {begin.isPending ? 'Preparing…' : 'Set up an authenticator app'}
          </button>
        </>
      )}
    </section>
  );
}

function RecoveryCard({ status, stepUp }: { status: Status; stepUp: StepUp }) {
  const trpc = useTRPC();
  const refresh = useRefreshStatus();
  const [codes, setCodes] = useState<string[] | null>(null);
  const regenerate = useMutation(
    trpc.mfa.recoveryCodesRegenerate.mutationOptions({
      onSuccess: async (result) => {
        setCodes(result.recoveryCodes);
        await refresh();
      },
      onError: (error) => stepUp.caught(error, () => regenerate.mutate()),
    }),
  );
  return (
    <section className="card" aria-labelledby="recovery-heading">
      <h2 id="recovery-heading">Recovery codes</h2>
      {codes ? (
        <RecoveryCodes codes={codes}>
          <button type="button" onClick={() => setCodes(null)}>
            I have saved them
          </button>
        </RecoveryCodes>
      ) : (
        <>
          <p>
            {status.mfaEnabled
              ? `${status.recoveryCodesRemaining} unused recovery code${status.recoveryCodesRemaining === 1 ? '' : 's'} left.`
              : 'You get recovery codes when you set up two-step sign-in.'}
          </p>
          {regenerate.error && !needsStepUp(regenerate.error) ? <ErrorNote error={regenerate.error} /> : null}
          {status.mfaEnabled ? (
            <ConfirmButton
              label="Make new recovery codes"
              question="Your old recovery codes will stop working."
              confirmLabel="Make new codes"
              tone="secondary"
              busy={regenerate.isPending}
              onConfirm={() => regenerate.mutate()}
            />
          ) : null}
        </>
      )}
    </section>
  );
}

function PasskeysCard({ status, stepUp }: { status: Status; stepUp: StepUp }) {
  const trpc = useTRPC();
  const refresh = useRefreshStatus();
  const { setElement, ...form } = useForm({ name: '' });
  const [ceremonyError, setCeremonyError] = useState<string | null>(null);
  const options = useMutation(trpc.mfa.passkeyRegistrationOptions.mutationOptions());
  const register = useMutation(
    trpc.mfa.passkeyRegister.mutationOptions({
      onSuccess: async () => {
        form.setValues({ name: '' });
        await refresh();
      },
    }),
  );

  async function add(event: FormEvent) {
    event.preventDefault();
    setCeremonyError(null);
    register.reset();
    const name = form.values.name.trim() || 'Passkey';
    const { challengeToken, options: optionsJSON } = await options.mutateAsync();
    let response;
    try {
      response = await startRegistration({ optionsJSON });
    } catch (error) {
      setCeremonyError(ceremonyMessage(error));
      return;
    }
    register.mutate({ challengeToken, name, response });
  }

  const busy = options.isPending || register.isPending;
  return (
    <section className="card" aria-labelledby="passkeys-heading">
      <h2 id="passkeys-heading">Passkeys</h2>
      <p>Sign in with your fingerprint, face, screen lock or a security key, without a password.</p>
      {status.passkeys.length === 0 ? (
        <Empty>No passkeys yet.</Empty>
      ) : (
        <ul className="passkeys" aria-label="Your passkeys">
          {status.passkeys.map((passkey) => (
            <PasskeyItem key={passkey.id} passkey={passkey} stepUp={stepUp} />
          ))}
        </ul>
      )}
      <form ref={setElement} onSubmit={(e) => void add(e).catch(() => undefined)} noValidate aria-label="Add a passkey">
        <Field label="Passkey name" {...form.field('name')} hint="For example “Work laptop”." maxLength={64} />
        <ErrorNote error={register.error ?? options.error} />
        {ceremonyError ? <ErrorNote>{ceremonyError}</ErrorNote> : null}
        <button type="submit" disabled={busy}>
          {busy ? 'Waiting for your passkey…' : 'Add a passkey'}
        </button>
      </form>
    </section>
  );
}

function PasskeyItem({ passkey, stepUp }: { passkey: Passkey; stepUp: StepUp }) {
  const trpc = useTRPC();
  const refresh = useRefreshStatus();
  const [renaming, setRenaming] = useState(false);
  const { setElement, ...form } = useForm({ name: passkey.name });
  const rename = useMutation(
    trpc.mfa.passkeyRename.mutationOptions({
      onSuccess: async () => {
        setRenaming(false);
        await refresh();
      },
    }),
  );
  const remove = useMutation(
    trpc.mfa.passkeyDelete.mutationOptions({
      onSuccess: refresh,
      onError: (error) => stepUp.caught(error, () => remove.mutate({ id: passkey.id })),
    }),
  );
  return (
    <li className="passkey">
      {renaming ? (
        <form
          ref={setElement}
          noValidate
          aria-label={`Rename ${passkey.name}`}
          onSubmit={(e) => {
            e.preventDefault();
            const name = form.values.name.trim();
            if (!name) return form.setErrors({ name: 'Enter a name' });
            rename.mutate({ id: passkey.id, name });
          }}
        >
          <Field label="New name" {...form.field('name')} maxLength={64} autoFocus />
          <ErrorNote error={rename.error} />
          <div className="row">
            <button type="submit" disabled={rename.isPending}>
              Save name
            </button>
            <button type="button" className="secondary" onClick={() => setRenaming(false)}>
              Cancel
            </button>
          </div>
        </form>
      ) : (
        <>
          <strong>{passkey.name}</strong> {passkey.backedUp ? <Badge tone="neutral">Synced</Badge> : null}
          <span className="muted">
            {' '}
            · added {formatDate(passkey.createdAt)} ·{' '}
            {passkey.lastUsedAt ? `last used ${formatDate(passkey.lastUsedAt)}` : 'never used'}
          </span>
          {remove.error && !needsStepUp(remove.error) ? <ErrorNote error={remove.error} /> : null}
          <div className="row">
            <button type="button" className="secondary" onClick={() => setRenaming(true)}>
              Rename
            </button>
            <ConfirmButton
              label={`Remove ${passkey.name}`}
              question="You will no longer be able to sign in with this passkey."
              confirmLabel="Remove passkey"
              busy={remove.isPending}
              onConfirm={() => remove.mutate({ id: passkey.id })}
            />
          </div>
        </>
      )}
    </li>
  );
}

/** The step-up prompt: password, a code from the app, or a passkey. */
function Reauthenticate({
  status,
  onDone,
  onCancel,
  embedded = false,
}: {
  status: Status;
  onDone: () => void;
  onCancel: () => void;
  /** Inside another form (an error note of one): no <form> of its own, Enter in the field confirms. */
  embedded?: boolean;
}) {
  const trpc = useTRPC();
  const [method, setMethod] = useState<'password' | 'totp'>('password');
  const [ceremonyError, setCeremonyError] = useState<string | null>(null);
  const { setElement, ...form } = useForm({ secret: '' });
  const reauthenticate = useMutation(
    trpc.auth.reauthenticate.mutationOptions({
      onSuccess: () => onDone(),
      onError: () => form.setValues({ secret: '' }),
    }),
  );
  const passkeyOptions = useMutation(trpc.mfa.passkeyReauthenticationOptions.mutationOptions());

  function submit(event: FormEvent) {
    event.preventDefault();
    confirmIdentity();
  }

  function confirmIdentity() {
    const secret = form.values.secret;
    if (!secret.trim())
      return form.setErrors({ secret: method === 'password' ? 'Enter your password' : 'Enter the code' });
    if (method === 'password') reauthenticate.mutate({ method: 'password', password: secret });
    else reauthenticate.mutate({ method: 'totp', code: secret });
  }

  async function withPasskey() {
    setCeremonyError(null);
    const { challengeToken, options } = await passkeyOptions.mutateAsync();
    try {
      const response = await startAuthentication({ optionsJSON: options });
      reauthenticate.mutate({ method: 'passkey', challengeToken, response });
    } catch (error) {
      setCeremonyError(ceremonyMessage(error));
    }
  }

  const body = (
    <>
      {method === 'password' ? (
        <Field
          label="Your password"
          {...form.field('secret')}
          type="password"
          autoComplete="current-password"
          autoFocus
        />
      ) : (
        <Field
          label="Code from your authenticator app"
          {...form.field('secret')}
          inputMode="numeric"
          autoComplete="one-time-code"
          autoFocus
        />
      )}
      <ErrorNote error={reauthenticate.error ?? passkeyOptions.error} />
      {ceremonyError ? <ErrorNote>{ceremonyError}</ErrorNote> : null}
      <div className="row">
        <button
          type={embedded ? 'button' : 'submit'}
          onClick={embedded ? confirmIdentity : undefined}
          disabled={reauthenticate.isPending}
        >
          {reauthenticate.isPending ? 'Checking…' : 'Confirm'}
        </button>
        {status.totp.enabled ? (
          <button
            type="button"
            className="secondary"
            onClick={() => {
              form.setValues({ secret: '' });
              setMethod(method === 'password' ? 'totp' : 'password');
            }}
          >
            {method === 'password' ? 'Use a code instead' : 'Use your password instead'}
          </button>
        ) : null}
        {status.passkeys.length > 0 ? (
          <button type="button" className="secondary" onClick={() => void withPasskey().catch(() => undefined)}>
            Use a passkey
          </button>
        ) : null}
        <button type="button" className="secondary" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </>
  );

  return (
    <section className="card card-attention" aria-labelledby="reauth-heading" role="region">
      <h2 id="reauth-heading">Confirm it is you</h2>
      <p>For your security, this needs a recent sign-in.</p>
      {embedded ? (
        <div
          role="group"
          aria-label="Confirm it is you"
          onKeyDown={(e: KeyboardEvent) => {
            if (e.key !== 'Enter' || !(e.target instanceof HTMLInputElement)) return;
            e.preventDefault();
            e.stopPropagation();
            confirmIdentity();
          }}
        >
          {body}
        </div>
      ) : (
        <form ref={setElement} onSubmit={submit} noValidate aria-label="Confirm it is you">
          {body}
        </form>
      )}
    </section>
  );
}

/** The step-up prompt for screens outside this one (it reads the caller's own factors itself). */
export function ReauthenticatePrompt({
  onDone,
  onCancel,
  embedded = false,
}: {
  onDone: () => void;
  onCancel: () => void;
  embedded?: boolean;
}) {
  const trpc = useTRPC();
  const status = useQuery(trpc.mfa.status.queryOptions());
  if (!status.data) return <Loading />;
  return <Reauthenticate status={status.data} onDone={onDone} onCancel={onCancel} embedded={embedded} />;
}

/** The admin user screen's card: a user's second factors, and the reset. */
export function UserFactorsCard({ userId, isSelf }: { userId: string; isSelf: boolean }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const factors = useQuery(trpc.mfa.statusOf.queryOptions({ id: userId }));
  const stepUp = useStepUp();
  const [done, setDone] = useState<string | null>(null);
  const reset = useMutation(
    trpc.mfa.reset.mutationOptions({
      onSuccess: async (result) => {
        setDone(`Second factors removed; ${result.revokedSessions} session(s) ended.`);
        await queryClient.invalidateQueries({ queryKey: trpc.mfa.statusOf.queryKey({ id: userId }) });
        await queryClient.invalidateQueries({ queryKey: trpc.user.pathKey() });
      },
      onError: (error) => stepUp.caught(error, () => reset.mutate({ id: userId })),
    }),
  );
  const f = factors.data;
  return (
    <section className="card" aria-labelledby="factors-heading">
      <h2 id="factors-heading">Two-step sign-in</h2>
      {factors.isPending ? <Loading /> : null}
      <ErrorNote error={factors.error} />
      {f ? (
        <ul aria-label="Second factors">
          <li>Authenticator app: {f.totp.enabled ? 'on' : 'off'}</li>
          <li>Passkeys: {f.passkeys.length === 0 ? 'none' : f.passkeys.map((p) => p.name).join(', ')}</li>
          <li>Unused recovery codes: {f.recoveryCodesRemaining}</li>
        </ul>
      ) : null}
      {stepUp.retry ? <ReauthenticatePrompt onDone={stepUp.done} onCancel={stepUp.cancel} /> : null}
      {done ? <SuccessNote>{done}</SuccessNote> : null}
      {reset.error && !needsStepUp(reset.error) ? <ErrorNote error={reset.error} /> : null}
      {f?.mfaEnabled ? (
        <ConfirmButton
          label="Reset second factors"
          question={
            isSelf
              ? 'This removes your own second factors and signs you out everywhere.'
              : 'This removes every second factor of this user and ends their sessions. They sign in with the password alone next time.'
          }
          confirmLabel="Reset"
          busy={reset.isPending}
          onConfirm={() => reset.mutate({ id: userId })}
        />
      ) : null}
    </section>
  );
}
