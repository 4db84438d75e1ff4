import { useState } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useTRPC } from '@gatehouse/client/react';
import { ConfirmButton, Loading, Page } from '../components.js';
import { ErrorNote, SuccessNote } from '../forms.js';
import { SessionList } from './session-list.js';

/** The signed-in person's own sessions: the current one marked, revoke one, revoke the others. */
export function SessionsScreen() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const sessions = useQuery(trpc.session.list.queryOptions());
  const [done, setDone] = useState<string | null>(null);
  const refresh = () => queryClient.invalidateQueries({ queryKey: trpc.session.list.queryKey() });
  const revoke = useMutation(
    trpc.session.revoke.mutationOptions({
      onSuccess: () => {
        setDone('The session was signed out.');
        return refresh();
      },
    }),
  );
  const revokeOthers = useMutation(
    trpc.session.revokeOthers.mutationOptions({
      onSuccess: ({ revoked }) => {
        setDone(
          revoked === 0
            ? 'There were no other sessions to sign out.'
            : `Signed out ${revoked} other session${revoked === 1 ? '' : 's'}.`,
        );
        return refresh();
      },
    }),
  );
  const others = sessions.data?.filter((s) => !s.current).length ?? 0;

  return (
    <Page
      title="My sessions"
      intro="Every browser or app where you are signed in. Sign out any you do not recognise."
      actions={
        <ConfirmButton
          label="Sign out all other sessions"
          question={`Sign out ${others} other session${others === 1 ? '' : 's'}? This device stays signed in.`}
          confirmLabel="Sign them out"
          onConfirm={() => revokeOthers.mutate()}
          busy={revokeOthers.isPending}
          disabled={others === 0}
        />
      }
    >
      {done ? <SuccessNote>{done}</SuccessNote> : null}
      <ErrorNote error={revoke.error ?? revokeOthers.error} />
      {sessions.isPending ? <Loading label="Loading your sessions…" /> : null}
      {sessions.isError ? <ErrorNote error={sessions.error} /> : null}
      {sessions.data ? (
        <SessionList
          sessions={sessions.data}
          emptyText="You have no active sessions."
          action={(s) =>
            s.current ? (
              <span className="muted">Use “Sign out” to end this one</span>
            ) : (
              <button
                type="button"
                className="secondary"
                onClick={() => revoke.mutate({ id: s.id })}
                disabled={revoke.isPending}
                aria-label={`Sign out the session last active ${s.lastSeenAt.toLocaleString()}`}
              >
                Sign out
              </button>
            )
          }
        />
      ) : null}
    </Page>
  );
}
