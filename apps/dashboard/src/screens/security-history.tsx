/**
 * #19 receipts: "My security history" — the signed-in person's own audit events, each with a
 * receipt (C2SP tlog-proof) that is verified here, in the browser, with WebCrypto: the leaf hash
 * is recomputed from the event JSON, the inclusion proof walked to the checkpoint's root, the
 * log's Ed25519 signature and the witnesses' cosignatures checked (@gatehouse/api/receipts, the
 * same code the CLI's `audit verify-proof` runs). The keys come from the server: the log key's
 * fingerprint is shown to compare with the one the operator publishes (docs/audit.md).
 */
import { useEffect, useMemo, useState } from 'react';
import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { useTRPC } from '@gatehouse/client/react';
import type { RouterOutputs } from '@gatehouse/client';
import { keyFingerprint, verifyReceipt, type ReceiptVerification } from '@gatehouse/api/receipts';
import { Empty, Loading, Page, Pager, usePager } from '../components.js';
import { errorMessage } from '../errors.js';
import { formatDate, formatRelative } from '../format.js';
import { ErrorNote } from '../forms.js';
import { describeData, eventWords } from './audit.js';

const PAGE_SIZE = 25;

type MyEvent = RouterOutputs['audit']['myHistory']['items'][number];
type Receipt = RouterOutputs['audit']['myReceipt'];

const BY_WORDS: Record<MyEvent['by'], string> = {
  you: 'You',
  someone_else: 'Someone else (an administrator)',
  nobody: 'Nobody signed in',
};

const STEP_WORDS: Record<ReceiptVerification['checks'][number]['step'], string> = {
  event: 'Event',
  leaf: 'Leaf hash',
  inclusion: 'Inclusion in the log',
  signature: 'Log signature',
  witnesses: 'Witnesses',
};

export function SecurityHistoryScreen() {
  const trpc = useTRPC();
  const pager = usePager();
  const [selected, setSelected] = useState<number | null>(null);
  const events = useQuery(
    trpc.audit.myHistory.queryOptions(
      { limit: PAGE_SIZE, cursor: pager.cursor },
      { placeholderData: keepPreviousData },
    ),
  );

  return (
    <Page
      title="My security history"
      intro="Everything the audit log recorded about your account, newest first. Each event comes with a receipt you can check yourself: Verify runs the check here, in your browser."
    >
      {events.isPending ? <Loading label="Loading your events…" /> : null}
      {events.isError ? <ErrorNote error={events.error} /> : null}
      {events.data ? (
        events.data.items.length === 0 ? (
          <Empty>Nothing has been recorded about your account yet.</Empty>
        ) : (
          <>
            <div className="table-wrap">
              <table className="table" data-testid="security-history">
                <caption className="visually-hidden">Your security events</caption>
                <thead>
                  <tr>
                    <th scope="col">#</th>
                    <th scope="col">When</th>
                    <th scope="col">Event</th>
                    <th scope="col">By</th>
                    <th scope="col" className="hide-narrow">
                      Details
                    </th>
                    <th scope="col">Receipt</th>
                  </tr>
                </thead>
                <tbody>
                  {events.data.items.map((e) => (
                    <tr key={e.seq} data-type={e.type}>
                      <td>{e.seq}</td>
                      <td>
                        <time dateTime={e.at.toISOString()} title={formatDate(e.at)}>
                          {formatRelative(e.at)}
                        </time>
                      </td>
                      <td>
                        <span className="event-name">{eventWords(e.type)}</span>
                        <code className="event-type">{e.type}</code>
                      </td>
                      <td>
                        {BY_WORDS[e.by]}
                        {e.by === 'someone_else' && e.actorId ? (
                          <>
                            {' '}
                            <code title={e.actorId}>{e.actorId.slice(0, 8)}</code>
                          </>
                        ) : null}
                      </td>
                      <td className="hide-narrow details">
                        {describeData(e.data)}
                        {e.ip ? <span className="muted"> · {e.ip}</span> : null}
                        {e.userAgent ? <span className="muted"> · {e.userAgent}</span> : null}
                      </td>
                      <td>
                        <button
                          type="button"
                          className="secondary"
                          aria-label={`Verify event ${e.seq}`}
                          aria-pressed={selected === e.seq}
                          onClick={() => setSelected(e.seq)}
                        >
                          Verify
                        </button>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            <Pager
              label="Pages of your events"
              page={pager.page}
              hasNext={events.data.nextCursor !== null && !events.isPlaceholderData}
              summary={events.isPlaceholderData ? 'Loading…' : undefined}
              onPrevious={pager.previous}
              onNext={() => events.data.nextCursor && pager.next(events.data.nextCursor)}
            />
          </>
        )
      ) : null}
      {selected !== null ? <ReceiptPanel key={selected} seq={selected} /> : null}
    </Page>
  );
}

/** Fetches the receipt of one event and verifies it in this page (never trusting a server "ok"). */
function ReceiptPanel({ seq }: { seq: number }) {
  const trpc = useTRPC();
  const receipt = useQuery({ ...trpc.audit.myReceipt.queryOptions({ seq }), staleTime: 0, gcTime: 0, retry: false });
  const data = receipt.data;
  const check = useQuery({
    queryKey: ['receipt-check', seq, receipt.dataUpdatedAt],
    enabled: data !== undefined,
    staleTime: Infinity,
    gcTime: 0,
    retry: false,
    queryFn: async () => {
      if (data === undefined) throw new Error('no receipt');
      const result = await verifyReceipt(data.tlogProof, {
        logKey: data.logKey,
        witnessKeys: data.witnessKeys,
        quorum: data.witnessQuorum,
        eventJson: data.leaf,
      });
      return { result, fingerprint: await keyFingerprint(data.logKey) };
    },
  });
  const error = receipt.error ?? check.error;

  return (
    <section className="card receipt" aria-labelledby="receipt-heading" data-testid="receipt">
      <h2 id="receipt-heading">Receipt for event {seq}</h2>
      {error ? (
        <>
          <p className="note note-error" role="alert">
            {errorMessage(error)}
          </p>
          <button type="button" className="secondary" onClick={() => void receipt.refetch()}>
            Try again
          </button>
        </>
      ) : data !== undefined && check.data !== undefined ? (
        <ReceiptResult receipt={data} result={check.data.result} fingerprint={check.data.fingerprint} />
      ) : (
        <Loading label="Fetching and checking the receipt…" />
      )}
    </section>
  );
}

function useDownload(text: string, type: string): string {
  const url = useMemo(() => URL.createObjectURL(new Blob([text], { type })), [text, type]);
  useEffect(() => () => URL.revokeObjectURL(url), [url]);
  return url;
}

function ReceiptResult({
  receipt,
  result,
  fingerprint,
}: {
  receipt: Receipt;
  result: ReceiptVerification;
  fingerprint: string;
}) {
  const proofUrl = useDownload(receipt.tlogProof, 'text/plain');
  const eventUrl = useDownload(`${receipt.leaf}\n`, 'application/json');
  return (
    <>
      {result.ok ? (
        <p className="note note-ok" role="status" data-testid="receipt-status">
          Verified ✓ in your browser: event {result.seq} is in the log at tree size {result.checkpoint?.treeSize},
          signed by {result.checkpoint?.origin}
          {result.cosignedBy.length > 0 ? ` and cosigned by ${result.cosignedBy.join(', ')}` : ''}.
        </p>
      ) : (
        <p className="note note-error" role="alert" data-testid="receipt-status">
          Verification failed: {result.reason}
        </p>
      )}
      <ol className="receipt-checks">
        {result.checks.map((c) => (
          <li key={c.step} data-ok={c.ok}>
            {c.ok ? '✓' : '✗'} <strong>{STEP_WORDS[c.step]}</strong>: {c.detail}
          </li>
        ))}
      </ol>
      <p>
        The log’s key (from this server) has the fingerprint <code data-testid="key-fingerprint">{fingerprint}</code>.
        This check proves the event is in the log this server signs; compare the fingerprint with the one your
        administrator publishes, and rely on the witnesses (
        {receipt.witnessKeys.length === 0
          ? 'none configured'
          : `${receipt.witnessQuorum} of ${receipt.witnessKeys.length} needed`}
        ) for a view the server alone cannot fake.
      </p>
      <details>
        <summary>The keys and the event as stored</summary>
        <p>
          Log key: <code className="wrap">{receipt.logKey}</code>
        </p>
        {receipt.witnessKeys.map((k) => (
          <p key={k}>
            Witness key: <code className="wrap">{k}</code>
          </p>
        ))}
        <pre className="wrap" data-testid="receipt-event">
          {receipt.leaf}
        </pre>
      </details>
      <p className="actions">
        <a className="button" href={proofUrl} download={receipt.fileName}>
          Download the proof (.tlog-proof)
        </a>{' '}
        <a className="button secondary" href={eventUrl} download={`gatehouse-event-${receipt.event.seq}.json`}>
          Download the event (JSON)
        </a>
      </p>
      <p className="muted">
        Check it offline:{' '}
        <code>
          gatehouse audit verify-proof {receipt.fileName} --key &apos;{receipt.logKey}&apos;
        </code>
      </p>
    </>
  );
}
