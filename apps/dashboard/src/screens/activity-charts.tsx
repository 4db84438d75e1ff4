/**
 * #19 charts: activity at a glance on the admin home (architecture §20). One bar chart per series
 * of `audit.activity` (sign-ins, failed sign-ins, throttled attempts, new users), per hour over the
 * last 24 hours or per day over the last 30 days, in the browser's UTC offset. A bar opens the
 * audit screen filtered to exactly its events (the series' types, the bucket's time range).
 *
 * Recharts is loaded with this module only (home.tsx imports it lazily), so the rest of the
 * dashboard does not wait for it. Each chart has a table of the same numbers, with links, for
 * the keyboard and screen readers.
 */
import { useState } from 'react';
import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { useTRPC } from '@gatehouse/client/react';
import { Bar, BarChart, CartesianGrid, ResponsiveContainer, Tooltip, XAxis, YAxis, type BarShapeProps } from 'recharts';
import { Loading } from '../components.js';
import { ErrorNote } from '../forms.js';
import { auditHref, navigate } from '../router.js';

type Interval = 'hour' | 'day';
type SeriesKey = 'signIns' | 'failedSignIns' | 'throttled' | 'newUsers';

/** Each series' name and colour (styles.css `--chart-*`: ≥ 3:1 against the card in both themes). */
const SERIES: ReadonlyArray<{ key: SeriesKey; label: string; color: string }> = [
  { key: 'signIns', label: 'Sign-ins', color: 'var(--chart-sign-ins)' },
  { key: 'failedSignIns', label: 'Failed sign-ins', color: 'var(--chart-failed)' },
  { key: 'throttled', label: 'Throttled attempts', color: 'var(--chart-throttled)' },
  { key: 'newUsers', label: 'New users', color: 'var(--chart-new-users)' },
];

const hourFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const dayFormat = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric' });
const longFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

function bucketLabel(interval: Interval, start: Date): string {
  return interval === 'hour' ? hourFormat.format(start) : dayFormat.format(start);
}

function rangeLabel(interval: Interval, start: Date, end: Date): string {
  return interval === 'hour' ? `${longFormat.format(start)} – ${hourFormat.format(end)}` : dayFormat.format(start);
}

export default function ActivityCharts() {
  const trpc = useTRPC();
  const [interval, setBucket] = useState<Interval>('hour');
  const activity = useQuery(
    trpc.audit.activity.queryOptions(
      { interval, tzOffsetMinutes: -new Date().getTimezoneOffset() },
      { placeholderData: keepPreviousData, refetchInterval: 60_000 },
    ),
  );
  const period = interval === 'hour' ? 'the last 24 hours' : 'the last 30 days';
  const current = interval === 'hour' ? 'this hour' : 'today';

  return (
    <section className="card card-wide" aria-labelledby="activity-heading" data-testid="activity">
      <div className="section-head">
        <h2 id="activity-heading">Activity</h2>
        <div className="segmented" role="group" aria-label="Bars per">
          {(['hour', 'day'] as const).map((value) => (
            <button
              key={value}
              type="button"
              className={interval === value ? undefined : 'secondary'}
              aria-pressed={interval === value}
              onClick={() => setBucket(value)}
            >
              {value === 'hour' ? 'Per hour' : 'Per day'}
            </button>
          ))}
        </div>
      </div>
      {activity.isPending ? <Loading label="Counting events…" /> : null}
      {activity.isError ? <ErrorNote error={activity.error} /> : null}
      {activity.data ? (
        <div className="activity-grid">
          {SERIES.map((series) => {
            const data = activity.data;
            const types = data.series.find((s) => s.key === series.key)?.types ?? [];
            const rows = data.buckets.map((b) => ({
              start: b.start,
              end: b.end,
              label: bucketLabel(data.interval, b.start),
              count: b.counts[series.key],
            }));
            const last = rows.at(-1);
            const open = (row: { start: Date; end: Date }) => auditHref({ types, since: row.start, until: row.end });
            const headingId = `activity-${series.key}`;
            return (
              <figure key={series.key} className="activity-chart" data-series={series.key} aria-labelledby={headingId}>
                <figcaption id={headingId}>
                  <span className="swatch" style={{ background: series.color }} aria-hidden="true" />
                  <strong>{series.label}</strong>{' '}
                  <span className="muted" data-testid={`activity-summary-${series.key}`}>
                    {data.totals[series.key]} in {period}, {last?.count ?? 0} {current}
                  </span>
                </figcaption>
                <div className="activity-plot" aria-hidden="true">
                  <ResponsiveContainer width="100%" height={140}>
                    <BarChart
                      data={rows}
                      margin={{ top: 4, right: 4, bottom: 0, left: -24 }}
                      accessibilityLayer={false}
                    >
                      <CartesianGrid vertical={false} stroke="var(--border)" />
                      <XAxis
                        dataKey="label"
                        tick={{ fontSize: 11, fill: 'var(--muted)' }}
                        interval="preserveStartEnd"
                      />
                      <YAxis allowDecimals={false} tick={{ fontSize: 11, fill: 'var(--muted)' }} width={48} />
                      <Tooltip
                        cursor={{ fill: 'var(--border)', opacity: 0.4 }}
                        formatter={(value) => [String(value), series.label]}
                        labelFormatter={(_, payload) => {
                          const row = payload?.[0]?.payload as (typeof rows)[number] | undefined;
                          return row ? rangeLabel(data.interval, row.start, row.end) : '';
                        }}
                        contentStyle={{ background: 'var(--surface)', border: '1px solid var(--border)' }}
                      />
                      <Bar
                        dataKey="count"
                        name={series.label}
                        fill={series.color}
                        isAnimationActive={false}
                        cursor="pointer"
                        shape={(bar: BarShapeProps) => (
                          <rect
                            className="activity-bar"
                            x={bar.x}
                            y={bar.y}
                            width={bar.width}
                            height={bar.height}
                            fill={series.color}
                            data-start={(bar.payload as (typeof rows)[number] | undefined)?.start.toISOString()}
                          />
                        )}
                        onClick={(_, index) => {
                          const row = rows[index];
                          if (row) navigate(open(row));
                        }}
                      />
                    </BarChart>
                  </ResponsiveContainer>
                </div>
                <details className="activity-table">
                  <summary>
                    Numbers<span className="visually-hidden"> for {series.label.toLowerCase()}</span>
                  </summary>
                  <table className="table compact" data-testid={`activity-table-${series.key}`}>
                    <caption className="visually-hidden">
                      {series.label} per {data.interval}, {period}
                    </caption>
                    <thead>
                      <tr>
                        <th scope="col">{data.interval === 'hour' ? 'Hour' : 'Day'}</th>
                        <th scope="col">{series.label}</th>
                      </tr>
                    </thead>
                    <tbody>
                      {rows.toReversed().map((row) => (
                        <tr key={row.start.toISOString()} data-start={row.start.toISOString()}>
                          <td>{rangeLabel(data.interval, row.start, row.end)}</td>
                          <td>
                            {row.count === 0 ? (
                              '0'
                            ) : (
                              <a
                                href={open(row)}
                                aria-label={`${row.count} ${series.label.toLowerCase()}, ${rangeLabel(data.interval, row.start, row.end)}: show them in the audit log`}
                              >
                                {row.count}
                              </a>
                            )}
                          </td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                </details>
              </figure>
            );
          })}
        </div>
      ) : null}
    </section>
  );
}
