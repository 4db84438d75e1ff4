/**
 * The error contract (trpc.ts errorFormatter): every error carries a machine-readable
 * `data.reason`, and failures of the parser or the transformer never echo their own text.
 */
import { TRPCError } from '@trpc/server';
import { getErrorShape } from '@trpc/server/unstable-core-do-not-import';
import { describe, expect, it } from 'vitest';
import { DomainError } from './errors.js';
import { appRouter } from './root.js';

function shapeOf(error: TRPCError) {
  return getErrorShape({
    config: appRouter._def._config,
    error,
    type: 'mutation',
    path: 'auth.signIn',
    input: undefined,
    ctx: undefined,
  }) as { message: string; data: { reason: string; code: string } };
}

describe('the error formatter', () => {
  it('answers parse and transformer failures with a fixed message and reason malformed_request', () => {
    const cases = [
      new TRPCError({ code: 'PARSE_ERROR', message: 'Unexpected token } in JSON at position 12' }),
      new TRPCError({ code: 'BAD_REQUEST', message: 'Maximum call stack size exceeded', cause: new RangeError('x') }),
      new TRPCError({ code: 'BAD_REQUEST', message: "Cannot destructure property 'json' of undefined" }),
      new TRPCError({ code: 'BAD_REQUEST', message: 'Cannot convert abc to a BigInt' }),
    ];
    for (const error of cases) {
      const shape = shapeOf(error);
      expect(shape.message, error.message).toBe('Malformed request');
      expect(shape.data.reason).toBe('malformed_request');
      expect(JSON.stringify(shape)).not.toContain(error.message);
    }
  });

  it('keeps schema failures as validation_failed and deliberate errors with their reason and message', () => {
    const validation = shapeOf(
      new TRPCError({
        code: 'BAD_REQUEST',
        message: 'zod text',
        cause: Object.assign(new Error('zod text'), { issues: [{ path: ['email'], message: 'Enter a valid email' }] }),
      }),
    );
    expect([validation.message, validation.data.reason]).toEqual(['Invalid input', 'validation_failed']);

    const cause = new DomainError('BAD_REQUEST', 'weak_password', 'That password is too common');
    const domain = shapeOf(new TRPCError({ code: 'BAD_REQUEST', message: cause.message, cause }));
    expect([domain.message, domain.data.reason]).toEqual(['That password is too common', 'weak_password']);

    const internal = shapeOf(
      new TRPCError({ code: 'INTERNAL_SERVER_ERROR', message: 'SQLITE_BUSY: database is locked' }),
    );
    expect([internal.message, internal.data.reason]).toEqual(['Internal server error', 'internal']);
  });
});
