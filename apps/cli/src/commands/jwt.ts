/**
 * `gatehouse jwt …` (issue 16): the JWT signing keys in JWT_KEY_FILE (default: jwt-signing.json
 * beside AUDIT_KEY_FILE, as the server resolves it).
 */
import { dirname, join, resolve } from 'node:path';
import { print, printJson } from '../io.js';
import type { Register } from './context.js';

export const register: Register = (program, { io, json }) => {
  const jwt = program
    .command('jwt')
    .description('the signing keys of the JWT access tokens')
    .addHelpText(
      'after',
      `
Environment:
  JWT_KEY_FILE      the key file (default: jwt-signing.json beside AUDIT_KEY_FILE)
  AUDIT_KEY_FILE    default ./data/audit-signing.key`,
    );

  jwt
    .command('rotate-key')
    .description(
      'make a new signing key; the previous one stays in the JWKS so tokens it signed verify until they expire. Running servers pick it up within seconds',
    )
    .action(async () => {
      const { env } = io;
      const file = env.JWT_KEY_FILE
        ? resolve(env.JWT_KEY_FILE)
        : join(dirname(resolve(env.AUDIT_KEY_FILE || './data/audit-signing.key')), 'jwt-signing.json');
      const { rotateJwtKeyFile } = await import('@gatehouse/api/tokens');
      const result = { file, ...(await rotateJwtKeyFile(file)) };
      if (json()) return printJson(io, result);
      print(io, `new signing key ${result.kid} in ${file}; previous key ${result.previous} stays in the JWKS`);
    });
};
