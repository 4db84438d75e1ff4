/** The JWT key file, for the server's start and the CLI's `gatehouse jwt rotate-key` (issue 16). */
export { JwtKeys, rotateJwtKeyFile } from './keys.js';
