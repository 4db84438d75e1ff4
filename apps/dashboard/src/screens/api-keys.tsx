import { useState, type FormEvent } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import type { User } from '@gatehouse/client';
import { useTRPC } from '@gatehouse/client/react';
import { API_KEY_SCOPES, type ApiKeyScope } from '@gatehouse/api/schemas';
import { ConfirmButton, Empty, Loading, Page } from '../components.js';
import { formatDate, formatRelative } from '../format.js';
import { Checkbox, ErrorNote, Field, SuccessNote } from '../forms.js';

/** What each scope lets a key do (issue 16; docs/integrations.md has the full table). */
const SCOPE_WORDS: Record<ApiKeyScope, string> = {
  'users:read': 'Read users',
  'users:write': 'Create, change and delete users',
  'sessions:read': 'List sessions',
  'sessions:write': 'Sign sessions out',
  'audit:read': 'Read and verify the audit log',
  'auth:check': 'Prove identity to other services (forward auth, JWTs, introspection)',
};
const ADMIN_ONLY: ReadonlySet<ApiKeyScope> = new Set(['users:read', 'users:write', 'audit:read']);

/** One's own API keys (issue 16): create (shown once), rotate with a grace period, revoke. */
export function ApiKeysScreen({ user }: { user: User }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const keys = useQuery(trpc.apiKey.list.queryOptions());
  const refresh = () => queryClient.invalidateQueries({ queryKey: trpc.apiKey.list.queryKey() });
  const [shown, setShown] = useState<{ name: string; key: string } | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const revoke = useMutation(
    trpc.apiKey.revoke.mutationOptions({
      onSuccess: () => {
        setDone('The key was revoked: it stops working at once.');
        return refresh();
      },
    }),
  );
  const rotate = useMutation(
    trpc.apiKey.rotate.mutationOptions({
      onSuccess: ({ key, apiKey }) => {
        setShown({ name: apiKey.name, key });
        setDone('A new key was made; the old one keeps working for one day.');
        return refresh();
      },
    }),
  );

  return (
    <Page
      title="API keys"
      intro="Keys let scripts and other services call Gatehouse as you, limited to the scopes you choose. Send one as Authorization: Bearer gh_…"
    >
      {shown ? (
        <section className="card" aria-labelledby="new-key-heading">
          <h2 id="new-key-heading">Copy the key “{shown.name}” now</h2>
          <p>It is shown only this once; Gatehouse keeps only a hash of it.</p>
          <p>
            <code data-testid="new-api-key">{shown.key}</code>
          </p>
          <button type="button" className="secondary" onClick={() => setShown(null)}>
            I have copied it
          </button>
        </section>
      ) : null}
      {done ? <SuccessNote>{done}</SuccessNote> : null}
      <ErrorNote error={revoke.error ?? rotate.error} />
      <CreateKeyForm
        isAdmin={user.role === 'admin'}
        onCreated={(name, key) => {
          setShown({ name, key });
          setDone(null);
          return refresh();
        }}
      />
      {keys.isPending ? <Loading label="Loading your keys…" /> : null}
      {keys.isError ? <ErrorNote error={keys.error} /> : null}
      {keys.data && keys.data.length === 0 ? <Empty>You have no API keys.</Empty> : null}
      {keys.data && keys.data.length > 0 ? (
        <table>
          <caption className="visually-hidden">Your API keys</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Starts with</th>
              <th scope="col">Scopes</th>
              <th scope="col">Created</th>
              <th scope="col">Last used</th>
              <th scope="col">Expires</th>
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {keys.data.map((k) => (
              <tr key={k.id}>
                <td>{k.name}</td>
                <td>
                  <code>{k.prefix}</code>
                </td>
                <td>{k.scopes.join(', ')}</td>
                <td>{formatDate(k.createdAt)}</td>
                <td>{k.lastUsedAt ? formatRelative(k.lastUsedAt) : 'never'}</td>
                <td>{k.expiresAt ? formatDate(k.expiresAt) : 'never'}</td>
                <td className="actions">
                  <button
                    type="button"
                    className="secondary"
                    onClick={() => rotate.mutate({ id: k.id, graceSeconds: 86_400 })}
                    disabled={rotate.isPending}
                    aria-label={`Rotate the key ${k.name}`}
                  >
                    Rotate
                  </button>
                  <ConfirmButton
                    label="Revoke"
                    question={`Revoke “${k.name}”? Anything using it stops working at once.`}
                    confirmLabel="Revoke it"
                    onConfirm={() => revoke.mutate({ id: k.id })}
                    busy={revoke.isPending}
                  />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </Page>
  );
}

function CreateKeyForm({
  isAdmin,
  onCreated,
}: {
  isAdmin: boolean;
  onCreated: (name: string, key: string) => Promise<unknown>;
}) {
  const trpc = useTRPC();
  const [name, setName] = useState('');
  const [scopes, setScopes] = useState<ReadonlySet<ApiKeyScope>>(new Set());
  const create = useMutation(
    trpc.apiKey.create.mutationOptions({
      onSuccess: async ({ key, apiKey }) => {
        setName('');
        setScopes(new Set());
        await onCreated(apiKey.name, key);
      },
    }),
  );
  const available = API_KEY_SCOPES.filter((s) => isAdmin || !ADMIN_ONLY.has(s));

  function submit(event: FormEvent) {
    event.preventDefault();
    create.mutate({ name, scopes: [...scopes] });
  }

  return (
    <section className="card" aria-labelledby="create-key-heading">
      <h2 id="create-key-heading">New key</h2>
      <form onSubmit={submit} noValidate aria-labelledby="create-key-heading">
        <Field label="Name" name="name" value={name} onValue={setName} hint="What uses it, e.g. “deploy script”" />
        <fieldset>
          <legend>Scopes</legend>
          {available.map((scope) => (
            <Checkbox
              key={scope}
              label={`${scope}: ${SCOPE_WORDS[scope]}`}
              name={`scope-${scope}`}
              checked={scopes.has(scope)}
              onChecked={(checked) => {
                const next = new Set(scopes);
                if (checked) next.add(scope);
                else next.delete(scope);
                setScopes(next);
              }}
            />
          ))}
        </fieldset>
        <ErrorNote error={create.error} />
        <button type="submit" disabled={create.isPending}>
          Create key
        </button>
      </form>
    </section>
  );
}
