import type { CliIO } from './io.js';
import { UsageError } from './io.js';

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  let text = '';
  for await (const chunk of stream)
    text += typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8');
  return text;
}

/**
 * Asks each question on a terminal and reads one line per question without echoing it. Raw mode,
 * so nothing typed is shown; input pasted at once (both lines in one chunk) is split correctly.
 */
async function promptHidden(io: CliIO, questions: readonly string[]): Promise<string[]> {
  const { stdin } = io;
  const answers: string[] = [];
  let current = '';
  // Echo off before the prompt shows: whatever is typed once it is visible is never echoed.
  stdin.setRawMode?.(true);
  stdin.resume();
  io.stderr.write(questions[0] ?? '');
  return new Promise<string[]>((resolve, reject) => {
    const finish = (error?: Error) => {
      stdin.removeListener('data', onData);
      stdin.setRawMode?.(false);
      stdin.pause();
      if (error) reject(error);
      else resolve(answers);
    };
    const onData = (chunk: Buffer | string) => {
      for (const ch of chunk.toString()) {
        if (ch === '\u0003') {
          io.stderr.write('\n');
          return finish(new UsageError('cancelled'));
        }
        if (ch === '\r' || ch === '\n' || ch === '\u0004') {
          io.stderr.write('\n');
          answers.push(current);
          current = '';
          if (answers.length === questions.length) return finish();
          io.stderr.write(questions[answers.length] ?? '');
        } else if (ch === '\u007f' || ch === '\b') {
          current = current.slice(0, -1);
        } else {
          current += ch;
        }
      }
    };
    stdin.on('data', onData);
  });
}

export interface PasswordSource {
  /** Read the password from standard input (the whole input, one trailing newline removed). */
  passwordStdin?: boolean;
}

/**
 * A password never comes from the command line (it would sit in shell history and `ps`):
 * `--password-stdin`, else GATEHOUSE_PASSWORD, else a hidden prompt (asked twice) on a terminal.
 */
export async function readPassword(io: CliIO, source: PasswordSource, purpose = 'Password'): Promise<string> {
  let password: string;
  if (source.passwordStdin) {
    password = (await readAll(io.stdin)).replace(/\r?\n$/, '');
  } else if (io.env.GATEHOUSE_PASSWORD !== undefined && io.env.GATEHOUSE_PASSWORD !== '') {
    password = io.env.GATEHOUSE_PASSWORD;
  } else if (io.stdin.isTTY) {
    const [first = '', again = ''] = await promptHidden(io, [`${purpose}: `, `${purpose} (again): `]);
    if (again !== first) throw new UsageError('the passwords do not match');
    password = first;
  } else {
    throw new UsageError('no password: use --password-stdin, set GATEHOUSE_PASSWORD, or run in a terminal');
  }
  if (password === '') throw new UsageError('the password is empty');
  return password;
}
