/**
 * Activity at a glance (#19, architecture §20): how many sign-ins, failed sign-ins, throttled
 * attempts and new users the audit log recorded per hour or per day, counted in SQL (grouped by
 * type and bucket over the (type, at) index of migration 013) and zero-filled here.
 *
 * Buckets are aligned to the caller's UTC offset (`tzOffsetMinutes`, minutes east of UTC, as
 * `-new Date().getTimezoneOffset()` gives it): a day bucket is that offset's midnight to
 * midnight. One offset holds for the whole range, so days on the other side of a daylight-saving
 * change are shifted by that hour (the dashboard sends the current offset).
 */
import { sql, timeBucket, type Db } from '@gatehouse/db';
import type { Clock } from '../clock.js';
import { DomainError } from '../errors.js';
import type { AuditEventType } from './types.js';

export type ActivityInterval = 'hour' | 'day';

/** Each series and the event types it counts (docs/api.md `audit.activity`). */
const ACTIVITY_SERIES = {
  signIns: ['auth.sign_in'],
  /** A wrong password (or unknown account) and a wrong second factor are both failed attempts. */
  failedSignIns: ['auth.sign_in_failed', 'auth.mfa_failed'],
  throttled: ['auth.throttled'],
  /** Every way an account comes to exist; each writes exactly one of these. */
  newUsers: ['auth.setup', 'auth.sign_up', 'user.created', 'auth.invitation_accepted', 'user.imported'],
} as const satisfies Record<string, readonly AuditEventType[]>;

export type ActivitySeriesKey = keyof typeof ACTIVITY_SERIES;
const ACTIVITY_SERIES_KEYS = Object.keys(ACTIVITY_SERIES) as ActivitySeriesKey[];

const WIDTH_MS: Record<ActivityInterval, number> = { hour: 3_600_000, day: 86_400_000 };
/** The most buckets one call may ask for; more is `activity_range_invalid`. */
const MAX_BUCKETS: Record<ActivityInterval, number> = { hour: 48, day: 90 };
/** Buckets when the range is not given: the last 24 hours, or the last 30 days. */
const DEFAULT_BUCKETS: Record<ActivityInterval, number> = { hour: 24, day: 30 };

export interface ActivityInput {
  interval: ActivityInterval;
  /** Start of the range; rounded down to its bucket. Default: `to` minus the default bucket count. */
  from?: Date | undefined;
  /** End of the range (exclusive); rounded up to a bucket boundary. Default: the end of the current bucket. */
  to?: Date | undefined;
  /** Minutes east of UTC the buckets are aligned to (default 0). */
  tzOffsetMinutes?: number | undefined;
}

export interface ActivityBucket {
  start: Date;
  end: Date;
  counts: Record<ActivitySeriesKey, number>;
}

export interface ActivityResult {
  interval: ActivityInterval;
  tzOffsetMinutes: number;
  from: Date;
  to: Date;
  /** Each series' event types, for a filtered audit list of one bar. */
  series: { key: ActivitySeriesKey; types: string[] }[];
  buckets: ActivityBucket[];
  totals: Record<ActivitySeriesKey, number>;
}

const rangeInvalid = (message: string) => new DomainError('BAD_REQUEST', 'activity_range_invalid', message);

/** `at` rounded down (or up) to a bucket boundary of `width` in the given offset. */
function align(at: number, width: number, offsetMs: number, up: boolean): number {
  const local = at + offsetMs;
  const floored = Math.floor(local / width) * width;
  return (up && floored !== local ? floored + width : floored) - offsetMs;
}

export async function auditActivity(deps: { db: Db; clock: Clock }, input: ActivityInput): Promise<ActivityResult> {
  const width = WIDTH_MS[input.interval];
  const tzOffsetMinutes = input.tzOffsetMinutes ?? 0;
  const offsetMs = tzOffsetMinutes * 60_000;
  const to = align((input.to ?? deps.clock.now()).getTime() + (input.to ? 0 : 1), width, offsetMs, true);
  const from =
    input.from !== undefined
      ? align(input.from.getTime(), width, offsetMs, false)
      : to - DEFAULT_BUCKETS[input.interval] * width;
  if (from >= to) throw rangeInvalid('The range must end after it starts');
  const count = (to - from) / width;
  if (count > MAX_BUCKETS[input.interval]) {
    throw rangeInvalid(`At most ${MAX_BUCKETS[input.interval]} ${input.interval} buckets at once (asked for ${count})`);
  }

  const typeToSeries = new Map<string, ActivitySeriesKey>();
  for (const key of ACTIVITY_SERIES_KEYS) for (const type of ACTIVITY_SERIES[key]) typeToSeries.set(type, key);

  const bucket = timeBucket(deps.db, 'at', new Date(from), width / 1000);
  const rows = await deps.db.kysely
    .selectFrom('audit_events')
    .select((eb) => ['type', bucket.as('bucket'), eb.fn.countAll().as('n')])
    .where('type', 'in', [...typeToSeries.keys()])
    .where('at', '>=', new Date(from))
    .where('at', '<', new Date(to))
    // By the alias: PostgreSQL would not see the select's and a repeated expression's parameters as one.
    .groupBy(['type', sql.ref('bucket')])
    .execute();

  const zero = (): Record<ActivitySeriesKey, number> =>
    Object.fromEntries(ACTIVITY_SERIES_KEYS.map((k) => [k, 0])) as Record<ActivitySeriesKey, number>;
  const buckets: ActivityBucket[] = Array.from({ length: count }, (_, i) => ({
    start: new Date(from + i * width),
    end: new Date(from + (i + 1) * width),
    counts: zero(),
  }));
  const totals = zero();
  for (const row of rows) {
    const key = typeToSeries.get(row.type);
    const target = buckets[Number(row.bucket)];
    if (key === undefined || target === undefined) continue;
    const n = Number(row.n);
    target.counts[key] += n;
    totals[key] += n;
  }
  return {
    interval: input.interval,
    tzOffsetMinutes,
    from: new Date(from),
    to: new Date(to),
    series: ACTIVITY_SERIES_KEYS.map((key) => ({ key, types: [...ACTIVITY_SERIES[key]] })),
    buckets,
    totals,
  };
}
