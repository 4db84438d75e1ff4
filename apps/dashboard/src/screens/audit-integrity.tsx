import { useQuery } from '@tanstack/react-query';
import { useTRPC } from '@gatehouse/client/react';
import { Badge, Loading } from '../components.js';
import { formatDate, formatRelative, shortHash } from '../format.js';
import { ErrorNote } from '../forms.js';

/** The latest signed checkpoint of the audit log: how many events it covers and when it was signed. */
export function CheckpointSummary() {
  const trpc = useTRPC();
  const checkpoint = useQuery(trpc.audit.checkpoint.queryOptions());
  if (checkpoint.isPending) return <Loading label="Loading the latest checkpoint…" />;
  if (checkpoint.isError) return <ErrorNote error={checkpoint.error} />;
  const c = checkpoint.data;
  return (
    <dl className="facts">
      <div>
        <dt>Latest checkpoint</dt>
        <dd data-testid="checkpoint-size">
          {c.treeSize} event{c.treeSize === 1 ? '' : 's'}
        </dd>
      </div>
      <div>
        <dt>Signed</dt>
        <dd>
          <time dateTime={c.signedAt.toISOString()} title={formatDate(c.signedAt)}>
            {formatRelative(c.signedAt)}
          </time>
        </dd>
      </div>
      <div>
        <dt>Root hash</dt>
        <dd>
          <code title={c.rootHash}>{shortHash(c.rootHash)}</code>
        </dd>
      </div>
      <div>
        <dt>Origin</dt>
        <dd>
          <code>{c.origin}</code>
        </dd>
      </div>
    </dl>
  );
}

/** Runs `audit.verify` on demand and says in words what it found. */
export function VerifyPanel() {
  const trpc = useTRPC();
  const verify = useQuery({ ...trpc.audit.verify.queryOptions(), enabled: false, staleTime: Infinity, gcTime: 0 });
  const result = verify.data;
  return (
    <div className="verify">
      <button type="button" onClick={() => void verify.refetch()} disabled={verify.isFetching}>
        {verify.isFetching ? 'Verifying…' : 'Verify the audit log'}
      </button>
      <div aria-live="polite" className="verify-result">
        {verify.isError ? <ErrorNote error={verify.error} /> : null}
        {result && !verify.isFetching ? (
          result.ok ? (
            <p className="note note-ok" data-testid="verify-result">
              <Badge tone="ok">Intact</Badge> All {result.checked} event{result.checked === 1 ? '' : 's'} and every
              signed checkpoint check out. Tree size {result.treeSize}, root{' '}
              <code title={result.rootHash}>{shortHash(result.rootHash)}</code>.
            </p>
          ) : (
            <p className="note note-error" data-testid="verify-result">
              <Badge tone="bad">Tampered</Badge> The audit log does not verify
              {result.firstInvalidSeq !== null ? `: the first bad event is #${result.firstInvalidSeq}` : ''}.{' '}
              {result.reason ?? ''}
            </p>
          )
        ) : null}
      </div>
    </div>
  );
}
