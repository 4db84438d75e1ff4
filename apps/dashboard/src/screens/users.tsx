import { useState, type FormEvent } from 'react';
import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useTRPC } from '@gatehouse/client/react';
import { ROLES, userCreateInput } from '@gatehouse/api/schemas';
import { Empty, Loading, Page, Pager, ROLE_LABEL, useDebounced, usePager, UserBadge } from '../components.js';
import { formatRelative } from '../format.js';
import { ErrorNote, Field, SelectField, SuccessNote, useForm } from '../forms.js';
import { href } from '../router.js';
// ---- email flows ----
import { InvitationsCard, InviteUserForm, MailStatusCard } from './invitations.js';

const PAGE_SIZE = 20;
type Role = (typeof ROLES)[number];

export function UsersScreen() {
  const trpc = useTRPC();
  const [search, setSearch] = useState('');
  const [role, setRole] = useState<'' | Role>('');
  const [status, setStatus] = useState<'' | 'active' | 'inactive'>('');
  const [creating, setCreating] = useState(false);
  const [created, setCreated] = useState<{ id: string; name: string } | null>(null);
  const [invitedNote, setInvitedNote] = useState<string | null>(null);
  const pager = usePager();
  const debouncedSearch = useDebounced(search.trim(), 300);
  const users = useQuery(
    trpc.user.list.queryOptions(
      {
        limit: PAGE_SIZE,
        cursor: pager.cursor,
        ...(debouncedSearch ? { search: debouncedSearch } : {}),
        ...(role ? { role } : {}),
        ...(status ? { status } : {}),
      },
      { placeholderData: keepPreviousData },
    ),
  );
  const filterChanged =
    <T,>(setter: (v: T) => void) =>
    (value: T) => {
      setter(value);
      pager.reset();
    };
  const firstIndex = (pager.page - 1) * PAGE_SIZE + 1;

  return (
    <Page
      title="Users"
      actions={
        <button
          type="button"
          onClick={() => setCreating((v) => !v)}
          aria-expanded={creating}
          aria-controls="create-user"
        >
          {creating ? 'Close the form' : 'New user'}
        </button>
      }
    >
      {creating ? (
        <NewUserCard
          onCreated={(user) => {
            setCreated(user);
            setCreating(false);
          }}
          onInvited={(note) => {
            setInvitedNote(note);
            setCreating(false);
          }}
        />
      ) : null}
      {invitedNote ? <SuccessNote>{invitedNote}</SuccessNote> : null}
      {created ? (
        <SuccessNote>
          Created <a href={href({ name: 'user', id: created.id })}>{created.name}</a>.
        </SuccessNote>
      ) : null}

      <form className="filters" role="search" aria-label="Find users" onSubmit={(e) => e.preventDefault()}>
        <Field
          label="Search"
          name="search"
          type="search"
          value={search}
          onValue={filterChanged(setSearch)}
          placeholder="Name, email, username or old id"
        />
        <SelectField
          label="Role"
          name="role"
          value={role}
          onValue={(v) => filterChanged(setRole)(v as '' | Role)}
          options={[{ value: '', label: 'Any role' }, ...ROLES.map((r) => ({ value: r, label: ROLE_LABEL[r] }))]}
        />
        <SelectField
          label="Status"
          name="status"
          value={status}
          onValue={(v) => filterChanged(setStatus)(v as '' | 'active' | 'inactive')}
          options={[
            { value: '', label: 'Any status' },
            { value: 'active', label: 'Active' },
            { value: 'inactive', label: 'Deactivated' },
          ]}
        />
      </form>

      {users.isPending ? <Loading label="Loading users…" /> : null}
      {users.isError ? <ErrorNote error={users.error} /> : null}
      {users.data ? (
        users.data.items.length === 0 ? (
          <Empty>
            {debouncedSearch || role || status ? 'No user matches these filters.' : 'There are no users yet.'}
          </Empty>
        ) : (
          <>
            <div className="table-wrap">
              <table className="table" aria-busy={users.isFetching}>
                <caption className="visually-hidden">Users</caption>
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    <th scope="col" className="hide-narrow">
                      Email
                    </th>
                    <th scope="col" className="hide-narrow">
                      Username
                    </th>
                    <th scope="col">Role</th>
                    <th scope="col">Status</th>
                    <th scope="col" className="hide-narrow">
                      Last sign-in
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {users.data.items.map((u) => (
                    <tr key={u.id}>
                      <th scope="row">
                        <a href={href({ name: 'user', id: u.id })}>{u.name}</a>
                        <span className="show-narrow muted break">{u.email}</span>
                      </th>
                      <td className="break hide-narrow">{u.email}</td>
                      <td className="hide-narrow">{u.username ?? '—'}</td>
                      <td>
                        <UserBadge user={u} show="role" />
                      </td>
                      <td>
                        <UserBadge user={u} show="status" />
                      </td>
                      <td className="hide-narrow">{formatRelative(u.lastSignInAt)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            <Pager
              label="Pages of users"
              page={pager.page}
              hasNext={users.data.nextCursor !== null && !users.isPlaceholderData}
              onPrevious={pager.previous}
              onNext={() => users.data.nextCursor && pager.next(users.data.nextCursor)}
              summary={
                users.isPlaceholderData
                  ? 'Loading…'
                  : `${firstIndex}–${firstIndex + users.data.items.length - 1} of ${users.data.total}`
              }
            />
          </>
        )
      ) : null}
      {/* ---- email flows ---- */}
      <InvitationsCard />
      <MailStatusCard />
    </Page>
  );
}

/** "New user": invite by mail (the default) or set a password oneself. */
function NewUserCard({
  onCreated,
  onInvited,
}: {
  onCreated: (user: { id: string; name: string }) => void;
  onInvited: (note: string) => void;
}) {
  const [mode, setMode] = useState<'invite' | 'password'>('invite');
  return (
    <section className="card" id="create-user" aria-labelledby="create-heading">
      <h2 id="create-heading">New user</h2>
      <fieldset className="row">
        <legend className="visually-hidden">How the person gets in</legend>
        <label>
          <input type="radio" name="new-user-mode" checked={mode === 'invite'} onChange={() => setMode('invite')} />{' '}
          Invite by email: they choose their password
        </label>
        <label>
          <input type="radio" name="new-user-mode" checked={mode === 'password'} onChange={() => setMode('password')} />{' '}
          Set an initial password
        </label>
      </fieldset>
      {mode === 'invite' ? <InviteUserForm onInvited={onInvited} /> : <CreateUserForm onCreated={onCreated} />}
    </section>
  );
}

function CreateUserForm({ onCreated }: { onCreated: (user: { id: string; name: string }) => void }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const { setElement, ...form } = useForm({ name: '', email: '', username: '', password: '', role: 'member' });
  const { values } = form;
  const create = useMutation(
    trpc.user.create.mutationOptions({
      onSuccess: async (user) => {
        await queryClient.invalidateQueries({ queryKey: trpc.user.list.pathKey() });
        onCreated({ id: user.id, name: user.name });
      },
      onError: form.showServerErrors,
    }),
  );

  function submit(event: FormEvent) {
    event.preventDefault();
    const input = form.validate(userCreateInput, {
      name: values.name,
      email: values.email,
      username: values.username.trim() === '' ? undefined : values.username,
      password: values.password,
      role: values.role,
    });
    if (input) create.mutate(input);
  }

  return (
    <>
      <form ref={setElement} onSubmit={submit} noValidate aria-labelledby="create-heading" className="grid-form">
        <Field label="Full name" {...form.field('name')} autoComplete="off" autoFocus />
        <Field label="Email" {...form.field('email')} type="email" autoComplete="off" />
        <Field label="Username (optional)" {...form.field('username')} autoComplete="off" />
        <Field
          label="Initial password"
          {...form.field('password')}
          type="password"
          autoComplete="new-password"
          hint="At least 8 characters. Give it to the person through a safe channel."
        />
        <SelectField
          label="Role"
          {...form.field('role')}
          options={ROLES.map((r) => ({ value: r, label: ROLE_LABEL[r] }))}
        />
        <div className="form-end">
          <ErrorNote error={create.error} />
          <button type="submit" disabled={create.isPending}>
            {create.isPending ? 'Creating…' : 'Create user'}
          </button>
        </div>
      </form>
    </>
  );
}
