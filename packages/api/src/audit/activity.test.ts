import { withTransaction, type Db } from '@gatehouse/db';
import { createMigratedTestDb, testDialects } from '@gatehouse/db/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../clock.js';
import type { Services } from '../services.js';
import { callerFor, createTestServices, createTestUser } from '../testing.js';
import type { AuditEventType } from './types.js';

describe.each(testDialects)('audit.activity on %s', (dialect) => {
  let db: Db;
  let cleanup: () => Promise<void>;
  let services: Services;
  /** An admin signed in now (createTestUser writes no audit event, so no series moves). */
  const admin = async () => callerFor(services, (await createTestUser(services, { role: 'admin' })).token);
  const clock = new ManualClock();

  /** Records one event of `type` at `at` (the log takes its time from the services' clock). */
  async function eventAt(at: string, type: AuditEventType): Promise<void> {
    clock.set(at);
    await withTransaction(db, (trx) => services.audit.append(trx, { type, data: {} }));
  }

  beforeEach(async () => {
    ({ db, cleanup } = await createMigratedTestDb(dialect));
    clock.set('2026-03-01T00:00:00.000Z');
    services = await createTestServices(db, { clock });
  });
  afterEach(async () => {
    await services.close();
    await cleanup();
  });

  it('counts each series per hour, zero-filled, over the last 24 hours by default', async () => {
    await eventAt('2026-03-02T09:00:00.000Z', 'auth.sign_in');
    await eventAt('2026-03-02T09:59:59.999Z', 'auth.sign_in');
    await eventAt('2026-03-02T10:00:00.000Z', 'auth.sign_in_failed');
    await eventAt('2026-03-02T10:10:00.000Z', 'auth.mfa_failed');
    await eventAt('2026-03-02T10:20:00.000Z', 'auth.throttled');
    await eventAt('2026-03-02T10:30:00.000Z', 'user.updated'); // in no series
    clock.set('2026-03-02T10:45:00.000Z');

    const result = await (await admin()).audit.activity({ interval: 'hour' });
    expect(result.from).toEqual(new Date('2026-03-01T11:00:00.000Z'));
    expect(result.to).toEqual(new Date('2026-03-02T11:00:00.000Z'));
    expect(result.buckets).toHaveLength(24);
    const last = result.buckets.at(-1);
    const before = result.buckets.at(-2);
    expect(last).toEqual({
      start: new Date('2026-03-02T10:00:00.000Z'),
      end: new Date('2026-03-02T11:00:00.000Z'),
      counts: { signIns: 0, failedSignIns: 2, throttled: 1, newUsers: 0 },
    });
    expect(before?.counts).toEqual({ signIns: 2, failedSignIns: 0, throttled: 0, newUsers: 0 });
    expect(result.buckets.slice(0, -2).every((b) => Object.values(b.counts).every((n) => n === 0))).toBe(true);
    expect(result.totals).toEqual({ signIns: 2, failedSignIns: 2, throttled: 1, newUsers: 0 });
    expect(result.series.find((s) => s.key === 'failedSignIns')?.types).toEqual([
      'auth.sign_in_failed',
      'auth.mfa_failed',
    ]);
  });

  it('counts new users however they came, per day', async () => {
    await eventAt('2026-03-03T08:00:00.000Z', 'auth.sign_up');
    await eventAt('2026-03-03T09:00:00.000Z', 'auth.invitation_accepted');
    await eventAt('2026-03-03T23:59:59.999Z', 'user.imported');
    await eventAt('2026-03-04T00:00:00.000Z', 'user.created');
    clock.set('2026-03-04T12:00:00.000Z');
    const result = await (await admin()).audit.activity({ interval: 'day' });
    expect(result.buckets).toHaveLength(30);
    expect(result.buckets.slice(-4).map((b) => [b.start.toISOString(), b.counts.newUsers])).toEqual([
      ['2026-03-01T00:00:00.000Z', 0],
      ['2026-03-02T00:00:00.000Z', 0],
      ['2026-03-03T00:00:00.000Z', 3],
      ['2026-03-04T00:00:00.000Z', 1],
    ]);
  });

  it('aligns day buckets to the caller’s UTC offset (New York either side of the DST change)', async () => {
    // 2026-03-08 is when New York moves from UTC−5 to UTC−4. 04:30 UTC is 23:30 on the 7th
    // in winter time and 00:30 on the 8th in summer time: the offset sent decides the day.
    await eventAt('2026-03-08T04:30:00.000Z', 'auth.sign_in');
    clock.set('2026-03-09T12:00:00.000Z');
    const caller = await admin();
    const winter = await caller.audit.activity({ interval: 'day', tzOffsetMinutes: -300 });
    const summer = await caller.audit.activity({ interval: 'day', tzOffsetMinutes: -240 });
    const dayOf = (r: typeof winter) => r.buckets.find((b) => b.counts.signIns === 1)?.start.toISOString();
    expect(dayOf(winter)).toBe('2026-03-07T05:00:00.000Z'); // midnight of the 7th at UTC−5
    expect(dayOf(summer)).toBe('2026-03-08T04:00:00.000Z'); // midnight of the 8th at UTC−4
    expect(winter.to).toEqual(new Date('2026-03-10T05:00:00.000Z'));
    expect(summer.to).toEqual(new Date('2026-03-10T04:00:00.000Z'));
  });

  it('aligns hour buckets to a half-hour offset (India, UTC+5:30)', async () => {
    await eventAt('2026-03-02T10:29:00.000Z', 'auth.throttled');
    await eventAt('2026-03-02T10:30:00.000Z', 'auth.throttled');
    const result = await (
      await admin()
    ).audit.activity({
      interval: 'hour',
      tzOffsetMinutes: 330,
      from: new Date('2026-03-02T09:45:00.000Z'),
      to: new Date('2026-03-02T11:00:00.000Z'),
    });
    expect(result.buckets.map((b) => [b.start.toISOString(), b.counts.throttled])).toEqual([
      ['2026-03-02T09:30:00.000Z', 1],
      ['2026-03-02T10:30:00.000Z', 1],
    ]);
    expect(result.tzOffsetMinutes).toBe(330);
  });

  it('zero-fills a range without events', async () => {
    const result = await (
      await admin()
    ).audit.activity({
      interval: 'day',
      from: new Date('2025-01-01T00:00:00.000Z'),
      to: new Date('2025-01-08T00:00:00.000Z'),
    });
    expect(result.buckets).toHaveLength(7);
    expect(result.buckets.every((b) => Object.values(b.counts).every((n) => n === 0))).toBe(true);
    expect(result.totals).toEqual({ signIns: 0, failedSignIns: 0, throttled: 0, newUsers: 0 });
  });

  it('refuses a range that is too long or backwards, with a reason', async () => {
    const refused = { code: 'BAD_REQUEST', cause: { reason: 'activity_range_invalid' } };
    const caller = await admin();
    const hours = (n: number) => new Date(Date.parse('2026-03-01T00:00:00.000Z') + n * 3_600_000);
    await expect(caller.audit.activity({ interval: 'hour', from: hours(0), to: hours(48) })).resolves.toMatchObject({
      buckets: { length: 48 },
    });
    await expect(caller.audit.activity({ interval: 'hour', from: hours(0), to: hours(49) })).rejects.toMatchObject(
      refused,
    );
    await expect(caller.audit.activity({ interval: 'day', from: hours(0), to: hours(91 * 24) })).rejects.toMatchObject(
      refused,
    );
    await expect(caller.audit.activity({ interval: 'day', from: hours(48), to: hours(24) })).rejects.toMatchObject(
      refused,
    );
    await expect(caller.audit.activity({ interval: 'hour', tzOffsetMinutes: 2000 })).rejects.toMatchObject({
      code: 'BAD_REQUEST',
    });
  });

  it('is for admins only', async () => {
    const member = await createTestUser(services, { role: 'member' });
    await expect(callerFor(services, null).audit.activity({ interval: 'day' })).rejects.toMatchObject({
      code: 'UNAUTHORIZED',
    });
    await expect(callerFor(services, member.token).audit.activity({ interval: 'day' })).rejects.toMatchObject({
      code: 'FORBIDDEN',
    });
  });

  it('lets audit.list filter by a list of types (a series) and a bucket’s time range', async () => {
    await eventAt('2026-03-02T10:00:00.000Z', 'auth.sign_in_failed');
    await eventAt('2026-03-02T10:10:00.000Z', 'auth.mfa_failed');
    await eventAt('2026-03-02T10:20:00.000Z', 'auth.sign_in');
    await eventAt('2026-03-02T11:00:00.000Z', 'auth.sign_in_failed');
    const caller = await admin();
    const page = await caller.audit.list({
      type: ['auth.sign_in_failed', 'auth.mfa_failed'],
      since: new Date('2026-03-02T10:00:00.000Z'),
      until: new Date('2026-03-02T11:00:00.000Z'),
    });
    expect(page.items.map((e) => e.type)).toEqual(['auth.mfa_failed', 'auth.sign_in_failed']);
    // One type as before.
    expect((await caller.audit.list({ type: 'auth.sign_in' })).items).toHaveLength(1);
  });
});
