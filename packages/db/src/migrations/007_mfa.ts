import { sql, type Kysely } from 'kysely';
import type { DialectName } from '../database.js';
import { columnTypes } from './001_initial.js';

/**
 * Second factors and step-up (issue 15, packages/api/src/mfa): a TOTP factor per user (its
 * secret encrypted with the key in MFA_KEY_FILE, the last accepted time step against replay),
 * hashed single-use recovery codes, WebAuthn passkeys (counter and backup flags), short-lived
 * challenges (sign-in second step, WebAuthn ceremonies), and `sessions.authenticated_at`: when
 * the session's holder last proved who they are (sign-in or `auth.reauthenticate`).
 */
export async function up(db: Kysely<unknown>, dialect: DialectName): Promise<void> {
  const t = columnTypes(dialect);
  await db.schema
    .createTable('totp_factors')
    .addColumn('user_id', 'text', (c) => c.primaryKey().references('users.id').onDelete('cascade'))
    /** AES-256-GCM ciphertext of the secret (mfa/secret-box.ts), never the secret itself. */
    .addColumn('secret', 'text', (c) => c.notNull())
    /** Null while enrolment awaits its first code. */
    .addColumn('confirmed_at', t.timestamp)
    .addColumn('last_used_step', t.bigint)
    .addColumn('created_at', t.timestamp, (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('recovery_codes')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('code_hash', t.bytes, (c) => c.notNull().unique())
    .addColumn('created_at', t.timestamp, (c) => c.notNull())
    .addColumn('used_at', t.timestamp)
    .execute();
  await db.schema.createIndex('recovery_codes_user').on('recovery_codes').column('user_id').execute();

  await db.schema
    .createTable('passkeys')
    /** The credential id, base64url. */
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('public_key', t.bytes, (c) => c.notNull())
    .addColumn('counter', t.bigint, (c) => c.notNull())
    /** JSON array of transports ("internal", "usb", "hybrid"…). */
    .addColumn('transports', 'text', (c) => c.notNull())
    .addColumn('device_type', 'text', (c) => c.notNull())
    .addColumn('backed_up', t.boolean, (c) => c.notNull())
    .addColumn('created_at', t.timestamp, (c) => c.notNull())
    .addColumn('last_used_at', t.timestamp)
    .execute();
  await db.schema.createIndex('passkeys_user').on('passkeys').column('user_id').execute();

  await db.schema
    .createTable('mfa_challenges')
    .addColumn('id', 'text', (c) => c.primaryKey())
    /** SHA-256 of the challenge token handed to the client; the token itself is never stored. */
    .addColumn('token_hash', t.bytes, (c) => c.notNull().unique())
    .addColumn('purpose', 'text', (c) =>
      c.notNull().check(sql`purpose in ('sign_in', 'passkey_registration', 'passkey_sign_in', 'reauthentication')`),
    )
    .addColumn('user_id', 'text', (c) => c.references('users.id').onDelete('cascade'))
    /** The session it belongs to (registration, reauthentication). */
    .addColumn('session_id', 'text')
    .addColumn('remember_me', t.boolean, (c) => c.notNull())
    /** The WebAuthn challenge (base64url) of a ceremony, if any. */
    .addColumn('webauthn_challenge', 'text')
    .addColumn('failures', 'integer', (c) => c.notNull())
    .addColumn('created_at', t.timestamp, (c) => c.notNull())
    .addColumn('expires_at', t.timestamp, (c) => c.notNull())
    .execute();
  await db.schema.createIndex('mfa_challenges_expiry').on('mfa_challenges').column('expires_at').execute();

  await db.schema.alterTable('sessions').addColumn('authenticated_at', t.timestamp).execute();
}
