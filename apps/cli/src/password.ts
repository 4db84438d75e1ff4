import { Writable } from 'node:stream';
import type { CliIO } from './io.js';
import { UsageError } from './io.js';

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  let text = '';
  for await (const chunk of stream)
    text += typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8');
  return text;
}

/**
 * The prompt's output: writes go to stderr (stdout stays clean for --json), and ending it (the
 * prompt library ends its output when a prompt closes) leaves stderr open for what follows.
 */
function promptOutput(stderr: CliIO['stderr']): NodeJS.WritableStream {
  const output = new Writable({
    write(chunk: Buffer | string, _encoding, done) {
      stderr.write(chunk);
      done();
    },
  });
  // The terminal's size and kind, so the prompt lays out its line as on the real stream.
  for (const key of ['isTTY', 'columns', 'rows'] as const)
    Object.defineProperty(output, key, { get: () => (stderr as Partial<Record<typeof key, unknown>>)[key] });
  return output;
}

/**
 * Asks each question on a terminal with @inquirer/password: nothing typed is echoed, and the
 * line is edited as in a shell (arrow keys move the cursor, they never become part of the
 * password). Ctrl-C or Ctrl-D cancels (exit code 2).
 */
async function promptHidden(io: CliIO, questions: readonly string[]): Promise<string[]> {
  const { default: password } = await import('@inquirer/password');
  const answers: string[] = [];
  for (const message of questions) {
    const cancel = new AbortController();
    const onKeypress = (_: unknown, key?: { ctrl?: boolean; name?: string }) => {
      if (key?.ctrl && key.name === 'd') cancel.abort();
    };
    const onEnd = () => cancel.abort();
    io.stdin.on('keypress', onKeypress);
    io.stdin.once('end', onEnd);
    try {
      answers.push(
        await password(
          { message, toggleMask: false, theme: { style: { message: (text: string) => text } } },
          { input: io.stdin, output: promptOutput(io.stderr), signal: cancel.signal },
        ),
      );
    } catch (error) {
      if (error instanceof Error && (error.name === 'ExitPromptError' || error.name === 'AbortPromptError'))
        throw new UsageError('cancelled');
      throw error;
    } finally {
      io.stdin.removeListener('keypress', onKeypress);
      io.stdin.removeListener('end', onEnd);
    }
  }
  return answers;
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
    const [first = '', again = ''] = await promptHidden(io, [`${purpose}:`, `${purpose} (again):`]);
    if (again !== first) throw new UsageError('the passwords do not match');
    password = first;
  } else {
    throw new UsageError('no password: use --password-stdin, set GATEHOUSE_PASSWORD, or run in a terminal');
  }
  if (password === '') throw new UsageError('the password is empty');
  return password;
}
