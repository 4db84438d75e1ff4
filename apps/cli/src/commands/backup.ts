/** `gatehouse backup` / `gatehouse restore`: a verified copy of a SQLite database, and putting one back. */
import { note, print, printJson } from '../io.js';
import { LOCAL_HELP, type Register } from './context.js';

const BACKUP_HELP = `
SQLite only (DATABASE_URL=file:…); for PostgreSQL use pg_dump / pg_restore (docs/deployment.md).
The audit log of the copy is verified with the server's key (AUDIT_KEY_FILE, PUBLIC_ORIGIN).`;

export const register: Register = (program, { io, json, backup }) => {
  program
    .command('backup')
    .description('copy the live SQLite database to a file (the server may keep running) and verify the copy')
    .argument('<file>', 'the backup file to write (mode 0600)')
    .option('--force', 'overwrite the file if it exists')
    .addHelpText('after', `${LOCAL_HELP}\n${BACKUP_HELP}`)
    .action(async (file: string, opts: { force?: boolean }) => {
      const result = await (await backup()).backupDatabase(io, file, { force: opts.force === true });
      if (json()) return printJson(io, result);
      print(
        io,
        `backed up ${result.database} to ${result.file} (${result.bytes} bytes); audit log ok: ${result.audit.checked} events, root ${result.audit.rootHash}`,
      );
    });

  program
    .command('restore')
    .description('replace the SQLite database with a verified backup (stop the server first)')
    .argument('<file>', 'a file written by `gatehouse backup`')
    .addHelpText('after', `${LOCAL_HELP}\n${BACKUP_HELP}`)
    .action(async (file: string) => {
      const result = await (await backup()).restoreDatabase(io, file);
      if (json()) return printJson(io, result);
      print(
        io,
        `restored ${result.database} from ${result.file}; audit log ok: ${result.audit.checked} events, root ${result.audit.rootHash}`,
      );
      if (result.previousCheckpoint) {
        note(io, `the outside checkpoint of the replaced log was moved to ${result.previousCheckpoint}`);
      }
    });
};
